"""The health checks against moto's DynamoDB and S3."""

import boto3
import pytest
from moto import mock_aws

from practika import settings
from practika.health import check_health


@pytest.fixture
def storage(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "app-table")
    monkeypatch.setenv("UPLOADS_BUCKET", "uploads-bucket")
    monkeypatch.setenv("CLIPS_BUCKET", "clips-bucket")
    settings.reset()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="app-table",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(Bucket="uploads-bucket")
        yield
    settings.reset()


def test_health_is_healthy_with_table_and_bucket(storage):
    report = check_health()

    assert report.status == "healthy"
    assert report.database.status == report.storage.status == "ok"


def test_health_names_the_bucket_when_it_is_gone(storage):
    boto3.client("s3").delete_bucket(Bucket="uploads-bucket")

    report = check_health()

    assert report.status == "unhealthy"
    assert report.storage.status == "error"
    assert report.database.status == "ok"
