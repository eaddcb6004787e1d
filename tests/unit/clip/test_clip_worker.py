"""The clip job and the worker's partial batch responses, with storage and ffmpeg faked."""

import json
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_template
from practika.clips import store as clip_store
from practika.clips import worker as clip_worker
from practika.clips.model import Clip, ClipError, ClipMode, ClipRange, ClipStatus, ClipTimes
from practika.media.cut import CutError, CutResult

QUEUED = Clip(
    clip_id="c" * 32,
    video_id="vid_1",
    owner="alice",
    status=ClipStatus.QUEUED,
    requested=ClipRange(start_s=2.5, end_s=4.5, mode=ClipMode.FAST),
    filename="a-clip-2.5-4.5.mp4",
    created_at="2026-11-26T12:00:00+00:00",
    updated_at="2026-11-26T12:00:00+00:00",
)


class Fakes:
    def __init__(self) -> None:
        self.clip: Clip | None = QUEUED
        self.uploaded: list[str] = []
        self.released = 0
        self.cut_error: CutError | None = None
        self.cut_calls = 0
        self.cut_bytes_per_s: float | None = None
        self.missing_for = 0  # how many more reads find no record (a job that arrived before its record)
        self.reads = 0
        self.on_read: dict[int, Clip] = {}  # the record as another writer leaves it before read n

    def start_processing(self, clip_id: str, *, lease_s: float) -> Clip:
        self.reads += 1
        self.clip = self.on_read.get(self.reads, self.clip)
        if self.missing_for or self.clip is None:
            self.missing_for -= 1
            raise clip_store.ClipMissing(clip_id)
        if self.clip.status in (ClipStatus.READY, ClipStatus.FAILED):
            return self.clip
        self.clip = self.clip.model_copy(update={"status": ClipStatus.PROCESSING})
        return self.clip

    def release(self, clip_id: str) -> None:
        self.released += 1

    def presign_source(self, video_id: str, *, expires_s: int) -> clip_store.SourceRead:
        return clip_store.SourceRead("https://uploads.example/uploads/vid_1?sig", 2_500_000, bytes_per_s=312_500.0)

    def upload_clip(self, path: Path, key: str) -> None:
        self.uploaded.append(key)

    def mark_ready(self, clip_id: str, actual: ClipTimes, size_bytes: int, method: str | None = None) -> Clip:
        assert self.clip is not None
        self.clip = self.clip.model_copy(update={"status": ClipStatus.READY, "actual": actual, "method": method})
        return self.clip

    def mark_failed(self, clip_id: str, error: ClipError) -> Clip:
        assert self.clip is not None
        self.clip = self.clip.model_copy(update={"status": ClipStatus.FAILED, "error": error})
        return self.clip

    @contextmanager
    def cut_clip(
        self,
        url: str,
        *,
        start_s: float,
        end_s: float,
        mode: str,
        timeout_s: float,
        source_bytes_per_s: float | None,
        source_size: int | None,
    ):
        self.cut_calls += 1
        self.cut_bytes_per_s = source_bytes_per_s
        if self.cut_error:
            raise self.cut_error
        yield CutResult(Path("/tmp/x.mp4"), 2.0, 4.6, 2.6, 2.6, 2.5, 1234, 5678)


@pytest.fixture
def fakes(monkeypatch) -> Fakes:
    fake = Fakes()
    for name in ("start_processing", "release", "presign_source", "upload_clip", "mark_ready", "mark_failed"):
        monkeypatch.setattr(clip_store, name, getattr(fake, name))
    monkeypatch.setattr(clip_worker, "cut_clip", fake.cut_clip)
    return fake


def remaining() -> int:
    return 300_000


def test_a_job_cuts_uploads_and_marks_the_clip_ready_with_the_measured_times(fakes):
    done = clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining)

    assert done is not None and done.status == ClipStatus.READY
    assert done.actual == ClipTimes(start_s=2.0, end_s=4.6, duration_s=2.6)
    assert fakes.uploaded == [f"clips/vid_1/{QUEUED.clip_id}.mp4"]
    # and the cut's range requests were sized from the source's byte rate
    assert fakes.cut_bytes_per_s == 312_500.0


def test_a_finished_clip_is_never_cut_again(fakes):
    fakes.clip = QUEUED.model_copy(update={"status": ClipStatus.READY})

    assert clip_worker.process_clip(QUEUED.clip_id, attempt=2, remaining_ms=remaining) is None
    assert fakes.cut_calls == 0


def test_a_job_that_arrives_before_its_record_waits_for_it_and_cuts_the_clip(fakes):
    # The clip API sends the job, then writes the record: a fast worker can read before that write.
    fakes.missing_for = 2

    done = clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining, sent_at_s=time.time())

    assert done is not None and done.status == ClipStatus.READY
    assert fakes.cut_calls == 1


def test_a_job_without_its_record_goes_back_to_the_queue_instead_of_holding_the_worker(fakes):
    # A request refused after sending its job (a racing quota) never writes the record: the worker
    # polls briefly, then hands the job back until the record-wait window is over.
    fakes.clip = None
    sent = time.time()

    started = time.monotonic()
    with pytest.raises(clip_worker.RecordPending) as pending:
        clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining, sent_at_s=sent)

    assert time.monotonic() - started < clip_worker.RECORD_POLL_S + 1
    assert fakes.reads <= 8
    assert 0 < pending.value.retry_in_s <= clip_worker.RECORD_WAIT_S
    assert sent + pending.value.retry_in_s >= sent + clip_worker.RECORD_WAIT_S - 2
    assert fakes.cut_calls == 0


