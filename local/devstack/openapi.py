"""docs/openapi.json, the API document, built from the handlers' own resolvers.

Powertools generates each function's paths and models from its routes (`get_openapi_schema`);
this merges them and adds what a resolver cannot know: the success status each route answers
with, the error shape every 4xx has (DESIGN.md), the JWT security scheme, and the webhook
payloads (`webhooks`, OpenAPI 3.1). `python -m devstack.openapi` writes the file;
tests/integration/test_openapi_document.py fails when the file and the code drift apart.
"""

import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from devstack.template import ROOT
from practika.events.model import ClipEvent, EventType, VideoEvent

DOCUMENT = ROOT / "docs" / "openapi.json"
TITLE = "Practika API"
VERSION = "1"
PUBLIC = {"/health"}
# What a resolver documents as 200 but the route answers otherwise (status, description).
SUCCESS = {
    ("post", "/videos"): ("201", "the video, awaiting its upload, and how to upload it"),
    ("post", "/videos/{video_id}/clips"): ("202", "the clip, queued (200 when it was asked for before)"),
    ("delete", "/videos/{video_id}"): ("202", "the video and everything made from it are erased"),
    ("delete", "/clips/{clip_id}"): ("202", "the clip and its file are erased"),
}
UNUSED = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
SIGNATURE_HEADERS = {
    "webhook-id": "the event id: the idempotency key, the same on every retry",
    "webhook-timestamp": "seconds since the epoch when this attempt was signed",
    "webhook-signature": "space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per active secret",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class Error(BaseModel):
    """Every error answer of the API (DESIGN.md)."""

    error: ErrorBody


def _resolvers() -> list[Any]:
    # The handler modules, only when a document is built: the local stack itself runs them elsewhere.
    from clip.api import app as clip_app
    from health.app import app as health_app
    from upload.api import app as upload_app

    return [health_app, upload_app, clip_app]


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    _, found = models_json_schema([(m, "serialization") for m in models], ref_template="#/components/schemas/{model}")
    return dict(found.get("$defs", {}))


def _json(media: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{media}"}}}


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for app in _resolvers():
        part = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in part["paths"].items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(part.get("components", {}).get("schemas", {}))
    for name in UNUSED:
        schemas.pop(name, None)
    schemas.update(_schemas(Error, VideoEvent, ClipEvent))
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            responses.pop("422", None)
            if (method, path) in SUCCESS:
                status, description = SUCCESS[(method, path)]
                responses[status] = {**responses.pop("200"), "description": description}
            if (method, path) == ("get", "/health"):
                responses["503"] = {**responses["200"], "description": "a part the pipeline needs is failing"}
            if path in PUBLIC:
                operation["security"] = []
                continue
            responses["4XX"] = {"description": "refused; `error.code` says why", "content": _json("Error")}
    webhooks = {
        kind.value: {
            "post": {
                "summary": kind.value,
                "operationId": f"webhook_{kind.name.lower()}",
                "parameters": [
                    {"name": name, "in": "header", "required": True, "description": text, "schema": {"type": "string"}}
                    for name, text in SIGNATURE_HEADERS.items()
                ],
                "requestBody": {
                    "required": True,
                    "content": _json("VideoEvent" if kind.value.startswith("video.") else "ClipEvent"),
                },
                "responses": {
                    "2XX": {"description": "received; anything else (or no answer in 15 s) is retried"},
                },
            }
        }
        for kind in EventType
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Presigned video uploads, validation and clips. Every route but /health needs a JWT "
            "(Authorization: Bearer). Webhooks are signed as Standard Webhooks (docs/WEBHOOKS.md).",
        },
        "paths": dict(sorted(paths.items())),
        "webhooks": webhooks,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"jwt": []}],
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> None:
    sys.path.insert(0, str(ROOT / "functions"))  # the handler modules, as pytest's pythonpath has them
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
