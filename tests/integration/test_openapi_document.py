"""docs/openapi.json is the product's API document: generated from the handlers' resolvers, valid
OpenAPI 3.1, the same routes as the template deploys, the error shape on every refusal, and the
webhook payloads of every event type."""

import json

from openapi_spec_validator import validate

from devstack.openapi import DOCUMENT, render
from devstack.template import load_template
from practika.events.model import EventType

DOC = json.loads(DOCUMENT.read_text())
TEMPLATE = load_template()


def template_routes() -> set[tuple[str, str]]:
    return {
        (event["Properties"]["Method"].lower(), event["Properties"]["Path"])
        for resource in TEMPLATE["Resources"].values() if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values() if event["Type"] == "HttpApi"
    }  # fmt: skip


def test_the_committed_document_is_what_the_code_generates_now():
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is stale: run `make openapi` and commit it"


def test_the_document_is_valid_openapi_3_1():
    validate(DOC)
    assert DOC["openapi"].startswith("3.1")


def test_the_document_has_exactly_the_routes_the_template_deploys():
    documented = {(method, path) for path, operations in DOC["paths"].items() for method in operations}
    assert documented == template_routes()


def test_every_authenticated_route_needs_the_jwt_and_answers_refusals_in_the_error_shape():
    assert DOC["components"]["securitySchemes"]["jwt"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert DOC["security"] == [{"jwt": []}]
    error = DOC["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for path, operations in DOC["paths"].items():
        for method, operation in operations.items():
            if path == "/health":
                assert operation["security"] == []
                continue
            refused = operation["responses"]["4XX"]["content"]["application/json"]["schema"]
            assert refused == {"$ref": "#/components/schemas/Error"}, (method, path)
            assert "security" not in operation, (method, path)


def test_success_statuses_are_the_ones_the_routes_answer_with():
    paths = DOC["paths"]
    assert set(paths["/videos"]["post"]["responses"]) == {"201", "4XX"}
    assert set(paths["/videos/{video_id}"]["delete"]["responses"]) == {"202", "4XX"}
    assert set(paths["/clips/{clip_id}"]["delete"]["responses"]) == {"202", "4XX"}
    assert set(paths["/videos"]["get"]["responses"]) == {"200", "4XX"}


def test_every_event_type_is_a_signed_webhook_with_its_payload_schema():
    assert set(DOC["webhooks"]) == {kind.value for kind in EventType}
    for kind, item in DOC["webhooks"].items():
        operation = item["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert schema == ("VideoEvent" if kind.startswith("video.") else "ClipEvent")
        assert kind in DOC["components"]["schemas"][schema]["properties"]["type"]["enum"]
