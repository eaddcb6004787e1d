"""Clips: the worker, one clip job from queued to ready (or failed with a code)."""

import math
import time
from collections.abc import Callable
from datetime import datetime

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from practika.clips import rules, store
from practika.clips.model import (
    Clip,
    ClipError,
    ClipErrorCode,
    ClipJob,
    ClipMode,
    ClipRange,
    ClipStatus,
    ClipTimes,
    clip_object_key,
)
from practika.media import tools
from practika.media.cut import CutError, CutResult, cut_clip
from practika.observability import MetricName, SecurityEvent, count_by, log_security_event, logger, metrics, tracer
from practika.settings import ClipOutputLimits, clip_output_limits, clip_settings

# The worker marks a clip failed on this delivery at the latest, so the clip tells the user why
# before the queue's redrive policy (maxReceiveCount above this) parks the message in the DLQ.
MAX_ATTEMPTS = 3
# Seconds kept back from the Lambda's remaining time for the upload and the final status write.
WORKER_MARGIN_S = 20.0
# A job is sent before its clip's record is written (clips.service), so it may arrive first, and the
# job of a request that failed never gets one. A request writes only while the clip API runs: a record
# still missing this long after its job was sent never comes. Above ClipApiFunction's Timeout (15 s).
RECORD_WAIT_S = 20.0
# How long one delivery polls for a missing record (the API writes it milliseconds after sending):
# longer than that, the job goes back to the queue until RECORD_WAIT_S is over, so a job whose
# record never comes holds a worker for this, not for the whole window.
RECORD_POLL_S = 1.0


# How far past the requested end a clip may run: a fast copy's B-frame tail, the last frame's display.
END_SLACK_S = 2.0


def output_problem(
    result: CutResult, requested: ClipRange, limits: ClipOutputLimits
) -> tuple[ClipErrorCode, str] | None:
    """(code, message) when what the cut wrote breaks the clip's or the video's limits, else None.

    The request was checked, but the file is what the source's frames made of it: a fast copy
    from the only key frame of a long video, a last frame lasting ten hours, a picture size that
    changes part-way. Checked before upload, so such a file never reaches the user or a metric.
    """
    too_far_back = requested.start_s - result.start_s
    if result.duration_s > limits.max_clip_seconds and requested.mode == ClipMode.FAST and too_far_back > 0:
        return ClipErrorCode.KEYFRAME_TOO_FAR, (
            f"the nearest key frame is {too_far_back:.1f} s before the start, so a fast clip would last "
            f"{result.duration_s:.1f} s (at most {limits.max_clip_seconds:g}); an accurate clip starts where asked"
        )
    if result.duration_s > limits.max_clip_seconds or result.end_s > requested.end_s + END_SLACK_S:
        return ClipErrorCode.OUTPUT_TOO_LONG, (
            f"the cut lasts {result.duration_s:.1f} s and ends at {result.end_s:.1f} s for a request ending at "
            f"{requested.end_s:g} s (at most {limits.max_clip_seconds:g} s): the source's timestamps are broken"
        )
    long_limit, short_limit = max(limits.max_width, limits.max_height), min(limits.max_width, limits.max_height)
    if max(result.width, result.height) > long_limit or min(result.width, result.height) > short_limit:
        return ClipErrorCode.OUTPUT_RESOLUTION_TOO_HIGH, (
            f"the cut is {result.width}x{result.height}; at most {limits.max_width}x{limits.max_height}"
        )
    if result.fps > limits.max_fps:
        return (
            ClipErrorCode.OUTPUT_FRAME_RATE_TOO_HIGH,
            f"the cut has {result.fps:g} frames a second; at most {limits.max_fps:g}",
        )
    if result.size_bytes > limits.max_upload_bytes:
        return (
            ClipErrorCode.OUTPUT_TOO_LARGE,
            f"the cut is {result.size_bytes} bytes; at most {limits.max_upload_bytes}",
        )
    return None


