"""The template's CORS rules: browsers of the app's origins only, for exactly what the flows use."""

import re
from typing import Any

import pytest

from devstack.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
ORIGINS = {"Ref": "CorsAllowedOrigins"}


def _api_cors() -> dict[str, Any]:
    return dict(RESOURCES["HttpApi"]["Properties"]["CorsConfiguration"])


def _bucket_rules(bucket_id: str) -> list[dict[str, Any]]:
    return list(RESOURCES[bucket_id]["Properties"]["CorsConfiguration"]["CorsRules"])


def _route_methods() -> set[str]:
    return {
        event["Properties"]["Method"].upper()
        for resource in RESOURCES.values() if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values() if event["Type"] == "HttpApi"
    }  # fmt: skip


@pytest.mark.parametrize("origin", ["https://app.example.com", "http://127.0.0.1:3001", "https://a-b.example:8443"])
def test_an_exact_origin_is_an_allowed_parameter_value(origin):
    assert re.fullmatch(TEMPLATE["Parameters"]["CorsAllowedOrigins"]["AllowedPattern"], origin)


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*",
        "https://*.example.com",
        "https://app.example.com/",
        "app.example.com",
        "https://app.example.com/path",
    ],
)
def test_a_wildcard_or_non_origin_is_refused_as_a_parameter_value(origin):
    assert not re.fullmatch(TEMPLATE["Parameters"]["CorsAllowedOrigins"]["AllowedPattern"], origin)


def test_the_default_origin_is_a_placeholder_that_allows_no_real_site():
    default = TEMPLATE["Parameters"]["CorsAllowedOrigins"]["Default"]
    assert default.endswith(".invalid") and "*" not in default


def test_the_api_allows_the_parameter_origins_without_credentials():
    cors = _api_cors()
    assert cors["AllowOrigins"] == ORIGINS
    assert cors["AllowCredentials"] is False


def test_the_api_allows_exactly_the_methods_of_its_routes_and_the_headers_a_call_sends():
    cors = _api_cors()
    assert set(cors["AllowMethods"]) == _route_methods()
    assert sorted(cors["AllowHeaders"]) == ["authorization", "content-type"]


@pytest.mark.parametrize("config", ["api", "UploadsBucket", "ClipsBucket"])
def test_preflights_are_cached_for_an_hour(config):
    max_ages = [_api_cors()["MaxAge"]] if config == "api" else [r["MaxAge"] for r in _bucket_rules(config)]
    assert max_ages and all(age == 3600 for age in max_ages)


def test_the_uploads_bucket_takes_form_posts_and_part_puts_and_shows_the_part_etag():
    (rule,) = _bucket_rules("UploadsBucket")
    assert rule["AllowedOrigins"] == ORIGINS
    assert sorted(rule["AllowedMethods"]) == ["POST", "PUT"]
    assert rule["AllowedHeaders"] == ["content-type"]
    assert rule["ExposedHeaders"] == ["ETag"]


def test_the_clips_bucket_is_only_read_from_a_browser():
    (rule,) = _bucket_rules("ClipsBucket")
    assert rule["AllowedOrigins"] == ORIGINS
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD"]
    assert rule["AllowedHeaders"] == ["range"]
