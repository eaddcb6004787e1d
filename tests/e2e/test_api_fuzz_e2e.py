"""Property-based fuzzing of the HTTP API from its own OpenAPI document, against the local stack.

The document is docs/openapi.json, generated from the Powertools resolvers of the handlers;
schemathesis draws valid and invalid requests from it (wrong types, missing and extra fields,
odd path parameters) and every answer must be below 500 and, when an error, in DESIGN.md's error
shape. Hand-written cases add what a schema cannot describe: bodies that are not JSON, control
characters, huge numbers, very long ids and paths. Bounded (fixed examples, derandomized).
"""

import json
import re
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from devstack.openapi import DOCUMENT

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
FUZZ_USER = "fuzz-user"


def api_document() -> dict[str, Any]:
    """The authenticated routes of docs/openapi.json (/health is public and takes no input)."""
    doc: dict[str, Any] = json.loads(DOCUMENT.read_text())
    doc["paths"].pop("/health")
    doc.pop("webhooks")  # requests the API sends, not ones it takes
    return doc


schema = schemathesis.openapi.from_dict(api_document())


def assert_contract(answer: requests.Response) -> None:
    """Below 500, and every error in the contract's error shape."""
    what = f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text[:500]}"
    assert answer.status_code < 500, what
    if answer.status_code >= 400:
        body = answer.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), what
        error = body["error"]
        assert set(body) <= {"error", "message"}, body  # "message": API Gateway's own, beside the contract's
        assert set(error) == {"code", "message", "details"}, body
        assert CODE.match(error["code"]), body
        assert isinstance(error["message"], str) and error["message"], body


def test_the_document_describes_every_authenticated_route():
    assert set(api_document()["paths"]) == {
        "/videos",
        "/videos/{video_id}",
        "/videos/{video_id}/complete",
        "/videos/{video_id}/upload-urls",
        "/videos/{video_id}/clips",
        "/clips/{clip_id}",
    }


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_5xx_or_an_error_outside_the_contract(case, api, auth_headers):
    answer = case.call(base_url=api, headers=auth_headers(FUZZ_USER), timeout=30)

    assert_contract(answer)


