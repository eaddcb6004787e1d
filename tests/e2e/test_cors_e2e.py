"""CORS answers of the local stack, header by header, as API Gateway and S3 give them from the template.

The browser suite (tests/browser) shows the flows work in Chromium; this pins the answers a browser
bases its decisions on, including the refusals a browser only reports as a network error.
"""

import pytest
import requests

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def page_origin(stack) -> str:
    return str(stack.description["web_url"])


@pytest.fixture(scope="module")
def multipart(api, auth_headers) -> dict:
    body = {"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": 6 * 1024 * 1024}
    answer = requests.post(f"{api}/videos", json=body, headers=auth_headers("cors-user"), timeout=10)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["upload"])


def preflight(url: str, origin: str, method: str, headers: str | None = None) -> requests.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return requests.options(url, headers=asked, timeout=10)


def test_the_local_page_origin_is_the_allowed_origin(stack, page_origin):
    assert stack.description["parameters"]["CorsAllowedOrigins"] == page_origin
    assert page_origin != stack.api_url


def test_the_api_answers_a_preflight_itself_without_a_token(api, page_origin):
    answer = preflight(f"{api}/videos/abc/clips", page_origin, "POST", "authorization,content-type")

    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == page_origin
    assert answer.headers["access-control-allow-methods"] == "GET,POST,DELETE"
    assert answer.headers["access-control-allow-headers"] == "authorization,content-type"
    assert answer.headers["access-control-max-age"] == "3600"
    assert "access-control-allow-credentials" not in answer.headers


def test_the_api_gives_another_origin_no_cors_headers(api):
    answer = preflight(f"{api}/videos", "https://elsewhere.example", "POST", "authorization")

    assert answer.status_code == 204
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]


def test_api_answers_to_the_page_origin_carry_its_origin_errors_included(api, page_origin, auth_headers):
    ok = requests.get(f"{api}/health", headers={"Origin": page_origin}, timeout=10)
    refused = requests.get(f"{api}/videos/abc", headers={"Origin": page_origin}, timeout=10)  # no token
    elsewhere = requests.get(f"{api}/health", headers={"Origin": "https://elsewhere.example"}, timeout=10)

    assert ok.headers["access-control-allow-origin"] == page_origin
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == page_origin
    assert "access-control-allow-origin" not in elsewhere.headers


def test_without_a_preflight_header_options_is_routed_like_any_method(api, page_origin):
    assert requests.options(f"{api}/videos", headers={"Origin": page_origin}, timeout=10).status_code == 404


def test_the_uploads_bucket_allows_a_part_put_from_the_page_and_exposes_etag(multipart, page_origin):
    answer = preflight(multipart["parts"][0]["url"], page_origin, "PUT", "content-type")

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == page_origin
    assert answer.headers["Access-Control-Allow-Methods"] == "POST, PUT"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type"
    assert answer.headers["Access-Control-Expose-Headers"] == "ETag"
    assert answer.headers["Access-Control-Max-Age"] == "3600"


def test_a_part_put_from_the_page_answers_its_etag_readable(multipart, page_origin):
    answer = requests.put(
        multipart["parts"][0]["url"], data=b"\0" * (5 * 1024 * 1024), headers={"Origin": page_origin}, timeout=30
    )

    assert answer.status_code == 200
    assert answer.headers["ETag"]
    assert answer.headers["Access-Control-Allow-Origin"] == page_origin
    assert answer.headers["Access-Control-Expose-Headers"] == "ETag"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://elsewhere.example", "PUT", None),  # another origin
        (None, "GET", None),  # nothing is read from the uploads bucket by a browser
        (None, "DELETE", None),
        (None, "PUT", "x-amz-acl"),  # a header the flows do not send
    ],
)
def test_the_uploads_bucket_refuses_other_preflights_as_s3_does(multipart, page_origin, origin, method, headers):
    answer = preflight(multipart["parts"][0]["url"], origin or page_origin, method, headers)

    assert answer.status_code == 403
    assert "<Code>AccessForbidden</Code>" in answer.text and "CORSResponse" in answer.text
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_bucket_without_cors_rules_refuses_every_preflight(stack, aws_client, page_origin):
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="no-cors-here")
    url = f"{stack.description['aws_endpoint_url']}/no-cors-here/key"

    answer = preflight(url, page_origin, "PUT")
    plain = requests.get(url, headers={"Origin": page_origin}, timeout=10)

    assert answer.status_code == 403 and "CORS is not enabled for this bucket" in answer.text
    # moto's own allow-all CORS (flask-cors) is off: S3 adds nothing without a matching rule.
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_the_clips_bucket_lets_the_page_read_ranges(stack, page_origin):
    clips = stack.resources["ClipsBucket"]
    url = f"{stack.description['aws_endpoint_url']}/{clips}/clips/v/c.mp4"

    allowed = preflight(url, page_origin, "GET", "range")
    refused = preflight(url, page_origin, "PUT")

    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert allowed.headers["Access-Control-Expose-Headers"] == "Content-Range, Accept-Ranges"
    assert refused.status_code == 403
