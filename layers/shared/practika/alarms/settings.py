"""The alarm router's configuration, from the environment template.yaml sets."""

from functools import cache

from pydantic import Field, Json

from practika.alarms.routing import RoutingConfig
from practika.settings import EnvSettings


class AlarmRouterSettings(EnvSettings):
    table_name: str
    idempotency_table: str
    # Name of the Secrets Manager secret: a JSON object {destination name: webhook URL}.
    chat_webhooks_secret: str
    chat_routes: Json[RoutingConfig]
    # How long the webhook URLs are cached between Secrets Manager reads.
    chat_webhooks_max_age_s: int = Field(default=300, ge=0)
    # Kept free at the end of the invocation for the idempotency and metric writes.
    safety_margin_ms: int = Field(default=2000, ge=0)


@cache
def router_settings() -> AlarmRouterSettings:
    return AlarmRouterSettings.from_env()
