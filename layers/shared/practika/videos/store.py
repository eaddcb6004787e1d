"""Videos: data access, the video records (DynamoDB) and the uploaded objects (S3).

A video moves awaiting_upload -> validating -> ready | rejected, each step a conditional write,
so duplicate and out-of-order S3 events can never move it backwards or count it twice.

Per-owner items sit next to the videos in the same table:
- `OWNER#<owner>` / `UPLOAD_SLOT#<n>`, n < MaxPendingUploads: a slot held by an upload handed out
  and not yet received, until its URLs expire (`expires_at`, also the TTL). An upload is issued
  only with a conditional write claiming a free slot, so racing requests can never hold more
  uploads than there are slots;
- `OWNER#<owner>` / `DAY#<yyyy-mm-dd>`: bytes of uploads handed out that day.
"""

from dataclasses import dataclass
from typing import Any, Literal

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from practika import aws, clock, pages
from practika.errors import NotFound
from practika.observability import logger, tracer
from practika.settings import storage_settings
from practika.videos.model import (
    MediaFacts,
    PartUrl,
    Rejection,
    Video,
    VideoStatus,
    upload_object_key,
    validated_object_key,
    video_key,
    video_list_pk,
)
from practika.videos.rules import quarantine_key

SNIFF_BYTES = 4096

DAY_COUNTER_TTL_S = 3 * 24 * 3600
SLOT_PREFIX = "UPLOAD_SLOT#"


class DailyBytesExceeded(Exception):
    """The owner's bytes-per-day allowance would be exceeded by this upload."""


class SlotTaken(Exception):
    """Another request claimed the same pending-upload slot first."""


class ObjectChanged(Exception):
    """The object is no longer the one that was validated: it was written again meanwhile."""


@dataclass(frozen=True)
class StoredVideo:
    video: Video
    upload_id: str | None
    object_etag: str | None
    source_key: str | None = None  # the validated copy clips are cut from (absent on older records)
    upload_slot: int | None = None  # the pending-upload slot it holds until its file arrives


def _table() -> Any:
    return aws.table(storage_settings().table_name)


def _owner_key(owner: str, sort: str) -> dict[str, str]:
    return {"pk": f"OWNER#{owner}", "sk": sort}


def _is_condition_failure(error: ClientError) -> bool:
    return aws.error_code(error) == "ConditionalCheckFailedException"


def _slot_key(owner: str, slot: int) -> dict[str, str]:
    return _owner_key(owner, f"{SLOT_PREFIX}{slot}")


@tracer.capture_method
def free_upload_slots(owner: str, limit: int, now_epoch: int) -> list[int]:
    """The slots 0..limit-1 of `owner` not held by an upload whose URLs are still valid."""
    held: set[int] = set()
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(f"OWNER#{owner}") & Key("sk").begins_with(SLOT_PREFIX),
        "FilterExpression": Attr("expires_at").gt(now_epoch),
        "ProjectionExpression": "sk",
        "ConsistentRead": True,
    }
    while True:
        page = _table().query(**query)
        held.update(int(item["sk"].removeprefix(SLOT_PREFIX)) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return [slot for slot in range(limit) if slot not in held]
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@tracer.capture_method
def create_video(
    video: Video,
    *,
    upload_id: str | None,
    slot: int,
    now_epoch: int,
    pending_until: int,
    day: str,
    max_bytes_per_day: int,
) -> None:
    """Write a new awaiting_upload video, claim its pending-upload slot and count the day's bytes, all or nothing.

    Raises SlotTaken when the slot is held by a live upload (another request claimed it first), and
    DailyBytesExceeded when the day's bytes would go over the limit.
    """
    if video.size_bytes > max_bytes_per_day:
        # The first upload of a day passes the counter's condition whatever its size.
        raise DailyBytesExceeded()
    table_name = storage_settings().table_name
    item = aws.dynamo_values(
        {
            **video.model_dump(mode="json", exclude_none=True),
            **video_key(video.video_id),
            **pages.list_key(video_list_pk(video.owner), video.created_at, video.video_id),
        }
    )
    item["upload_slot"] = slot
    if upload_id:
        item["upload_id"] = upload_id
    try:
        aws.table(table_name).client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": table_name,
                        "Item": {
                            **_slot_key(video.owner, slot),
                            "video_id": video.video_id,
                            "expires_at": pending_until,
                        },
                        # Free, or held by an upload whose URLs have expired (TTL deletes lazily).
                        "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
                        "ExpressionAttributeValues": {":now": now_epoch},
                    }
                },
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": _owner_key(video.owner, f"DAY#{day}"),
                        "UpdateExpression": "ADD upload_bytes :n SET expires_at = :ttl",
                        "ConditionExpression": "attribute_not_exists(upload_bytes) OR upload_bytes <= :room",
                        "ExpressionAttributeValues": {
                            ":n": video.size_bytes,
                            ":room": max_bytes_per_day - video.size_bytes,
                            ":ttl": pending_until + DAY_COUNTER_TTL_S,
                        },
                    }
                },
            ]
        )
    except ClientError as error:
        reasons = aws.cancellation_codes(error)
        failed = [reason == "ConditionalCheckFailed" for reason in reasons]
        if len(failed) == 3 and failed[2]:
            raise DailyBytesExceeded() from error
        if len(failed) == 3 and failed[1]:
            raise SlotTaken() from error
        raise


