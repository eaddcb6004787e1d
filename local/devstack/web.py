"""The reference upload page (web/) on its own origin, so the browser really crosses to the API and S3.

Besides the static files it answers two local-only paths on the page's own origin:
`GET /config.json` (where the API is) and `POST /local-token` (a local JWT for the `sub` in the
body, as the app would get one from its identity provider).
"""

import json
import mimetypes
from pathlib import Path

from devstack import auth
from devstack.httpserver import BackgroundServer, QuietHandler
from devstack.template import ROOT

WEB_DIR = ROOT / "web"


class WebServer(BackgroundServer):
    def __init__(self, host: str, port: int, root: Path = WEB_DIR) -> None:
        self.api_url = ""  # set once the API listens: the page reads it from /config.json
        web = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/config.json":
                    self.answer(
                        200,
                        json.dumps({"api_url": web.api_url}).encode(),
                        {"content-type": "application/json", "cache-control": "no-store"},
                    )
                    return
                file = (root / (path.lstrip("/") or "index.html")).resolve()
                if not file.is_file() or root.resolve() not in file.parents:
                    self.answer(404, b"not found", {"content-type": "text/plain"})
                    return
                kind = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
                self.answer(
                    200,
                    file.read_bytes(),
                    {"content-type": kind or "application/octet-stream", "cache-control": "no-store"},
                )

            def do_POST(self) -> None:
                if self.path != "/local-token":
                    self.answer(404, b"not found", {"content-type": "text/plain"})
                    return
                try:
                    sub = str(json.loads(self.body() or b"{}").get("sub") or "web-user")
                except (ValueError, AttributeError):
                    self.answer(400, b"body must be JSON", {"content-type": "text/plain"})
                    return
                token = auth.make_token(sub)
                self.answer(
                    200,
                    json.dumps({"token": token}).encode(),
                    {"content-type": "application/json", "cache-control": "no-store"},
                )

        super().__init__(host, port, Handler, name="web")

    @property
    def origin(self) -> str:
        return self.url
