"""Each function runs with its template role, and the local stack refuses what the role does not allow.

The other e2e suites prove every role allows what its function does (they run with it); these
prove a call outside a role fails as on AWS, and S3's 403-instead-of-404 for a missing key.
"""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e import clients

MULTIPART_BYTES = 6 * 1024 * 1024  # above the e2e stack's lowered multipart threshold (tests/mediafactory)


@pytest.fixture(scope="module")
def as_function(stack) -> Callable[[str, str], Any]:
    """A client holding exactly the session the local stack gave a function's worker."""

    def make(function: str, service: str) -> Any:
        role = stack.description["function_roles"][function]
        return boto3.client(
            service,
            endpoint_url=stack.description["aws_endpoint_url"],
            region_name=stack.description["region"],
            aws_access_key_id=role["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=role["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=role["AWS_SESSION_TOKEN"],
        )

    return make


def _code(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def _key(table: str, pk: str) -> dict[str, Any]:
    return {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": "META"}}}


def test_every_function_gets_its_own_role_session_not_the_stack_root_key(stack):
    roles = stack.description["function_roles"]

    assert set(roles) == {lid for lid in stack.resources if lid.endswith("Function")}
    for function, role in roles.items():
        assert role["role_arn"].endswith(f"-{function}Role")
        assert role["AWS_ACCESS_KEY_ID"] != "local" and role["AWS_SESSION_TOKEN"]


@pytest.mark.parametrize(
    ("function", "service", "call"),
    [
        # UploadApiFunction erases a video's clip files on DELETE /videos/{id} but never writes one.
        ("UploadApiFunction", "s3", lambda c, r: c.put_object(Bucket=r["ClipsBucket"], Key="clips/x", Body=b"x")),
        # ValidateFunction updates videos; it never creates items.
        (
            "ValidateFunction",
            "dynamodb",
            lambda c, r: c.put_item(TableName=r["AppTable"], Item={"pk": {"S": "VIDEO#x"}, "sk": {"S": "META"}}),
        ),
        # ClipApiFunction sends clip jobs, not uploads.
        ("ClipApiFunction", "sqs", lambda c, r: c.send_message(QueueUrl=r["IngestQueue"], MessageBody="{}")),
        # The router's AppTable grant holds only for THREAD# partition keys (dynamodb:LeadingKeys).
        ("AlarmRouterFunction", "dynamodb", lambda c, r: c.get_item(**_key(r["AppTable"], "VIDEO#x"))),
        ("HealthFunction", "s3", lambda c, r: c.get_object(Bucket=r["UploadsBucket"], Key="uploads/x")),
        # A transaction is authorized item by item: UploadApiFunction may write AppTable, no other table.
        (
            "UploadApiFunction",
            "dynamodb",
            lambda c, r: c.transact_write_items(
                TransactItems=[{"Put": {"TableName": r["IdempotencyTable"], "Item": {"id": {"S": "x"}}}}]
            ),
        ),
        # Only SQS-triggered functions get SAM's AWSLambdaSQSQueueExecutionRole (their pollers use it).
        ("ClipApiFunction", "sqs", lambda c, r: c.receive_message(QueueUrl=r["ClipQueue"], VisibilityTimeout=0)),
    ],
    ids=[
        "upload-api-writes-a-clip",
        "validate-puts-an-item",
        "clip-api-sends-to-ingest",
        "router-reads-a-video",
        "health-reads-an-upload",
        "upload-api-writes-another-table-in-a-transaction",
        "clip-api-polls-the-clip-queue",
    ],
)
def test_a_call_the_functions_role_does_not_allow_is_denied(stack, as_function, function, service, call):
    client = as_function(function, service)

    # S3 and SQS say AccessDenied; DynamoDB, as AWS, AccessDeniedException
    assert _code(lambda: call(client, stack.resources)) in ("AccessDenied", "AccessDeniedException")


@pytest.mark.parametrize(
    ("function", "service", "call"),
    [
        ("AlarmRouterFunction", "dynamodb", lambda c, r: c.get_item(**_key(r["AppTable"], "THREAD#x"))),
        ("HealthFunction", "dynamodb", lambda c, r: c.describe_table(TableName=r["AppTable"])),
        (
            "UploadApiFunction",
            "dynamodb",
            lambda c, r: c.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": r["AppTable"],
                            "Item": {"pk": {"S": f"IAM#{uuid.uuid4().hex}"}, "sk": {"S": "X"}},
                        }
                    }
                ]
            ),
        ),
        # A managed policy SAM attaches (AWSLambdaSQSQueueExecutionRole) is part of the role.
        (
            "ClipWorkerFunction",
            "sqs",
            lambda c, r: c.get_queue_attributes(QueueUrl=r["ClipQueue"], AttributeNames=["QueueArn"]),
        ),
    ],
    ids=[
        "router-reads-a-thread",
        "health-describes-the-table",
        "upload-api-puts-in-a-transaction",
        "clip-worker-reads-its-queue-attributes",
    ],
)
def test_the_same_kind_of_call_within_the_role_is_allowed(stack, as_function, function, service, call):
    assert _code(lambda: call(as_function(function, service), stack.resources)) == "ok"


