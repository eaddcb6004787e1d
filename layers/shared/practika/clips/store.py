"""Clips: data access, the clip records and daily quota counters (DynamoDB), the clip queue
(SQS), the source and clip objects (S3).

Status moves queued -> processing -> ready | failed, each step a conditional write, so a
late or duplicated message can never move a finished clip back or cut it again.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from practika import aws, clock, pages
from practika.clips.model import (
    Clip,
    ClipError,
    ClipJob,
    ClipStatus,
    ClipTimes,
    clip_key,
    clip_list_pk,
    clip_object_key,
)
from practika.errors import NotFound, QuotaExceeded
from practika.observability import tracer
from practika.settings import storage_settings
from practika.videos import store as video_store
from practika.videos.model import upload_object_key, video_key

# Clips above this size go up in parts (parallel, each part retried on its own).
_TRANSFER = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)


class ClipBusy(Exception):
    """Another worker holds this clip's processing lease."""


class ClipMissing(Exception):
    """A job for a clip with no record: its record is not written yet, or its request failed."""


class SourceMissing(Exception):
    """The video's object is gone from the uploads bucket."""


class SourceReplaced(Exception):
    """The video's object is not the one validation accepted: it was written again afterwards."""


def _table() -> Any:
    return aws.table(storage_settings().table_name)


def quota_key(owner: str, day: str) -> dict[str, str]:
    return {"pk": f"QUOTA#{owner}", "sk": f"CLIPS#{day}"}


@tracer.capture_method
def get_clip(clip_id: str) -> Clip | None:
    item = _table().get_item(Key=clip_key(clip_id), ConsistentRead=True).get("Item")
    return Clip.model_validate(item) if item else None


def get_owned_clip(clip_id: str, owner: str) -> Clip:
    """The clip if `owner` owns it; a missing clip and someone else's answer the same NotFound."""
    clip = get_clip(clip_id)
    if clip is None or clip.owner != owner:
        raise NotFound("no such clip", details={"clip_id": clip_id})
    return clip


@tracer.capture_method
def clips_today(owner: str) -> int:
    """How many clips the owner created today (UTC), as create_clip counts them."""
    day = clock.now().strftime("%Y-%m-%d")
    item = _table().get_item(Key=quota_key(owner, day), ConsistentRead=True).get("Item") or {}
    return int(item.get("count", 0))


@tracer.capture_method
def create_clip(clip: Clip, *, max_per_day: int) -> tuple[Clip, bool]:
    """Create the clip and count it against its owner's daily quota, in one transaction.

    Returns (clip, created). When the same clip already exists (asked before, or by a racing
    request) the existing one comes back with created=False and the quota is untouched.
    """
    now = clock.now()
    day = now.strftime("%Y-%m-%d")
    table_name = storage_settings().table_name
    record = {
        **clip_key(clip.clip_id),
        **clip.model_dump(mode="json"),
        **pages.list_key(clip_list_pk(clip.video_id), clip.created_at, clip.clip_id),
    }
    items = [
        {
            "Put": {
                "TableName": table_name,
                "Item": aws.dynamo_values(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": table_name,
                "Key": quota_key(clip.owner, day),
                "UpdateExpression": "ADD #count :one SET expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(#count) OR #count < :max",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": aws.dynamo_values(
                    {
                        ":one": 1,
                        ":max": max_per_day,
                        ":expires": int((now + timedelta(days=2)).timestamp()),
                    }
                ),
            }
        },
        {
            # A video being deleted takes no new clip: its deletion lists the clips only once.
            "ConditionCheck": {
                "TableName": table_name,
                "Key": video_key(clip.video_id),
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(deleting_at)",
            }
        },
    ]
    try:
        _table().client.transact_write_items(TransactItems=items)
    except ClientError as error:
        if aws.error_code(error) != "TransactionCanceledException":
            raise
        reasons = aws.cancellation_codes(error)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            existing = get_clip(clip.clip_id)
            if existing is not None:
                return existing, False
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise QuotaExceeded("daily clip quota reached", details={"max_clips_per_day": max_per_day}) from error
        if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
            raise NotFound("no such video", details={"video_id": clip.video_id}) from error
        raise
    return clip, True


