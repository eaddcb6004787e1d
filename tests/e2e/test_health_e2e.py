"""/health and the token check, over HTTP against the local stack."""

import time

import jwt
import requests

from devstack.launcher import start_stack


def test_health_answers_200_with_the_five_keys_and_no_token(api):
    answer = requests.get(f"{api}/health", timeout=5)

    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {"status", "timestamp", "version", "database", "storage"}
    assert body["status"] == "healthy"


def test_warm_health_answers_fast(api):
    requests.get(f"{api}/health", timeout=5)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert requests.get(f"{api}/health", timeout=5).status_code == 200
        timings.append(time.perf_counter() - started)

    assert max(timings) < 1.0


def test_a_route_that_needs_a_token_answers_401_without_one(api):
    answer = requests.post(f"{api}/videos", json={}, timeout=5)

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_a_forged_token_is_refused_before_any_handler_runs(api):
    forged = jwt.encode({"sub": "user-a", "exp": int(time.time()) + 60}, "not-the-secret", algorithm="HS256")

    answer = requests.get(f"{api}/videos/anything", headers={"Authorization": f"Bearer {forged}"}, timeout=5)

    assert answer.status_code == 401


def test_an_expired_token_is_refused(api, auth_headers):
    answer = requests.get(f"{api}/videos/anything", headers=auth_headers(exp=int(time.time()) - 10), timeout=5)

    assert answer.status_code == 401


def test_a_token_without_subject_is_refused(api):
    token = jwt.encode({"exp": int(time.time()) + 60}, "local-dev-secret", algorithm="HS256")

    answer = requests.get(f"{api}/videos/anything", headers={"Authorization": f"Bearer {token}"}, timeout=5)

    assert answer.status_code == 401


def test_an_unknown_route_answers_404_in_the_error_shape(api):
    answer = requests.get(f"{api}/nope", timeout=5)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "route_not_found"


def test_health_answers_503_naming_the_database_when_the_table_is_gone(tmp_path):
    # A stack of its own: deleting the table would break every other e2e test.
    own = start_stack(tmp_path)
    try:
        import boto3

        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=own.description["aws_endpoint_url"],
            region_name=own.description["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        dynamodb.delete_table(TableName=own.resources["AppTable"])

        answer = requests.get(f"{own.api_url}/health", timeout=5)

        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "unhealthy"
        assert body["database"]["status"] == "error"
        assert body["storage"]["status"] == "ok"
    finally:
        own.stop()
