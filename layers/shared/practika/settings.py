"""Configuration shared by the functions, read from the environment template.yaml sets.

Each function reads the settings it needs once per container (`functools.cache`), and a
missing or malformed variable fails with pydantic's message naming the field.

`EnvSettings` is a plain pydantic model filled from the environment. It replaces
pydantic-settings, whose import alone cost every cold start about 115 ms (measured with
`python -X importtime`) for the one thing used here: one variable per field.
"""

import os
from functools import cache
from typing import Self

from pydantic import BaseModel, ConfigDict


class EnvSettings(BaseModel):
    """Settings whose fields come from the environment variables of their upper-cased names."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_env(cls) -> Self:
        present = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        return cls.model_validate(present)


class StorageSettings(EnvSettings):
    table_name: str
    uploads_bucket: str
    clips_bucket: str
    environment: str = "dev"


@cache
def storage_settings() -> StorageSettings:
    return StorageSettings.from_env()
