"""The HTTP API's resolver and its single mapping from errors to answers.

Every error answer has the shape of DESIGN.md:
`{"error": {"code": "<snake_case>", "message": "...", "details": ...}}`.
"""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from practika.errors import PractikaError, Unauthorized
from practika.observability import logger


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"error": {"code": code, "message": message, "details": details}},
    )


def build_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

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
