"""The local API's own pages, beside the template's routes and without a token: `GET /openapi.json`
(docs/openapi.json as committed) and `GET /docs`, Swagger UI from the swagger-ui-bundle-v2 package's
files (served here, no CDN), pointed at that document."""

import mimetypes
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

from devstack.openapi import DOCUMENT

Answer = tuple[int, dict[str, str], bytes]
ASSETS = Path(str(swagger_ui_path))
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Practika API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>
"""


def answer(method: str, path: str) -> Answer | None:
    """The answer for one of these pages, or None when the request is for the API's routes."""
    if method not in ("GET", "HEAD"):
        return None
    if path == "/openapi.json":
        return 200, {"content-type": "application/json"}, DOCUMENT.read_bytes()
    if path in ("/docs", "/docs/"):
        return 200, {"content-type": "text/html; charset=utf-8"}, PAGE
    name = path.removeprefix("/docs/")
    if name != path and "/" not in name and (ASSETS / name).is_file():
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return 200, {"content-type": kind, "cache-control": "max-age=3600"}, (ASSETS / name).read_bytes()
    return None