def touch(clip_id: str) -> None:
    """Record that a queued clip's job was sent again."""
    _table().update_item(
        Key=clip_key(clip_id),
        UpdateExpression="SET updated_at = :now",
        ConditionExpression="#status = :queued",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":now": clock.iso_millis(), ":queued": ClipStatus.QUEUED.value},
    )


@tracer.capture_method
def requeue_failed(clip_id: str, retryable_codes: frozenset[str]) -> Clip | None:
    """Put a clip that failed for a passing reason back to queued; None when another request did first."""
    try:
        item = _table().update_item(
            Key=clip_key(clip_id),
            UpdateExpression="SET #status = :queued, updated_at = :now REMOVE #error, lease_until",
            ConditionExpression="#status = :failed AND #error.code IN ("
            + ", ".join(f":code{i}" for i in range(len(retryable_codes)))
            + ")",
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues={
                ":queued": ClipStatus.QUEUED.value,
                ":failed": ClipStatus.FAILED.value,
                ":now": clock.iso_millis(),
                **{f":code{i}": code for i, code in enumerate(sorted(retryable_codes))},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if aws.error_code(error) != "ConditionalCheckFailedException":
            raise
        return None
    return Clip.model_validate(item)


@tracer.capture_method
def enqueue(queue_url: str, clip_id: str) -> None:
    aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=ClipJob(clip_id=clip_id).model_dump_json())


@tracer.capture_method
def delay_job(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """Make a received job visible again in `seconds` (the redelivery of a job that came too early)."""
    aws.client("sqs").change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )


@tracer.capture_method
def start_processing(clip_id: str, *, lease_s: float) -> Clip:
    """Take the clip for processing, with a lease: the clip now processing, or as it stands when it
    is already ready or failed.

    A clip processing under someone else's live lease raises ClipBusy; an expired lease (a
    worker that died) is taken over.
    """
    now = time.time()
    try:
        item = _table().update_item(
            Key=clip_key(clip_id),
            UpdateExpression="SET #status = :processing, lease_until = :lease, updated_at = :now_iso ADD attempts :one",
            ConditionExpression="attribute_exists(pk) AND (#status = :queued OR "
            "(#status = :processing AND (attribute_not_exists(lease_until) OR lease_until < :now)))",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=aws.dynamo_values(
                {
                    ":processing": ClipStatus.PROCESSING.value,
                    ":queued": ClipStatus.QUEUED.value,
                    ":lease": now + lease_s,
                    ":now": now,
                    ":now_iso": clock.iso_millis(),
                    ":one": 1,
                }
            ),
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if aws.error_code(error) != "ConditionalCheckFailedException":
            raise
        current = get_clip(clip_id)
        if current is None:
            raise ClipMissing(clip_id) from error
        if current.status in (ClipStatus.READY, ClipStatus.FAILED):
            return current
        raise ClipBusy(clip_id) from error
    return Clip.model_validate(item)


def release(clip_id: str) -> None:
    """Give the lease back after a transient failure so the redelivered job can start at once."""
    _table().update_item(
        Key=clip_key(clip_id),
        UpdateExpression="SET lease_until = :zero",
        ConditionExpression="#status = :processing",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":zero": 0, ":processing": ClipStatus.PROCESSING.value},
    )


def _gone(clip_id: str, error: ClientError) -> bool:
    """Whether a status write failed because the clip was deleted meanwhile."""
    return aws.error_code(error) == "ConditionalCheckFailedException" and get_clip(clip_id) is None


@tracer.capture_method
def mark_ready(clip_id: str, actual: ClipTimes, size_bytes: int, method: str | None = None) -> Clip | None:
    """processing -> ready; None when the clip was deleted while it was cut."""
    try:
        return _set_ready(clip_id, actual, size_bytes, method)
    except ClientError as error:
        if _gone(clip_id, error):
            return None
        raise


def _set_ready(clip_id: str, actual: ClipTimes, size_bytes: int, method: str | None) -> Clip:
    item = _table().update_item(
        Key=clip_key(clip_id),
        UpdateExpression="SET #status = :ready, actual = :actual, size_bytes = :size, #method = :method, "
        "updated_at = :now REMOVE lease_until",
        ConditionExpression="#status = :processing",
        ExpressionAttributeNames={"#status": "status", "#method": "method"},
        ExpressionAttributeValues=aws.dynamo_values(
            {
                ":ready": ClipStatus.READY.value,
                ":processing": ClipStatus.PROCESSING.value,
                ":actual": actual.model_dump(),
                ":size": size_bytes,
                ":method": method,
                ":now": clock.iso_millis(),
            }
        ),
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return Clip.model_validate(item)


@tracer.capture_method
def mark_failed(clip_id: str, error: ClipError) -> Clip | None:
    """queued or processing -> failed; None when the clip was deleted meanwhile."""
    try:
        return _set_failed(clip_id, error)
    except ClientError as failure:
        if _gone(clip_id, failure):
            return None
        raise


def _set_failed(clip_id: str, error: ClipError) -> Clip:
    item = _table().update_item(
        Key=clip_key(clip_id),
        UpdateExpression="SET #status = :failed, #error = :error, updated_at = :now REMOVE lease_until",
        ConditionExpression="#status IN (:queued, :processing)",
        ExpressionAttributeNames={"#status": "status", "#error": "error"},
        ExpressionAttributeValues={
            ":failed": ClipStatus.FAILED.value,
            ":queued": ClipStatus.QUEUED.value,
            ":processing": ClipStatus.PROCESSING.value,
            ":error": error.model_dump(mode="json"),
            ":now": clock.iso_millis(),
        },
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return Clip.model_validate(item)


@tracer.capture_method
def list_for_video(video_id: str, *, limit: int, cursor: str | None) -> tuple[list[Clip], str | None]:
    items, next_cursor = pages.newest_first(_table(), clip_list_pk(video_id), limit=limit, cursor=cursor)
    return [Clip.model_validate(item) for item in items], next_cursor


@tracer.capture_method
def delete_clip(clip: Clip) -> None:
    """The record first, then the file: a worker still cutting finds the record gone and removes what it wrote."""
    _table().delete_item(Key=clip_key(clip.clip_id))
    delete_clip_object(clip)


def delete_clip_object(clip: Clip) -> None:
    aws.client("s3").delete_object(
        Bucket=storage_settings().clips_bucket, Key=clip_object_key(clip.video_id, clip.clip_id)
    )


@tracer.capture_method
@dataclass(frozen=True)
class SourceRead:
    """How the worker reads a video: a short-lived GET, its size, and its bytes per second of media
    (None when validation did not measure its duration), which sizes the cut's range requests."""

    url: str
    size_bytes: int
    bytes_per_s: float | None


def presign_source(video_id: str, *, expires_s: int) -> SourceRead:
    """A short-lived GET for the source, after checking it is still there (a 404 is final, not transient).

    The source is the copy validation made under validated/, which no upload URL can write. Videos
    validated before that copy existed are read from uploads/ if it is still the object validation
    accepted (a presigned POST stays usable until it expires).
    """
    stored = video_store.get_video(video_id)
    bucket = storage_settings().uploads_bucket
    key = stored.source_key if stored and stored.source_key else upload_object_key(video_id)
    s3 = aws.client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if aws.error_code(error) in aws.NOT_FOUND_CODES:
            raise SourceMissing(f"the video's object {key} is gone") from error
        raise
    validated_etag = stored.object_etag if stored and not stored.source_key else None
    if validated_etag and str(head["ETag"]).strip('"') != validated_etag:
        raise SourceReplaced(f"the video's object {key} changed after validation")
    url: str = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s)
    media = stored.video.media if stored else None
    duration_s = media.duration_s if media else 0
    size = int(head["ContentLength"])
    return SourceRead(url, size, size / duration_s if duration_s > 0 else None)


@tracer.capture_method
def upload_clip(path: Path, key: str) -> None:
    aws.client("s3").upload_file(
        str(path),
        storage_settings().clips_bucket,
        key,
        ExtraArgs={"ContentType": "video/mp4"},
        Config=_TRANSFER,
    )


def presign_download(clip: Clip, key: str, *, expires_s: int) -> str:
    url: str = aws.client("s3").generate_presigned_url(
        "get_object",
        Params={
            "Bucket": storage_settings().clips_bucket,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{clip.filename}"',
            "ResponseContentType": "video/mp4",
        },
        ExpiresIn=expires_s,
    )
    return url
