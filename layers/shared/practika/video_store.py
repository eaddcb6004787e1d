"""Data access for video records (DynamoDB)."""

from typing import Any

from practika import aws
from practika.errors import NotFound
from practika.models import Video, video_key
from practika.observability import tracer
from practika.settings import storage_settings


def _table() -> Any:
    return aws.table(storage_settings().table_name)


@tracer.capture_method
def get_owned_video(video_id: str, owner: str) -> Video:
    """The video if `owner` owns it; a missing video and someone else's answer the same NotFound."""
    item = _table().get_item(Key=video_key(video_id), ConsistentRead=True).get("Item")
    if not item or item.get("owner") != owner:
        raise NotFound("no such video", details={"video_id": video_id})
    return Video.model_validate(item)