class ClipRetry(Exception):
    """A transient failure: the record is reported failed to SQS so the message comes back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class RecordPending(ClipRetry):
    """The job's record is not there (yet): the message should come back in `retry_in_s`, when the
    record-wait window is over, rather than after the queue's visibility timeout (90 minutes)."""

    def __init__(self, retry_in_s: int) -> None:
        super().__init__("record_pending", f"no clip record yet, retry in {retry_in_s} s")
        self.retry_in_s = retry_in_s


def run_job(body: str, *, attempt: int, remaining_ms: Callable[[], int], sent_at_s: float | None = None) -> Clip | None:
    """One clip queue message (`attempt`: its delivery count, `sent_at_s`: when it was sent, epoch seconds);
    raises ClipRetry for the queue to redeliver."""
    job = ClipJob.model_validate_json(body)
    logger.append_keys(clip_id=job.clip_id)
    tracer.put_annotation(key="clip_id", value=job.clip_id)
    try:
        return process_clip(job.clip_id, attempt=attempt, remaining_ms=remaining_ms, sent_at_s=sent_at_s)
    finally:
        logger.remove_keys(["clip_id", "video_id"])


@tracer.capture_method
def process_clip(
    clip_id: str, *, attempt: int, remaining_ms: Callable[[], int], sent_at_s: float | None = None
) -> Clip | None:
    """Run one clip job: processing -> cut -> upload -> ready, or failed with a code.

    Transient failures are raised (the queue redelivers) until the last attempt, which marks
    the clip failed; deterministic ones mark it failed at once. A clip already ready or failed
    is left alone, so a redelivered message never cuts twice. A job whose record does not exist
    RECORD_WAIT_S after it was sent (`sent_at_s`, epoch seconds) belongs to a failed request: dropped.
    """
    try:
        clip = _take(clip_id, remaining_ms, time.time() if sent_at_s is None else sent_at_s)
    except store.ClipMissing:
        logger.warning("clip job without a record dropped")
        return None
    if clip.status != ClipStatus.PROCESSING:
        logger.info("clip already finished", status=clip.status.value)
        return None
    budget_s = tools.time_budget_s(remaining_ms(), margin_s=WORKER_MARGIN_S)
    tracer.put_annotation(key="video_id", value=clip.video_id)
    logger.append_keys(video_id=clip.video_id)
    started = time.perf_counter()
    try:
        source = store.presign_source(clip.video_id, expires_s=int(budget_s) + 60)
        with cut_clip(
            source.url,
            start_s=clip.requested.start_s,
            end_s=clip.requested.end_s,
            mode=clip.requested.mode.value,
            timeout_s=budget_s,
            source_bytes_per_s=source.bytes_per_s,
            source_size=source.size_bytes,
        ) as result:
            problem = output_problem(result, clip.requested, clip_output_limits())
            if problem is not None:
                logger.warning("clip outside limits", start_s=result.start_s, duration_s=result.duration_s,
                               width=result.width, height=result.height, fps=result.fps)  # fmt: skip
                raise CutError(*problem, transient=False)
            store.upload_clip(result.path, clip_object_key(clip.video_id, clip_id))
    except CutError as error:
        return _failed(clip, error.code, error.message, transient=error.transient, attempt=attempt)
    except store.SourceMissing as missing:
        return _failed(clip, ClipErrorCode.SOURCE_MISSING, str(missing), transient=False, attempt=attempt)
    except store.SourceReplaced as replaced:
        log_security_event(SecurityEvent.OBJECT_REPLACED, "clip source replaced after validation", owner=clip.owner)
        return _failed(clip, ClipErrorCode.SOURCE_REPLACED, str(replaced), transient=False, attempt=attempt)
    except (ClientError, BotoCoreError, Boto3Error) as error:
        # Boto3Error: upload_file wraps a failed PutObject in S3UploadFailedError, which is neither of
        # the others; left uncaught it kept the lease and the clip stuck in `processing` until the DLQ.
        return _failed(clip, ClipErrorCode.STORAGE_ERROR, type(error).__name__, transient=True, attempt=attempt)
    actual = ClipTimes(start_s=result.start_s, end_s=result.end_s, duration_s=result.duration_s)
    done = store.mark_ready(clip_id, actual, result.size_bytes, result.method)
    if done is None:
        # Deleted while it was cut (DELETE /clips or its video's DELETE): the file must not outlive it.
        store.delete_clip_object(clip)
        logger.info("clip deleted while cut, file removed")
        return None
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    metrics.add_metric(name=MetricName.CLIP_DURATION_SECONDS, unit="Seconds", value=actual.duration_s)
    metrics.add_metric(name=MetricName.CLIP_PROCESSING_MS, unit="Milliseconds", value=elapsed_ms)
    if result.source_bytes_read is not None:
        metrics.add_metric(name=MetricName.CLIP_SOURCE_BYTES_READ, unit="Bytes", value=result.source_bytes_read)
    logger.info(
        "clip ready",
        method=result.method,
        duration_s=actual.duration_s,
        start_s=actual.start_s,
        processing_ms=elapsed_ms,
        size_bytes=result.size_bytes,
        source_bytes_read=result.source_bytes_read,
    )
    return done