def _load(item: dict[str, Any]) -> StoredVideo:
    return StoredVideo(
        video=Video.model_validate(item),
        upload_id=item.get("upload_id"),
        object_etag=item.get("object_etag"),
        source_key=item.get("source_key"),
        upload_slot=int(item["upload_slot"]) if item.get("upload_slot") is not None else None,
    )


@tracer.capture_method
def get_video(video_id: str) -> StoredVideo | None:
    item = _table().get_item(Key=video_key(video_id), ConsistentRead=True).get("Item")
    return _load(item) if item else None


def get_owned(video_id: str, owner: str) -> StoredVideo:
    """The video if `owner` owns it; a missing video and someone else's answer the same NotFound."""
    stored = get_video(video_id)
    if stored is None or stored.video.owner != owner:
        raise NotFound("no such video", details={"video_id": video_id})
    return stored


@tracer.capture_method
def list_owned(owner: str, *, limit: int, cursor: str | None, status: str | None) -> tuple[list[Video], str | None]:
    items, next_cursor = pages.newest_first(_table(), video_list_pk(owner), limit=limit, cursor=cursor, status=status)
    return [Video.model_validate(item) for item in items], next_cursor


@tracer.capture_method
def mark_deleting(video_id: str, owner: str) -> StoredVideo:
    """Flag the video as being deleted (clip requests are refused from here on); NotFound when it is gone."""
    try:
        answer = _table().update_item(
            Key=video_key(video_id),
            UpdateExpression="SET deleting_at = if_not_exists(deleting_at, :now)",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": owner, ":now": clock.iso_seconds()},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if _is_condition_failure(error):
            raise NotFound("no such video", details={"video_id": video_id}) from None
        raise
    return _load(answer["Attributes"])


@tracer.capture_method
def delete_records(stored: StoredVideo) -> None:
    """The video's record, and its pending-upload slot if it still holds one.

    The owner's day counter stays: bytes handed out today were handed out, deleted or not.
    """
    video = stored.video
    if video.status == VideoStatus.AWAITING_UPLOAD:
        _release_slot(video.owner, stored.upload_slot, video.video_id)
    _table().delete_item(Key=video_key(video.video_id))


@tracer.capture_method
def extend_pending(stored: StoredVideo, pending_until: int) -> bool:
    """Hold the pending-upload slot as long as the new URLs last, while the video still awaits its file
    and the slot is still its own; False otherwise."""
    video_id, owner = stored.video.video_id, stored.video.owner
    slot = _slot_key(owner, stored.upload_slot) if stored.upload_slot is not None else None
    table_name = storage_settings().table_name
    try:
        _table().client.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": table_name,
                        "Key": video_key(video_id),
                        "ConditionExpression": "#status = :awaiting AND attribute_not_exists(deleting_at)",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":awaiting": VideoStatus.AWAITING_UPLOAD.value},
                    }
                },
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": slot or _owner_key(owner, f"PENDING#{video_id}"),
                        "UpdateExpression": "SET expires_at = :until",
                        "ConditionExpression": "video_id = :id",
                        "ExpressionAttributeValues": {":until": pending_until, ":id": video_id},
                    }
                },
            ]
        )
    except ClientError as error:
        if aws.error_code(error) == "TransactionCanceledException":
            return False
        raise
    return True


