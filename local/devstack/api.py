"""The HTTP API of template.yaml on 127.0.0.1: routes, JWT check before any handler, payload 2.0, CORS."""

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from devstack import apidocs, auth
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


@dataclass(frozen=True)
class Cors:
    """The HttpApi's CorsConfiguration, applied as API Gateway applies it."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def allowed(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for this origin, None when it is not allowed."""
        for allowed in self.allow_origins:
            if allowed == "*":
                return "*"
            if allowed.lower() == origin.lower() or (allowed.endswith("://*") and origin.startswith(allowed[:-1])):
                return origin
        return None

    def preflight(self, origin: str) -> tuple[int, dict[str, str], bytes]:
        # API Gateway answers every preflight 204 itself, without authorizer or integration; an origin
        # it does not allow gets no CORS headers, so the browser refuses the request.
        allow_origin = self.allowed(origin)
        if allow_origin is None:
            return 204, {}, b""
        headers = self.headers(allow_origin)
        if self.allow_methods:
            headers["access-control-allow-methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            headers["access-control-allow-headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["access-control-max-age"] = str(self.max_age)
        return 204, headers, b""

    def headers(self, allow_origin: str) -> dict[str, str]:
        headers = {"access-control-allow-origin": allow_origin}
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if self.expose_headers:
            headers["access-control-expose-headers"] = ",".join(self.expose_headers)
        return headers


def cors_from_template(template: dict[str, Any], resolve: Any) -> Cors | None:
    """The HttpApi's CORS rules with parameters resolved, or None when it has none (no CORS at all)."""
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::HttpApi":
            continue
        config = resource["Properties"].get("CorsConfiguration")
        if not config:
            return None
        config = resolve(config)
        return Cors(
            allow_origins=tuple(config.get("AllowOrigins") or ()),
            allow_methods=tuple(m.upper() for m in config.get("AllowMethods") or ()),
            allow_headers=tuple(h.lower() for h in config.get("AllowHeaders") or ()),
            expose_headers=tuple(h.lower() for h in config.get("ExposeHeaders") or ()),
            max_age=int(config["MaxAge"]) if "MaxAge" in config else None,
            allow_credentials=str(config.get("AllowCredentials", False)).lower() == "true",
        )
    return None


def _gateway_error(status: int, message: str, code: str) -> tuple[int, dict[str, str], bytes]:
    # API Gateway itself answers {"message": ...}; the error object of DESIGN.md is added so
    # clients can read every error the same way.
    body = {"message": message, "error": {"code": code, "message": message, "details": None}}
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


class ApiServer(BackgroundServer):
    def __init__(
        self, host: str, port: int, routes: list[Route], runtimes: dict[str, FunctionRuntime], cors: Cors | None = None
    ) -> None:
        self.routes = routes
        self.runtimes = runtimes
        self.cors = cors
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

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        lower = {k.lower(): v for k, v in headers.items()}
        origin = lower.get("origin")
        if self.cors is None or not origin:
            return self._route(method, target, headers, body, source_ip)
        if method == "OPTIONS" and "access-control-request-method" in lower:
            return self.cors.preflight(origin)
        status, answer_headers, payload = self._route(method, target, headers, body, source_ip)
        # With CORS configured, API Gateway drops the integration's CORS headers and adds its own.
        answer_headers = {k: v for k, v in answer_headers.items() if not k.startswith("access-control-")}
        allow_origin = self.cors.allowed(origin)
        if allow_origin is not None:
            answer_headers.update(self.cors.headers(allow_origin))
        return status, answer_headers, payload

    def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        if (page := apidocs.answer(method, split.path)) is not None:
            return page
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
                method=method,
                raw_path=split.path,
                raw_query=split.query,
                headers=headers,
                body=body,
                route_key=route.key,
                path_parameters=params,
                claims=claims,
                source_ip=source_ip,
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
