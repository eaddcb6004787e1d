"""Webhook URLs of the chat destinations, from one Secrets Manager secret (JSON {name: url}).

The URLs are credentials: they stay in memory, never in environment variables, logs or errors.
"""

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from practika import aws
from practika.errors import PractikaError
from practika.settings import cached


class WebhookSecretInvalid(PractikaError):
    code = "webhook_secret_invalid"


@cached
def _provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=aws.client("secretsmanager"))


def webhook_urls(secret_name: str, max_age_s: int) -> dict[str, str]:
    """Destination name -> webhook URL, cached for `max_age_s` across invocations."""
    value = _provider().get(secret_name, transform="json", max_age=max_age_s)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        # Say what is wrong without echoing the secret's content.
        raise WebhookSecretInvalid("the webhook secret must be a JSON object of destination name to url")
    return value
