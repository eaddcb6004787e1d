"""The HTTP API's resolver and its single mapping from errors to answers.

Every error answer has the shape of DESIGN.md:
`{"error": {"code": "<snake_case>", "message": "...", "details": ...}}`.
"""

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from practika.errors import InvalidJson, PayloadTooLarge, PractikaError, Unauthorized
from practika.observability import logger
from practika.pages import MAX_LIMIT

# Bounds checked before a body is parsed: json.loads answers a 4,301-digit integer with a ValueError
# (Python's integer-string limit) and a body nested thousands deep with a RecursionError. The largest
# real body is a completion naming S3's 10,000 parts, about 600 KB.
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARS = 64


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is depth 0).

    Measured on the parsed value, not the text: json's C parser is linear in the body, while a
    pattern that skips string literals backtracks quadratically on a string of escaped quotes.
    """
    depth, level = 0, [(value, 0)]
    while level:
        item, at = level.pop()
        if isinstance(item, dict | list):
            depth = max(depth, at + 1)
            level.extend((child, at + 1) for child in (item.values() if isinstance(item, dict) else item))
    return depth


def _bounded_number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            raise InvalidJson("a number in the body is too long", details={"max_number_chars": MAX_NUMBER_CHARS})
        return kind(literal)

    return parse


def bounded_json(text: str) -> Any:
    """The request body parsed as JSON, once its size, nesting and number lengths are within bounds.

    Every route's body is parsed here (the resolver's `json_body_deserializer`), before validation.
    """
    if len(text.encode()) > MAX_BODY_BYTES:
        raise PayloadTooLarge("the body is too large", details={"max_bytes": MAX_BODY_BYTES})
    too_deep = InvalidJson("the body is nested too deeply", details={"max_depth": MAX_JSON_DEPTH})
    try:
        value = json.loads(text, parse_int=_bounded_number(int), parse_float=_bounded_number(float))
    except RecursionError:
        raise too_deep from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    return value


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"error": {"code": code, "message": message, "details": details}},
    )


# The query parameters of every list route (GET /videos, GET /videos/{id}/clips).
PageCursor = Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")]
PageLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def build_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=bounded_json)

    @app.exception_handler(PractikaError)
    def _domain_error(error: PractikaError) -> Response:
        logger.info("request refused", error_code=error.code, status=error.status)
        return error_response(error.status, error.code, error.message, error.details)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response:
        details = [
            {"loc": list(err.get("loc", ())), "type": err.get("type"), "msg": err.get("msg")} for err in error.errors()
        ]
        code = "invalid_json" if any(d["type"] == "json_invalid" for d in details) else "validation_error"
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, code, "the request is not valid", details)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_body(_: RequestUnsupportedContentType) -> Response:
        # Powertools' own answer here is {"statusCode": 415, "detail": ...}, outside the error shape.
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "the body must be JSON")

    @app.exception_handler(ValueError)
    def _unparsable_multipart(error: ValueError) -> Response:
        # Powertools raises a bare ValueError for `multipart/form-data` without a boundary (found by the
        # API fuzz test: it was a 500). Every other ValueError is a bug and still fails the invocation.
        content_type = app.current_event.headers.get("content-type") or ""
        if not content_type.lower().startswith("multipart/"):
            raise error
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "the body must be JSON")

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response:
        # json.loads of a body nested thousands deep (`[[[[...]]]]`) raises RecursionError, not a decode error.
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_json", "the body is nested too deeply")

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")

    return app


def caller_id(app: APIGatewayHttpResolver) -> str:
    """The authenticated caller: the JWT `sub` that API Gateway's authorizer already verified."""
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not subject:
        raise Unauthorized("the token has no subject")
    return str(subject)


class Deleted(BaseModel):
    """What DELETE answers (202): by then nothing of the resource is left; asked again, it is a 404."""

    id: str
    deleted: Literal[True] = True
