"""The upload API's answers to bodies it cannot read, before any domain code or AWS call runs."""

import json

import pytest
from upload import api


def post_videos(event, lambda_context, content_type: str, body: str) -> tuple[int, dict]:
    request = event("api-post-videos.json")
    request["headers"] = {**request["headers"], "content-type": content_type}
    request["body"] = body
    answer = api.handler(request, lambda_context)
    return answer["statusCode"], json.loads(answer["body"])


def test_a_multipart_body_without_a_boundary_answers_415_in_the_error_shape(event, lambda_context):
    status, body = post_videos(event, lambda_context, "multipart/form-data", "--x\r\n")

    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"


def test_a_value_error_of_a_json_request_is_not_hidden_as_415(event, lambda_context, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ValueError("a bug in domain code, mentioning multipart")

    monkeypatch.setattr(api.uploads, "create_upload", broken)
    with pytest.raises(ValueError, match="a bug in domain code"):
        post_videos(
            event,
            lambda_context,
            "application/json",
            json.dumps({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000}),
        )
