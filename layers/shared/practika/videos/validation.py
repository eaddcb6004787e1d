"""Validation of an uploaded object: from its bytes to `ready` with media facts or `rejected` with a code.

Nothing a client said is trusted: not the file name, not the content type, not the declared
size. The verdict comes from the first bytes (sniffing), ffprobe's reading of the container
index over a presigned GET, and a scan of the video's packets (every key frame decoded, whole
up to SCAN_WHOLE_BYTES, else sampled), checked against configured limits.
"""

import time
from collections.abc import Callable

from practika.media import tools
from practika.media.probe import ProbeCrashed, ProbeFailed, probe, scan_video, sniff
from practika.observability import MetricName, SecurityEvent, count_by, log_security_event, logger, metrics, tracer
from practika.settings import validation_settings
from practika.videos import store
from practika.videos.model import Outcome, RejectionCode, S3ObjectRef, VideoStatus
from practika.videos.rules import (
    UPLOADS_PREFIX,
    Verdict,
    check_size,
    is_video_id,
    judge_report,
    judge_unreadable,
    reject,
    s3_objects,
    video_stream,
)

# Below this much time a probe could not finish fairly: the message is retried instead of the
# video being rejected for our lack of time.
MIN_PROBE_BUDGET_S = 3.0


class NotEnoughTime(Exception):
    """Too little Lambda time is left to probe fairly; the message is retried."""


# A crashed ffprobe says nothing about the file: the message is retried, and only a file that
# crashes it on this many deliveries (fewer than IngestQueue's maxReceiveCount) is rejected.
CRASH_ATTEMPTS = 3


class _Deadline:
    def __init__(self, budget_s: float) -> None:
        self.ends = time.monotonic() + budget_s

    def left(self) -> float:
        return self.ends - time.monotonic()


@tracer.capture_method
def inspect(bucket: str, key: str, size_bytes: int, budget_s: float, attempt: int = 1) -> Verdict:
    """Sniff, probe and sample-decode the object; every ffprobe run shares one deadline.

    `attempt` is the message's delivery count: a crash of ffprobe is retried until CRASH_ATTEMPTS.
    """
    limits = validation_settings()
    deadline = _Deadline(budget_s)
    sniffed = sniff(store.read_first_bytes(bucket, key))
    url = store.presign_probe_url(bucket, key, int(budget_s) + 30)
    try:
        report = probe(url, deadline.left())
        metrics.add_metric(name=MetricName.PROBE_MS, unit="Milliseconds", value=report.probe_ms)
        stream = video_stream(report)
        verdict = judge_report(report, sniffed, size_bytes, limits)
        if (verdict.media is None and verdict.code != RejectionCode.CORRUPT) or stream is None:
            return verdict  # (a live recording states no duration: "corrupt" until its packets are read)
        scan = scan_video(
            url, stream.index, deadline.left(), size_bytes=size_bytes, whole_bytes=limits.scan_whole_bytes,
            duration_s=report.format.duration, start_s=report.format.start_time or 0.0,
        )  # fmt: skip
        metrics.add_metric(name=MetricName.SCAN_MS, unit="Milliseconds", value=scan.scan_ms)
        logger.info("video scanned", whole=scan.whole, packets=scan.packets, keyframes=scan.keyframes,
                    end_s=scan.end_s, scan_ms=scan.scan_ms)  # fmt: skip
        return judge_report(report, sniffed, size_bytes, limits, scan)
    except ProbeFailed as failed:
        return judge_unreadable(sniffed, failed.detail)
    except ProbeCrashed as crashed:
        if attempt < CRASH_ATTEMPTS:
            raise
        return reject(
            RejectionCode.CORRUPT, "the file could not be read", SecurityEvent.TOOL_CRASH, detail=str(crashed)
        )
    except tools.ToolTimeout as timeout:
        return reject(RejectionCode.PROBE_TIMEOUT, "the file could not be read in time", detail=str(timeout))


def _time_budget(remaining_ms: int) -> float:
    budget = min(validation_settings().probe_timeout_s, tools.time_budget_s(remaining_ms))
    if budget < MIN_PROBE_BUDGET_S:
        raise NotEnoughTime(f"{budget:.1f}s left")
    return budget


def _move_out(ref: S3ObjectRef) -> None:
    target = store.move_out_of_uploads(ref.bucket, ref.key, validation_settings().rejected_objects)
    logger.info("rejected object moved", key=ref.key, to=target or "deleted")


def _unknown_upload(ref: S3ObjectRef) -> Outcome:
    if store.head_upload(ref.bucket, ref.key) is None:
        return Outcome.GONE
    log_security_event(SecurityEvent.UNKNOWN_UPLOAD, "object without an upload", owner=None, key=ref.key)
    count_by(MetricName.VALIDATION_FAILURES, "reason", Outcome.UNKNOWN_UPLOAD)
    _move_out(ref)
    return Outcome.UNKNOWN_UPLOAD


