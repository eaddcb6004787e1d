"""Settings come from the environment the template sets; a bad or missing value names its variable."""

import pytest
from pydantic import ValidationError

from practika.settings import AlarmRouterSettings, UploadSettings, ValidationSettings

ROUTES = '{"destinations": {"oncall": {"type": "slack"}}, "routes": [{"destinations": ["oncall"]}]}'
ROUTER_ENV = {"TABLE_NAME": "t", "IDEMPOTENCY_TABLE": "i", "CHAT_WEBHOOKS_SECRET": "s", "CHAT_ROUTES": ROUTES}


def test_each_field_reads_the_variable_of_its_upper_cased_name(monkeypatch):
    monkeypatch.setenv("UPLOADS_BUCKET", "uploads-dev")
    monkeypatch.setenv("MAX_DURATION_S", "90.5")
    monkeypatch.setenv("REJECTED_OBJECTS", "delete")

    settings = ValidationSettings.from_env()

    assert settings.uploads_bucket == "uploads-dev"
    assert settings.max_duration_s == 90.5
    assert settings.rejected_objects == "delete"
    assert settings.max_width == 3840  # unset: the documented default


def test_a_missing_required_variable_fails_naming_the_field(monkeypatch):
    monkeypatch.delenv("UPLOADS_BUCKET", raising=False)

    with pytest.raises(ValidationError) as failure:
        ValidationSettings.from_env()

    assert [(e["loc"], e["type"]) for e in failure.value.errors()] == [(("uploads_bucket",), "missing")]


def test_a_value_outside_its_bounds_is_refused(monkeypatch):
    monkeypatch.setenv("UPLOAD_URL_EXPIRY_S", "10")  # below the 60 s minimum

    with pytest.raises(ValidationError, match="upload_url_expiry_s"):
        UploadSettings.from_env()


def test_json_variables_are_parsed_into_their_model(monkeypatch):
    for name, value in ROUTER_ENV.items():
        monkeypatch.setenv(name, value)

    settings = AlarmRouterSettings.from_env()

    assert [route.destinations for route in settings.chat_routes.routes] == [["oncall"]]
    assert settings.chat_routes.destinations["oncall"].type == "slack"


def test_settings_are_immutable(monkeypatch):
    monkeypatch.setenv("UPLOADS_BUCKET", "uploads-dev")
    settings = ValidationSettings.from_env()

    with pytest.raises(ValidationError):
        settings.uploads_bucket = "other"  # type: ignore[misc]