def test_a_missing_key_answers_403_without_list_bucket_and_404_with_it(stack, as_function, aws_client):
    # Given a key nobody wrote
    missing = f"uploads/{uuid.uuid4().hex}"

    def head(client: Any, bucket: str, key: str) -> str:
        return _code(lambda: client.head_object(Bucket=bucket, Key=key))

    # Then whoever may list the bucket learns it is missing; whoever may not, learns nothing
    assert head(aws_client("s3"), stack.resources["UploadsBucket"], missing) == "404"
    assert head(as_function("ValidateFunction", "s3"), stack.resources["UploadsBucket"], missing) == "404"
    assert head(as_function("UploadApiFunction", "s3"), stack.resources["UploadsBucket"], missing) == "404"
    clips = stack.resources["ClipsBucket"]
    assert head(as_function("ClipApiFunction", "s3"), clips, f"clips/{uuid.uuid4().hex}") == "403"
    # And the ListBucket grants stop at their prefix
    assert head(as_function("ValidateFunction", "s3"), stack.resources["UploadsBucket"], "quarantine/x") == "403"


def _invoke(stack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{stack.description['control_url']}/invoke/{function}", json=event, timeout=120)
    answer.raise_for_status()
    return dict(answer.json())


def _s3_event(bucket: str, key: str) -> dict[str, Any]:
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Post",
        "awsRegion": "us-east-1",
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": 1, "eTag": "0" * 32},
        },
    }
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": json.dumps({"Records": [record]}),
                "attributes": {
                    "ApproximateReceiveCount": "2",
                    "SentTimestamp": "0",
                    "SenderId": "s3",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest",
                "awsRegion": "us-east-1",
            }
        ]
    }


def test_a_stale_s3_event_for_an_object_already_gone_is_settled_not_retried_into_the_dlq(stack):
    # Given an S3 event delivered again after its object left uploads/ (as a rejected upload's does)
    event = _s3_event(stack.resources["UploadsBucket"], f"uploads/{uuid.uuid4().hex}")

    # When ValidateFunction gets it
    result = _invoke(stack, "ValidateFunction", event)

    # Then it settles the record: no batch failure, so SQS does not retry it 5 times into IngestDLQ
    assert result["ok"], result
    assert result["payload"] == {"batchItemFailures": []}


def test_completing_a_multipart_upload_that_was_aborted_answers_409_not_500(stack, api, auth_headers, aws_client):
    # Given a multipart upload the bucket's lifecycle rule aborted before the app completed it
    headers = auth_headers(f"aborted-{uuid.uuid4().hex[:6]}")
    created = clients.create_video(api, headers, "big.mp4", "video/mp4", MULTIPART_BYTES)
    upload_id = created["upload"]["upload_id"]
    aws_client("s3").abort_multipart_upload(
        Bucket=stack.resources["UploadsBucket"], Key=f"uploads/{created['video_id']}", UploadId=upload_id
    )

    # When the app completes it (or completes it again after a lost answer)
    answer = clients.complete(api, headers, created["video_id"], [{"part_number": 1, "etag": '"abc"'}])

    # Then it answers 409 conflict (the upload is gone), not 500
    assert answer.status_code == 409, answer.text
    assert clients.error_of(answer)["code"] == "conflict"


def test_a_function_key_without_its_session_token_is_refused_while_any_other_fake_key_is_the_operator(stack):
    role = stack.description["function_roles"]["HealthFunction"]

    def list_uploads(key_id: str, secret: str) -> str:
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.description["aws_endpoint_url"],
            region_name=stack.description["region"],
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        return _code(lambda: s3.list_objects_v2(Bucket=stack.resources["UploadsBucket"], MaxKeys=1))

    # A stolen session key is no use without its token
    assert list_uploads(role["AWS_ACCESS_KEY_ID"], role["AWS_SECRET_ACCESS_KEY"]) in ("AccessDenied", "InvalidToken")
    # Tools and tests that sign with moto's usual fake keys keep working, as the account's operator
    assert list_uploads("testing", "testing") == "ok"


def test_a_presigned_url_stops_working_when_it_expires(stack, as_function, aws_client):
    # Given an object, and a one-second GET URL signed by the function that hands out such URLs
    bucket, key = stack.resources["ClipsBucket"], f"clips/{uuid.uuid4().hex}/c.mp4"
    aws_client("s3").put_object(Bucket=bucket, Key=key, Body=b"clip")
    url = as_function("ClipApiFunction", "s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=1
    )
    first = requests.get(url, timeout=10)
    assert first.content == b"clip", first.text

    # When it has expired
    time.sleep(2)

    # Then S3 refuses it
    assert requests.get(url, timeout=10).status_code == 403