def _settle_stale(ref: S3ObjectRef, stored: store.StoredVideo) -> Outcome:
    """An event for a video already decided: change nothing, but take whatever is in uploads/ out of it.

    A ready video is its validated copy; an object under its upload key is either a write after
    validation (the POST policy stays usable until it expires) or the upload a failed run left behind.
    """
    found = store.head_upload(ref.bucket, ref.key)
    status = stored.video.status
    if found is not None and status == VideoStatus.READY:
        replaced = found.etag != stored.object_etag
        if replaced:
            log_security_event(
                SecurityEvent.OBJECT_REPLACED,
                "validated object replaced",
                owner=stored.video.owner,
                key=ref.key,
                etag=found.etag,
            )
        # Videos validated before the copy existed (no source_key) are still read from uploads/.
        if stored.source_key and replaced:
            _move_out(ref)
        elif stored.source_key:
            store.delete_upload(ref.bucket, ref.key)  # the copy is the video: a run stopped before this
    elif found is not None and status == VideoStatus.REJECTED:
        _move_out(ref)
    logger.info("stale event ignored", status=status.value)
    return Outcome.STALE


def _drop_losing_copy(bucket: str, video_id: str, kept: str) -> None:
    """Another run decided the video first: delete this run's copy unless the record names it (the same
    bytes validated twice share one key)."""
    decided = store.get_video(video_id)
    if decided is None or decided.source_key != kept:
        store.delete_upload(bucket, kept)
        logger.info("losing validated copy deleted", key=kept)


@tracer.capture_method
def validate_message(body: str, remaining_ms: Callable[[], int], attempt: int) -> list[Outcome]:
    """Decide every created object one queue message names (`attempt`: its delivery count)."""
    refs = s3_objects(body)
    if not refs:
        logger.info("message without created objects skipped")
    outcomes = []
    for ref in refs:
        try:
            outcome = validate_object(ref, remaining_ms(), attempt)
            logger.info("object handled", key=ref.key, outcome=outcome.value)
        finally:
            logger.remove_keys(["video_id"])
        outcomes.append(outcome)
    return outcomes


@tracer.capture_method
def validate_object(ref: S3ObjectRef, remaining_ms: int, attempt: int = 1) -> Outcome:
    """Decide one created object: ready with its media facts, or rejected with a code (logged)."""
    settings = validation_settings()
    if ref.bucket != settings.uploads_bucket or not ref.key.startswith(UPLOADS_PREFIX):
        logger.warning("object outside uploads ignored", bucket=ref.bucket, key=ref.key)
        return Outcome.IGNORED
    video_id = ref.key.removeprefix(UPLOADS_PREFIX)
    stored = store.get_video(video_id) if is_video_id(video_id) else None
    if stored is None:
        return _unknown_upload(ref)
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    budget_s = _time_budget(remaining_ms)
    begun = store.begin_validation(video_id)
    if begun is None:
        return _settle_stale(ref, stored)
    stored, first = begun
    found = store.head_upload(ref.bucket, ref.key)
    if found is None:
        logger.info("object already gone")
        return Outcome.GONE
    if first:
        metrics.add_metric(name=MetricName.VIDEO_UPLOADS, unit="Count", value=1)
        metrics.add_metric(name=MetricName.UPLOAD_BYTES, unit="Bytes", value=found.size_bytes)
    verdict = check_size(found.size_bytes, stored.video.size_bytes, settings.max_upload_bytes) or inspect(
        ref.bucket, ref.key, found.size_bytes, budget_s, attempt
    )
    if verdict.media is not None:
        try:
            kept = store.keep_validated(ref.bucket, ref.key, video_id, found.etag)
        except store.ObjectChanged:
            # Written again while being validated: that write's own event validates the new bytes.
            logger.info("object changed during validation")
            return Outcome.STALE
        if not store.mark_ready(video_id, verdict.media, found.etag):
            _drop_losing_copy(ref.bucket, video_id, kept)
            return Outcome.STALE
        store.delete_upload(ref.bucket, ref.key)
        logger.info("video ready", **verdict.media.model_dump())
        return Outcome.READY
    assert verdict.rejection is not None
    if not store.mark_rejected(video_id, verdict.rejection, found.etag):
        return Outcome.STALE
    code = verdict.rejection.code
    count_by(MetricName.VALIDATION_FAILURES, "reason", code)
    if verdict.security_event is not None:
        log_security_event(
            verdict.security_event, "video rejected", owner=stored.video.owner, reason=code, detail=verdict.detail
        )
    else:
        logger.info("video rejected", reason=code, detail=verdict.detail)
    _move_out(ref)
    return Outcome.REJECTED