def test_a_job_handed_back_for_its_record_comes_back_soon_not_after_the_visibility_timeout(
    event, lambda_context, monkeypatch
):
    from clip import worker

    delayed: list[tuple[str, str, int]] = []
    monkeypatch.setenv("CLIP_QUEUE_URL", "https://queue.example/clip")
    monkeypatch.setattr(clip_store, "delay_job", lambda url, handle, seconds: delayed.append((url, handle, seconds)))

    def process(clip_id: str, *, attempt: int, remaining_ms: Any, sent_at_s: float) -> None:
        if clip_id == "early":
            raise clip_worker.RecordPending(retry_in_s=17)

    monkeypatch.setattr(clip_worker, "process_clip", process)
    template = event("sqs-clip-job.json")["Records"][0]
    record = {**template, "messageId": "m-early", "body": json.dumps({"clip_id": "early"})}

    result = worker.handler({"Records": [template, record]}, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert delayed == [("https://queue.example/clip", record["receiptHandle"], 17)]


def test_a_retried_failed_clip_whose_job_arrives_before_its_requeue_is_cut(fakes):
    # The clip API sends the retry's job, then flips failed -> queued: the worker may read `failed` first.
    failed = QUEUED.model_copy(
        update={
            "status": ClipStatus.FAILED,
            "error": ClipError(code="timeout", message="ran over (after 3 attempts)", attempts=3),
            "updated_at": "2026-11-26T12:00:00.000+00:00",
        }
    )
    fakes.on_read = {1: failed, 2: QUEUED}

    done = clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining, sent_at_s=time.time())

    assert done is not None and done.status == ClipStatus.READY
    assert fakes.cut_calls == 1


def test_a_clip_that_failed_after_its_job_was_sent_is_finished(fakes):
    # A redelivery of the very job that failed it: not to be cut again.
    fakes.clip = QUEUED.model_copy(
        update={"status": ClipStatus.FAILED, "error": ClipError(code="timeout", message="ran over", attempts=3)}
    )
    sent = datetime.fromisoformat(QUEUED.updated_at).timestamp() - 60

    assert clip_worker.process_clip(QUEUED.clip_id, attempt=4, remaining_ms=remaining, sent_at_s=sent) is None
    assert fakes.cut_calls == 0


def test_a_job_whose_record_never_came_is_dropped_without_cutting(fakes, caplog):
    # Its request failed after sending the job: no record RECORD_WAIT_S after the job was sent.
    fakes.clip = None
    sent = time.time() - clip_worker.RECORD_WAIT_S - 1

    assert clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining, sent_at_s=sent) is None
    assert fakes.cut_calls == 0
    assert "clip job without a record dropped" in caplog.text


def test_a_job_waits_for_its_record_longer_than_the_clip_api_can_still_write_it():
    api_timeout = load_template()["Globals"]["Function"]["Timeout"]
    api = load_template()["Resources"]["ClipApiFunction"]["Properties"]

    assert api.get("Timeout", api_timeout) < clip_worker.RECORD_WAIT_S


def test_a_transient_failure_is_retried_and_the_lease_given_back(fakes):
    fakes.cut_error = CutError("timeout", "ffmpeg ran over", transient=True)

    with pytest.raises(clip_worker.ClipRetry):
        clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining)

    assert fakes.clip is not None and fakes.clip.status == ClipStatus.PROCESSING
    assert fakes.released == 1


def test_a_transient_failure_on_the_last_attempt_fails_the_clip_with_its_code_and_the_attempts(fakes):
    fakes.cut_error = CutError("timeout", "ffmpeg ran over", transient=True)

    done = clip_worker.process_clip(QUEUED.clip_id, attempt=clip_worker.MAX_ATTEMPTS, remaining_ms=remaining)

    assert done is not None and done.status == ClipStatus.FAILED
    assert done.error == ClipError(code="timeout", message="ffmpeg ran over (after 3 attempts)", attempts=3)


def test_a_deterministic_failure_fails_the_clip_at_once(fakes, capsys):
    fakes.cut_error = CutError("cut_failed", "ffmpeg could not cut the clip", transient=False)

    done = clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining)

    assert done is not None and done.error is not None and done.error.code == "cut_failed"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "ClipFailures" in line]
    assert emf[0]["code"] == "cut_failed"


def test_a_missing_source_is_final(fakes, monkeypatch):
    def gone(video_id: str, *, expires_s: int) -> str:
        raise clip_store.SourceMissing("gone")

    monkeypatch.setattr(clip_store, "presign_source", gone)

    done = clip_worker.process_clip(QUEUED.clip_id, attempt=1, remaining_ms=remaining)

    assert done is not None and done.error is not None and done.error.code == "source_missing"


def test_the_worker_reports_only_the_records_that_must_come_back(event, lambda_context, monkeypatch):
    from clip import worker

    def process(clip_id: str, *, attempt: int, remaining_ms: Any, sent_at_s: float) -> None:
        if clip_id == "retry-me":
            raise clip_worker.ClipRetry("timeout", "ran over")

    monkeypatch.setattr(clip_worker, "process_clip", process)
    template = event("sqs-clip-job.json")["Records"][0]
    records = [
        {**template, "messageId": f"m-{clip_id}", "body": json.dumps({"clip_id": clip_id})}
        for clip_id in ("fine", "retry-me", "also-fine")
    ]

    result = worker.handler({"Records": records}, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-retry-me"}]}
