"""The HTTP API of template.yaml on 127.0.0.1: routes, JWT check before any handler, payload 2.0."""

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from devstack import auth
from devstack.events import http_api_event
from devstack.httpserver import BackgroundServer, QuietHandler
from devstack.runtime import FunctionRuntime


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    needs_token: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


def routes_from_template(template: dict[str, Any]) -> list[Route]:
    routes = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = (props.get("Auth") or {}).get("Authorizer")
            routes.append(Route(props["Method"].upper(), props["Path"], logical_id, authorizer != "NONE"))
    return routes


def _gateway_error(status: int, message: str, code: str) -> tuple[int, dict[str, str], bytes]:
    # API Gateway itself answers {"message": ...}; the error object of DESIGN.md is added so
    # clients can read every error the same way.
    body = {"message": message, "error": {"code": code, "message": message, "details": None}}
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


class ApiServer(BackgroundServer):
    def __init__(self, host: str, port: int, routes: list[Route], runtimes: dict[str, FunctionRuntime]) -> None:
        self.routes = routes
        self.runtimes = runtimes
        api = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                status, headers, payload = api.handle(
                    self.command, self.path, dict(self.headers.items()), self.body(), self.client_address[0]
                )
                self.answer(status, payload, headers)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, made-up ones) is routed too: no route matches it, so it
                # gets API Gateway's 404 instead of http.server's HTML 501.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

        super().__init__(host, port, Handler, name="api")

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
               source_ip: str) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        for route in self.routes:
            params = route.match(method, split.path)
            if params is None:
                continue
            claims = None
            if route.needs_token:
                claims = auth.verify(next((v for k, v in headers.items() if k.lower() == "authorization"), None))
                if claims is None:
                    return _gateway_error(401, "Unauthorized", "unauthorized")
            event = http_api_event(
                method=method, raw_path=split.path, raw_query=split.query, headers=headers, body=body,
                route_key=route.key, path_parameters=params, claims=claims, source_ip=source_ip,
            )
            result = self.runtimes[route.function].invoke(event)
            if not result.ok:
                if (result.error or {}).get("errorType") == "Sandbox.Timedout":
                    return _gateway_error(503, "Service Unavailable", "service_unavailable")
                return _gateway_error(500, "Internal Server Error", "internal_error")
            return _to_http(result.payload)
        return _gateway_error(404, "Not Found", "route_not_found")


def _to_http(payload: Any) -> tuple[int, dict[str, str], bytes]:
    """Interpret a handler's answer as API Gateway does for payload format 2.0."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return 200, {"content-type": "application/json"}, json.dumps(payload).encode()
    headers = {k.lower(): str(v) for k, v in (payload.get("headers") or {}).items()}
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(str(v) for v in values)
    body = payload.get("body") or ""
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
    return int(payload["statusCode"]), headers, raw
