"""DynamoDB Streams as the local stack serves them: what a stream reader is handed is what was written."""

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def table_with_stream(moto_server):
    endpoint, _ = moto_server
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")
    name = f"streams-{uuid.uuid4().hex[:8]}"
    created = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return dynamodb, streams, name, created["TableDescription"]["LatestStreamArn"]


def put(dynamodb, name: str, pk: str) -> None:
    dynamodb.put_item(TableName=name, Item={"pk": {"S": pk}})


def test_a_write_after_a_cancelled_transaction_reaches_a_reader_positioned_before_it(table_with_stream):
    dynamodb, streams, name, arn = table_with_stream
    # Given a reader that has read the first write and asked for an iterator after it
    put(dynamodb, name, "first")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    first = streams.get_records(
        ShardIterator=streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
    )["Records"]
    after = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=shard,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=first[-1]["dynamodb"]["SequenceNumber"],
    )["ShardIterator"]

    # When a transaction that would write "phantom" is cancelled, then "real" is written
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "phantom"}}}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": {"S": "first"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    put(dynamodb, name, "real")

    # Then the reader is handed "real", never the cancelled write
    records = streams.get_records(ShardIterator=after)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["real"]
    assert dynamodb.get_item(TableName=name, Key={"pk": {"S": "phantom"}}).get("Item") is None
