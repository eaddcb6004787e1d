"""Configuration shared by the functions, read from the environment template.yaml sets.

Each function reads the settings it needs once per container (`functools.cache`), and a
missing variable fails with pydantic's message naming it.
"""

from functools import cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True)

    table_name: str
    uploads_bucket: str
    clips_bucket: str
    environment: str = "dev"


@cache
def storage_settings() -> StorageSettings:
    return StorageSettings()