@tracer.capture_method
def begin_validation(video_id: str) -> tuple[StoredVideo, bool] | None:
    """Move to validating; (video, first time) or None when the video is already decided or missing.

    A video already `validating` may start again: the previous attempt died (timeout, crash) and
    its message came back. Only the first move out of awaiting_upload reports `True`, so the
    upload is counted once however often its event is delivered.
    """
    try:
        answer = _table().update_item(
            Key=video_key(video_id),
            UpdateExpression="SET #status = :validating, updated_at = :now",
            ConditionExpression="attribute_exists(pk) AND #status IN (:awaiting, :validating)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":validating": VideoStatus.VALIDATING.value,
                ":awaiting": VideoStatus.AWAITING_UPLOAD.value,
                ":now": clock.iso_seconds(),
            },
            ReturnValues="ALL_OLD",
        )
    except ClientError as error:
        if _is_condition_failure(error):
            return None
        raise
    old = answer["Attributes"]
    first = old["status"] == VideoStatus.AWAITING_UPLOAD.value
    if first:
        _release_slot(old["owner"], old.get("upload_slot"), video_id)
    new = {**old, "status": VideoStatus.VALIDATING.value}
    return _load(new), first


def _release_slot(owner: str, slot: Any, video_id: str) -> None:
    """Free the upload's pending slot, unless it expired and another upload holds it now.

    A second write after the status change: should it fail, the slot frees itself when the upload's
    URLs expire (the condition on claiming it), so the owner may only wait, never overshoot.
    """
    key = _slot_key(owner, int(slot)) if slot is not None else _owner_key(owner, f"PENDING#{video_id}")
    try:
        _table().delete_item(Key=key, ConditionExpression="video_id = :id", ExpressionAttributeValues={":id": video_id})
    except ClientError as error:
        if not _is_condition_failure(error):
            raise


def _finish(
    video_id: str, status: VideoStatus, field: str, value: dict[str, Any], etag: str, also: dict[str, str] | None = None
) -> bool:
    extra = also or {}
    try:
        _table().update_item(
            Key=video_key(video_id),
            UpdateExpression=f"SET #status = :status, {field} = :value, object_etag = :etag, updated_at = :now"
            + "".join(f", {name} = :{name}" for name in extra),
            ConditionExpression="#status = :validating",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": status.value,
                ":value": aws.dynamo_values(value),
                ":etag": etag,
                ":validating": VideoStatus.VALIDATING.value,
                ":now": clock.iso_seconds(),
                **{f":{name}": text for name, text in extra.items()},
            },
        )
    except ClientError as error:
        if _is_condition_failure(error):
            return False
        raise
    return True


@tracer.capture_method
def mark_ready(video_id: str, media: MediaFacts, etag: str) -> bool:
    """validating -> ready, cut from the validated copy; False when another delivery got there first."""
    source = {"source_key": validated_object_key(video_id, etag)}
    return _finish(video_id, VideoStatus.READY, "media", media.model_dump(mode="json"), etag, source)


@tracer.capture_method
def mark_rejected(video_id: str, rejection: Rejection, etag: str) -> bool:
    """validating -> rejected; False when another delivery of the same event got there first."""
    return _finish(video_id, VideoStatus.REJECTED, "rejection", rejection.model_dump(mode="json"), etag)


# --- the uploaded objects (S3) ---------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    size_bytes: int
    etag: str


@tracer.capture_method
def presign_post(key: str, content_type: str, size_bytes: int, expiry_s: int) -> dict[str, Any]:
    """A presigned POST whose policy allows exactly this key, this Content-Type and at most the declared size."""
    bucket = storage_settings().uploads_bucket
    return aws.client("s3").generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", 1, size_bytes],
        ],
        ExpiresIn=expiry_s,
    )


@tracer.capture_method
def start_multipart(key: str, content_type: str, sizes: list[int], expiry_s: int) -> tuple[str, list[PartUrl]]:
    """A multipart upload and one URL per part, each signing its part's Content-Length (`sizes`, in order):
    S3 refuses a part of any other size, so the parts cannot add up to more than was declared."""
    bucket = storage_settings().uploads_bucket
    upload_id = aws.client("s3").create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    return upload_id, presign_parts(key, upload_id, sizes, expiry_s)


def presign_parts(key: str, upload_id: str, sizes: list[int], expiry_s: int) -> list[PartUrl]:
    s3 = aws.client("s3")
    bucket = storage_settings().uploads_bucket
    return [
        PartUrl(
            part_number=number,
            url=s3.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "UploadId": upload_id,
                    "PartNumber": number,
                    "ContentLength": size,
                },
                ExpiresIn=expiry_s,
            ),
        )
        for number, size in enumerate(sizes, start=1)
    ]