@pytest.fixture(scope="module")
def video_id(api, auth_headers) -> str:
    answer = requests.post(
        f"{api}/videos",
        headers=auth_headers(FUZZ_USER + "-hand"),
        timeout=30,
        json={"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["video_id"])


BODIES = [
    pytest.param(b"{not json", id="invalid-json"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    pytest.param(b"[]", id="array"),
    pytest.param(b"null", id="null"),
    pytest.param(b'{"start_s": 1e309, "end_s": 1e400, "mode": "fast"}', id="infinite-numbers"),
    pytest.param(b'{"start_s": 123456789012345678901234567890, "end_s": 1e300, "mode": "fast"}', id="huge-numbers"),
    pytest.param(b'{"start_s": "0", "end_s": [1], "mode": 7}', id="wrong-types"),
    pytest.param(b'{"start_s": NaN, "end_s": Infinity, "mode": "fast"}', id="nan-literals"),
    pytest.param(
        b'{"filename": "a\\u0000b\\u001b[31m.mp4", "content_type": "video/mp4", "size_bytes": 1}',
        id="control-characters",
    ),
    pytest.param(
        b'{"filename": "' + b"x" * 100_000 + b'.mp4", "content_type": "video/mp4", "size_bytes": 1}',
        id="very-long-filename",
    ),
    pytest.param(
        b'{"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 99999999999999999999999}', id="huge-size"
    ),
    pytest.param(b'{"parts": [{"part_number": -1, "etag": "\\"x\\""}], "extra": {"deep": [[[[[]]]]]}}', id="odd-parts"),
    pytest.param(b"[" * 5000 + b"]" * 5000, id="deeply-nested"),
]


def post_raw(api: str, auth_headers, path: str, body: str | bytes) -> requests.Response:
    """POST `body` to `path` as JSON, unparsed, as the fuzzing user."""
    headers = {**auth_headers(FUZZ_USER + "-hand"), "content-type": "application/json"}
    return requests.post(f"{api}{path}", data=body, timeout=30, headers=headers)


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("route", ["/videos", "/videos/{id}/clips", "/videos/{id}/complete"])
def test_hostile_bodies_get_a_4xx_in_the_error_shape(api, auth_headers, video_id, route, body):
    answer = post_raw(api, auth_headers, route.replace("{id}", video_id), body)

    assert_contract(answer)
    assert answer.status_code >= 400


PATHS = [
    pytest.param("/videos/" + "a" * 5000, id="very-long-id"),
    pytest.param("/clips/" + "f" * 5000, id="very-long-clip-id"),
    pytest.param("/videos/%00%01%1b", id="control-characters"),
    pytest.param("/videos/..%2F..%2Fetc%2Fpasswd", id="encoded-traversal"),
    pytest.param("/videos/%F0%9F%8E%A5%E2%80%AE", id="unicode"),
    pytest.param("/videos/" + "%25" * 2000, id="percent-escapes"),
    pytest.param("/clips/'%20OR%201=1--", id="injection-text"),
    pytest.param("/videos/x?" + "a=1&" * 2000, id="long-query"),
    pytest.param("/" + "videos/" * 500, id="very-long-path"),
]


@pytest.mark.parametrize("path", PATHS)
def test_odd_ids_and_paths_get_a_4xx_in_the_error_shape(api, auth_headers, path):
    answer = requests.get(f"{api}{path}", headers=auth_headers(FUZZ_USER + "-hand"), timeout=30)

    assert_contract(answer)
    assert answer.status_code in (404, 422)


LONG_INTEGER = b"1" * 4301  # one digit past Python's int-from-string limit: a ValueError inside json.loads
BOUNDED = [
    pytest.param(b'{"size_bytes": ' + LONG_INTEGER + b"}", 422, "invalid_json", id="4301-digit-integer"),
    pytest.param(
        b'{"start_s": ' + LONG_INTEGER + b', "end_s": 1, "mode": "fast"}',
        422,
        "invalid_json",
        id="4301-digit-integer-in-a-clip",
    ),
    pytest.param(
        b'{"parts": [{"part_number": -' + LONG_INTEGER + b', "etag": "x"}]}',
        422,
        "invalid_json",
        id="negative-4301-digit-integer-in-parts",
    ),
    pytest.param(b'{"end_s": 1.' + b"5" * 5000 + b"}", 422, "invalid_json", id="5000-digit-fraction"),
    pytest.param(b'{"a": ' + b"[" * 200 + b"]" * 200 + b"}", 422, "invalid_json", id="nested-200-deep"),
    pytest.param(
        b'{"a": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}", 422, "invalid_json", id="objects-nested-200-deep"
    ),
    pytest.param(
        b'{"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1, "pad": "'
        + b"x" * (2 * 1024 * 1024)
        + b'"}',
        413,
        "payload_too_large",
        id="2-mib-body",
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BOUNDED)
@pytest.mark.parametrize("route", ["/videos", "/videos/{id}/clips", "/videos/{id}/complete"])
def test_hostile_json_is_bounded_before_it_is_parsed(api, auth_headers, video_id, route, body, status, code):
    answer = post_raw(api, auth_headers, route.replace("{id}", video_id), body)

    assert_contract(answer)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text[:300]


def test_a_large_but_legitimate_complete_body_is_not_refused_as_too_large(api, auth_headers, video_id):
    # 10,000 parts (S3's maximum) with quoted 32-hex ETags: about 600 KB of JSON
    parts = [{"part_number": n, "etag": f'"{n:032x}"'} for n in range(1, 10_001)]
    answer = requests.post(
        f"{api}/videos/{video_id}/complete",
        json={"parts": parts},
        timeout=60,
        headers=auth_headers(FUZZ_USER + "-hand"),
    )

    assert_contract(answer)
    assert answer.status_code == 409, answer.text[:300]  # a POST upload has no parts: conflict, not 413
