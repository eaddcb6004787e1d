"""Who gets in: issuer and audience checks where configured, unsigned and tampered tokens, and object
keys that never come from the client. (No token, expired, forged signature, missing subject:
test_health_e2e.py.)"""

import base64
import json
import re
import time
from collections.abc import Iterator

import jwt
import pytest
import requests

from devstack.auth import DEFAULT_SECRET
from devstack.launcher import RunningStack, start_stack

ISSUER = "https://issuer.practika.test/"
AUDIENCE = "practika-app"
VIDEO = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000}


def token(secret: str = DEFAULT_SECRET, algorithm: str = "HS256", **claims) -> str:
    body = {"sub": "auth-user", "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def checking_stack(tmp_path_factory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("auth-stack"), env={"LOCAL_JWT_ISSUER": ISSUER, "LOCAL_JWT_AUDIENCE": AUDIENCE}
    )
    yield running
    running.stop()


def test_a_token_with_the_configured_issuer_and_audience_gets_in(checking_stack):
    answer = requests.post(
        f"{checking_stack.api_url}/videos", json=VIDEO, timeout=30, headers=bearer(token(iss=ISSUER, aud=AUDIENCE))
    )

    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iss": ISSUER, "aud": "someone-elses-app"}, id="wrong-audience"),
        pytest.param({"iss": "https://evil.example/", "aud": AUDIENCE}, id="wrong-issuer"),
        pytest.param({"iss": ISSUER}, id="no-audience"),
        pytest.param({"aud": AUDIENCE}, id="no-issuer"),
        pytest.param({"iss": ISSUER, "aud": [AUDIENCE + "x", "other"]}, id="audience-list-without-ours"),
        pytest.param({"iss": ISSUER.rstrip("/"), "aud": AUDIENCE}, id="issuer-differs-by-a-slash"),
    ],
)
def test_a_token_for_another_issuer_or_audience_is_refused_with_401(checking_stack, claims):
    answer = requests.post(f"{checking_stack.api_url}/videos", json=VIDEO, timeout=30, headers=bearer(token(**claims)))

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def _unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _tampered() -> str:
    header, _, signature = token(sub="victim").split(".")
    forged_body = (
        base64.urlsafe_b64encode(json.dumps({"sub": "attacker", "exp": int(time.time()) + 300}).encode())
        .rstrip(b"=")
        .decode()
    )
    return f"{header}.{forged_body}.{signature}"


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda: f"Bearer {_unsigned({'sub': 'auth-user', 'exp': int(time.time()) + 300})}", id="alg-none"),
        pytest.param(lambda: f"Bearer {_tampered()}", id="payload-swapped-under-a-valid-signature"),
        pytest.param(lambda: f"Bearer {token(algorithm='HS512')}", id="other-hmac-algorithm"),
        pytest.param(lambda: f"Bearer {token(nbf=int(time.time()) + 600)}", id="not-yet-valid"),
        pytest.param(lambda: f"Bearer {token(exp=None)}", id="no-expiry"),
        pytest.param(lambda: f"Basic {token()}", id="wrong-scheme"),
        pytest.param(lambda: token(), id="no-scheme"),
        pytest.param(lambda: "Bearer ", id="empty-token"),
        pytest.param(lambda: "Bearer a.b.c", id="garbage-token"),
    ],
)
def test_unsigned_tampered_and_malformed_tokens_are_refused_with_401(api, authorization):
    answer = requests.get(
        f"{api}/videos/0123456789abcdef0123456789abcdef", timeout=30, headers={"Authorization": authorization()}
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "filename", ["../../uploads/victim.mp4", "..\\..\\x.mp4", "uploads/0123.mp4", "/etc/passwd", "clips/x/y.mp4"]
)
def test_a_file_name_with_a_path_is_refused(api, auth_headers, filename):
    answer = requests.post(
        f"{api}/videos", headers=auth_headers("auth-keys"), timeout=30, json={**VIDEO, "filename": filename}
    )

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "body",
    [
        {**VIDEO, "filename": "..mp4"},
        {**VIDEO, "filename": "uploads%2Fvictim.mp4"},
        {**VIDEO, "filename": "0123456789abcdef0123456789abcdef"},
    ],
)
def test_the_object_key_is_always_uploads_and_a_server_made_id(api, auth_headers, body):
    answer = requests.post(f"{api}/videos", headers=auth_headers("auth-keys-ok"), timeout=30, json=body)

    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert re.fullmatch(r"[0-9a-f]{32}", created["video_id"])
    assert created["video_id"] != body["filename"]
    fields = created["upload"]["fields"]
    assert fields["key"] == f"uploads/{created['video_id']}"
    policy = json.loads(base64.b64decode(fields["policy"]))
    # The policy pins that key exactly: no starts-with a client could stretch.
    assert {"key": fields["key"]} in policy["conditions"]
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in policy["conditions"])


def test_key_like_fields_in_the_body_are_never_used(api, auth_headers):
    answer = requests.post(
        f"{api}/videos",
        headers=auth_headers("auth-keys"),
        timeout=30,
        json={**VIDEO, "key": "uploads/victim", "video_id": "0123456789abcdef0123456789abcdef"},
    )

    # Unknown fields are ignored by POST /videos (refusing them would be fine too): never used.
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 201:
        created = answer.json()
        assert created["video_id"] != "0123456789abcdef0123456789abcdef"
        assert created["upload"]["fields"]["key"] == f"uploads/{created['video_id']}"