@tracer.capture_method
def multipart_open(key: str, upload_id: str) -> bool:
    """Whether the multipart upload still takes parts (not completed, aborted or expired)."""
    try:
        aws.client("s3").list_parts(Bucket=storage_settings().uploads_bucket, Key=key, UploadId=upload_id, MaxParts=1)
    except ClientError as error:
        if aws.error_code(error) == "NoSuchUpload":
            return False
        raise
    return True


@tracer.capture_method
def uploaded_parts(key: str, upload_id: str) -> dict[int, "ObjectInfo"]:
    """The parts S3 holds for this multipart upload, by part number: what completion would assemble."""
    parts: dict[int, ObjectInfo] = {}
    pages = aws.client("s3").get_paginator("list_parts")
    for page in pages.paginate(Bucket=storage_settings().uploads_bucket, Key=key, UploadId=upload_id):
        for part in page.get("Parts", []):
            parts[int(part["PartNumber"])] = ObjectInfo(int(part["Size"]), str(part["ETag"]).strip('"'))
    return parts


def abort_multipart(key: str, upload_id: str) -> None:
    try:
        aws.client("s3").abort_multipart_upload(Bucket=storage_settings().uploads_bucket, Key=key, UploadId=upload_id)
    except ClientError as error:
        logger.warning("multipart abort failed", error=aws.error_code(error))


@tracer.capture_method
def complete_multipart(key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
    aws.client("s3").complete_multipart_upload(
        Bucket=storage_settings().uploads_bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
    )


@tracer.capture_method
def head_upload(bucket: str, key: str) -> ObjectInfo | None:
    """Size and ETag of the object, or None when it is gone (moved away by an earlier delivery)."""
    try:
        head = aws.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if aws.error_code(error) in aws.NOT_FOUND_CODES:
            return None
        raise
    return ObjectInfo(size_bytes=int(head["ContentLength"]), etag=str(head["ETag"]).strip('"'))


@tracer.capture_method
def read_first_bytes(bucket: str, key: str, count: int = SNIFF_BYTES) -> bytes:
    answer = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{count - 1}")
    return answer["Body"].read(count)


def presign_probe_url(bucket: str, key: str, expiry_s: int) -> str:
    """A short-lived GET for ffprobe; the content type is forced so no stored type can steer a demuxer."""
    return aws.client("s3").generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentType": "application/octet-stream"},
        ExpiresIn=max(60, expiry_s),
    )


@tracer.capture_method
def keep_validated(bucket: str, key: str, video_id: str, etag: str) -> str:
    """Copy the validated object to validated/<video_id>/<etag>, a key no upload URL can write, if it is
    still the object validation read (ETag); ObjectChanged if it was written again meanwhile. Returns the key.

    Clips are cut from this copy, so a later write to the upload key can never reach a ready video.
    A single CopyObject (to 5 GB, the largest upload) checks the condition once, atomically.
    """
    target = validated_object_key(video_id, etag)
    try:
        aws.client("s3").copy_object(
            Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key}, CopySourceIfMatch=f'"{etag}"'
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "NoSuchKey", "404"):
            raise ObjectChanged(key) from error
        raise
    return target


@tracer.capture_method
def delete_upload(bucket: str, key: str) -> None:
    """Remove the uploaded object once its validated copy is the video (or a validated copy no record names)."""
    aws.client("s3").delete_object(Bucket=bucket, Key=key)


@tracer.capture_method
def move_out_of_uploads(bucket: str, key: str, mode: Literal["quarantine", "delete"]) -> str | None:
    """Take a rejected object out of uploads/: copied to quarantine/ (expired by lifecycle) or deleted.

    Returns the quarantine key, or None when deleted. The managed copy switches to a multipart
    copy above 5 GB, which a plain CopyObject refuses.
    """
    s3 = aws.client("s3")
    target = None
    if mode == "quarantine":
        target = quarantine_key(key)
        s3.copy({"Bucket": bucket, "Key": key}, bucket, target)
    s3.delete_object(Bucket=bucket, Key=key)
    return target


@tracer.capture_method
def delete_objects(video_id: str, upload_id: str | None) -> None:
    """The video's bytes: its upload, its validated and quarantine copies, any unfinished multipart upload."""
    key = upload_object_key(video_id)
    if upload_id:
        abort_multipart(key, upload_id)
    s3 = aws.client("s3")
    bucket = storage_settings().uploads_bucket
    # Validated copies are keyed by ETag (validated/<video_id>/<etag>): every one under the video's prefix.
    copies = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"validated/{video_id}/")
    validated = [item["Key"] for page in copies for item in page.get("Contents", [])]
    for target in (key, *validated, quarantine_key(key)):
        s3.delete_object(Bucket=bucket, Key=target)
