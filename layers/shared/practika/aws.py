"""boto3 clients, created once per container and reused across invocations.

Endpoints come from the standard AWS_ENDPOINT_URL variables, so the same code talks to AWS
in Lambda and to the local stack's moto server on a laptop.
"""

import json
import threading
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.transform import TransformationInjector, copy_dynamodb_params
from botocore.config import Config
from botocore.exceptions import ClientError

from practika.settings import cached, deployment_settings

# What S3's HeadObject and GetObject answer for a missing key, depending on the call and the emulator.
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _config(timeout_s: float | None) -> Config:
    options: dict[str, Any] = {"signature_version": "v4"}
    if deployment_settings().aws_endpoint_url:
        # A local endpoint is an IP address: virtual-hosted bucket names cannot resolve there.
        options["s3"] = {"addressing_style": "path"}
    if timeout_s is not None:
        options.update(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1})
    return Config(**options)


# One session per container: each new session loads botocore's endpoint and service data again,
# about 100 ms of cold start per client. Sessions are not thread-safe while creating clients, and
# the health check creates its two clients from two threads, hence the lock.
_creating = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cached
def client(service: str, *, timeout_s: float | None = None) -> Any:
    """A cached client; `timeout_s` gives a short-timeout, no-retry client for checks that must answer fast."""
    with _creating:
        return _session().client(service, config=_config(timeout_s))


class Table:
    """One DynamoDB table, taking and returning Python values, like boto3's Table resource.

    boto3's resource builds a second client, loads the resource model and scans botocore's data
    directory: about 80 ms of every cold start that uses the table. These are the same boto3
    transformation hooks (Python values and `Key`/`Attr` conditions in, Python values out) on
    a plain client, for the operations the pipeline uses.
    """

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client  # also takes Python values, for transact_write_items

    def get_item(self, **request: Any) -> dict[str, Any]:
        return self.client.get_item(TableName=self.name, **request)

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self.client.put_item(TableName=self.name, **request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self.client.update_item(TableName=self.name, **request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self.client.delete_item(TableName=self.name, **request)

    def query(self, **request: Any) -> dict[str, Any]:
        return self.client.query(TableName=self.name, **request)


def _document_client() -> Any:
    with _creating:
        dynamodb = _session().client("dynamodb", config=_config(None))
    injector = TransformationInjector()
    events = dynamodb.meta.events
    # The registrations boto3's DynamoDBHighLevelResource makes on its own client.
    events.register("provide-client-params.dynamodb", copy_dynamodb_params, unique_id="practika-params-copy")
    events.register(
        "before-parameter-build.dynamodb", injector.inject_condition_expressions, unique_id="practika-conditions"
    )
    events.register("before-parameter-build.dynamodb", injector.inject_attribute_value_input, unique_id="practika-in")
    events.register("after-call.dynamodb", injector.inject_attribute_value_output, unique_id="practika-out")
    return dynamodb


@cached
def table(name: str) -> Table:
    return Table(name, _document_client())


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call ("ConditionalCheckFailedException", "NoSuchKey"...), or ""."""
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_codes(error: ClientError) -> list[str]:
    """Why each item of a cancelled transaction failed, in order ("None" for the items that did not)."""
    return [str(reason.get("Code")) for reason in error.response.get("CancellationReasons") or []]


def dynamo_values(data: Any) -> Any:
    """Plain JSON data with floats as Decimals, the only numbers DynamoDB's Python values accept."""
    return json.loads(json.dumps(data), parse_float=Decimal)