def _take(clip_id: str, remaining_ms: Callable[[], int], sent_at_s: float) -> Clip:
    """The clip taken for processing (status processing), or as it stands when already finished.

    A record not written yet is polled for RECORD_POLL_S, then the job is retried later (RecordPending)
    until RECORD_WAIT_S after it was sent, then dropped (ClipMissing). A clip failed for a passing reason
    before this job was sent is about to be queued again by the request that sent it (clips.service
    sends, then requeues): it counts as not written yet, not as finished.
    """
    polled_until = time.monotonic() + RECORD_POLL_S
    while True:
        lease_s = tools.time_budget_s(remaining_ms(), margin_s=WORKER_MARGIN_S) + WORKER_MARGIN_S
        try:
            clip = store.start_processing(clip_id, lease_s=lease_s)
            if not _requeue_pending(clip, sent_at_s):
                return clip
        except store.ClipMissing:
            pass
        left_s = sent_at_s + RECORD_WAIT_S - time.time()
        if left_s <= 0:
            raise store.ClipMissing(clip_id)
        if time.monotonic() >= polled_until:
            raise RecordPending(retry_in_s=math.ceil(left_s))
        time.sleep(0.25)


def _requeue_pending(clip: Clip, sent_at_s: float) -> bool:
    """A retryable failure recorded before this job was sent: its request will set it queued again."""
    return (
        clip.status == ClipStatus.FAILED
        and rules.can_retry(clip)
        and datetime.fromisoformat(clip.updated_at).timestamp() < sent_at_s
    )


def retry_later(receipt_handle: str, retry_in_s: int) -> None:
    """Bring a job back in `retry_in_s` instead of after the queue's visibility timeout. Should that
    fail, the job comes back after the timeout and is dropped: its clip is queued again by a new POST."""
    try:
        store.delay_job(clip_settings().clip_queue_url, receipt_handle, retry_in_s)
    except (ClientError, BotoCoreError) as error:
        logger.warning("clip job not delayed", error=type(error).__name__)


def _failed(clip: Clip, code: str, message: str, *, transient: bool, attempt: int) -> Clip | None:
    if transient and attempt < MAX_ATTEMPTS:
        logger.warning("clip attempt failed, will retry", error_code=code, attempt=attempt)
        store.release(clip.clip_id)
        raise ClipRetry(code, message)
    logger.error("clip failed", error_code=code, attempt=attempt, transient=transient)
    error = ClipError(code=code, message=message)
    if transient:  # every attempt failed the same passing way: say how many were made
        error = ClipError(code=code, message=f"{message} (after {attempt} attempts)", attempts=attempt)
    failed = store.mark_failed(clip.clip_id, error)
    count_by(MetricName.CLIP_FAILURES, "code", code)
    return failed
