"""Faults injected into a dedicated local stack (docs/FAULTS.md): after each one every upload ends
ready or rejected, every clip ready or failed, or its message sits in a DLQ; nothing is silently
gone, no clip is cut twice, no chat message is posted twice.

The stack is this module's own (faults must never leak into the session stack), with short
visibility and function timeouts so redeliveries and deadlines happen in seconds.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.launcher import RunningStack, start_stack
from devstack.template import load_template
from stacktools.client import wait_for
from stacktools.load import Asked, Driver, Sent, reconcile
from tests.mediafactory import STACK_PARAMS, MediaCase, make_video

FAULT_ENV = {
    "LOCAL_VISIBILITY_TIMEOUT_S": "4",
    # The clip worker's tools get 30 - 20 = 10 s; validation min(120, 30 - 10) = 20 s.
    "LOCAL_FUNCTION_TIMEOUTS": "ClipWorkerFunction=30 ValidateFunction=30 AlarmRouterFunction=30",
    "DEVSTACK_FAULT_SHIMS": "1",
}


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("fault-stack"), params=STACK_PARAMS, env=FAULT_ENV)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, MediaCase]:
    d = tmp_path_factory.mktemp("fault-media")
    (d / "notes.mp4").write_text("not a video at all\n" * 40)
    return {
        "good": MediaCase("good", make_video(d / "good.mp4"), "video/mp4", "ready"),
        "bad": MediaCase("bad", d / "notes.mp4", "video/mp4", "rejected", code="not_a_video"),
    }


@pytest.fixture
def faults(fault_stack) -> Iterator[Any]:
    """Set the stack's fault rules; cleared after the test. Returns the rules with their `fired` counts."""
    url = f"{fault_stack.description['control_url']}/faults"

    def put(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = requests.post(url, json=rules, timeout=5)
        answer.raise_for_status()
        return list(answer.json())

    yield put
    put([])
    requests.post(f"{fault_stack.description['chat_sink_url']}/_control", json={"status": 200, "times": 0}, timeout=5)


def fired(stack: RunningStack) -> list[int]:
    return [rule["fired"] for rule in requests.get(f"{stack.description['control_url']}/faults", timeout=5).json()]


def upload_all(driver: Driver, cases: dict[str, MediaCase], user: str) -> list[Sent]:
    return [Sent(driver.upload(user, case), user, case) for case in cases.values()]


def ready_video(driver: Driver, cases: dict[str, MediaCase], user: str) -> Sent:
    video = Sent(driver.upload(user, cases["good"]), user, cases["good"])
    driver.wait_videos([video], 60)
    assert video.status == "ready"
    return video


def times_cut(stack: RunningStack, clip_id: str) -> int:
    """How many times the worker delivered this clip (its "clip ready" log lines)."""
    worker_log = function_log(stack, "ClipWorkerFunction")
    return sum(1 for e in worker_log if e.get("message") == "clip ready" and e.get("clip_id") == clip_id)


def ask(driver: Driver, video: Sent, start: float, mode: str = "fast") -> Asked:
    body = {"start_s": start, "end_s": start + 1.0, "mode": mode}
    answer = driver.request_clip(video.user, video.video_id, body)
    assert answer.status_code == 202, answer.text
    return Asked(answer.json()["clip_id"], video.user, video.video_id, body, answer.status_code)


def function_log(stack: RunningStack, function: str) -> list[dict[str, Any]]:
    lines = (Path(stack.description["logs_dir"]) / f"{function}.log").read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def assert_accounted(driver: Driver, videos: list[Sent], clips: list[Asked]) -> None:
    report = reconcile(driver, videos, clips)
    assert report.problems == [], report.lines()


def test_s3_get_object_failing_past_the_sdk_retries_still_decides_every_upload(fault_stack, faults, cases):
    driver = Driver(fault_stack.description)
    # Standard retry mode makes 3 attempts: 4 failures fail the first invocation, the redelivery succeeds.
    faults(
        [
            {
                "service": "s3",
                "operation": "GetObject",
                "function": "ValidateFunction",
                "error": "InternalError",
                "times": 4,
            }
        ]
    )

    videos = upload_all(driver, cases, "fault-get")
    driver.wait_videos(videos, 60)

    assert fired(fault_stack) == [4]
    assert_accounted(driver, videos, [])


def test_throttled_dynamodb_writes_in_validation_and_clipping_are_absorbed_by_sdk_retries(fault_stack, faults, cases):
    driver = Driver(fault_stack.description)
    faults(
        [
            {
                "service": "dynamodb",
                "operation": "UpdateItem",
                "function": "ValidateFunction",
                "error": "ProvisionedThroughputExceededException",
                "times": 2,
            },
            {
                "service": "dynamodb",
                "operation": "UpdateItem",
                "function": "ClipWorkerFunction",
                "error": "ProvisionedThroughputExceededException",
                "times": 2,
            },
        ]
    )

    video = ready_video(driver, cases, "fault-ddb")
    clip = ask(driver, video, 0.0)
    driver.wait_clips([clip], 60)

    assert fired(fault_stack) == [2, 2]
    assert clip.status == "ready"
    assert_accounted(driver, [video], [clip])


def test_s3_put_object_failing_while_a_clip_is_stored_ends_ready_or_failed_never_stuck(fault_stack, faults, cases):
    driver = Driver(fault_stack.description)
    video = ready_video(driver, cases, "fault-put")
    faults(
        [
            {
                "service": "s3",
                "operation": "PutObject",
                "function": "ClipWorkerFunction",
                "error": "InternalError",
                "times": 4,
            }
        ]
    )

    clip = ask(driver, video, 0.5, "accurate")
    driver.wait_clips([clip], 60)

    assert clip.status == "ready", clip
    assert_accounted(driver, [video], [clip])


def test_a_clip_worker_slower_than_the_visibility_timeout_cuts_the_clip_once(fault_stack, faults, cases):
    driver = Driver(fault_stack.description)
    video = ready_video(driver, cases, "fault-slow")
    # ffmpeg takes 7 s: the message comes back (visibility 4 s) while the first worker still cuts.
    faults([{"tool": "ffmpeg", "action": "slow", "delay_s": 7, "function": "ClipWorkerFunction", "times": 1}])

    clip = ask(driver, video, 0.2)
    driver.wait_clips([clip], 60)

    assert fired(fault_stack) == [1]
    assert clip.status == "ready"
    assert times_cut(fault_stack, clip.clip_id) == 1
    assert_accounted(driver, [video], [clip])


def test_crashing_and_hanging_ffmpeg_leave_every_video_and_clip_decided(fault_stack, faults, cases):
    driver = Driver(fault_stack.description)
    video = ready_video(driver, cases, "fault-tools")
    faults(
        [
            {"tool": "ffprobe", "action": "crash", "function": "ValidateFunction", "times": 1},
            {"tool": "ffmpeg", "action": "crash", "function": "ClipWorkerFunction", "times": 1},
        ]
    )

    crashed_probe = upload_all(driver, {"good": cases["good"]}, "fault-tools")
    crashed_cut = ask(driver, video, 0.1, "accurate")
    driver.wait_videos(crashed_probe, 60)
    driver.wait_clips([crashed_cut], 60)
    assert fired(fault_stack) == [1, 1]
    # A crash of our own tool is not a verdict on the file: the retried probe decides it.
    assert crashed_probe[0].status == "ready"
    assert crashed_cut.status in ("ready", "failed")

    faults([{"tool": "ffmpeg", "action": "hang", "function": "ClipWorkerFunction", "times": 1}])
    hung = ask(driver, video, 0.3, "accurate")
    driver.wait_clips([hung], 90)

    assert fired(fault_stack) == [1]
    # The hung ffmpeg is killed at the deadline (transient `timeout`), the redelivery cuts it.
    assert hung.status == "ready"
    for sent in crashed_probe:  # the crash's outcome is not the corpus' expectation: only that it is final
        sent.case = MediaCase(sent.case.name, sent.case.path, sent.case.content_type, sent.status, sent.code)
    assert_accounted(driver, [video, *crashed_probe], [crashed_cut, hung])


def test_a_chat_that_times_out_still_gets_every_alarm_once_per_destination(fault_stack, faults, event):
    sink = fault_stack.description["chat_sink_url"]
    # Longer than the router's read timeout (10 s): the first post times out and is retried.
    requests.post(f"{sink}/_control", json={"delay_s": 11, "times": 1}, timeout=5)
    name = "fault-chat-timeout"
    body = json.loads(event("alarm-metric.json")["Records"][0]["Sns"]["Message"])
    body["AlarmName"] = name
    Driver(fault_stack.description).aws("sns").publish(
        TopicArn=fault_stack.resources["AlarmTopic"], Message=json.dumps(body)
    )

    def records() -> list[dict[str, Any]]:
        lines = Path(fault_stack.description["chat_log"]).read_text().splitlines()
        return [r for r in map(json.loads, lines) if name in json.dumps(r["body"])]

    def settled() -> list[dict[str, Any]] | None:
        posts = [r for r in records() if r["status"] == 200 and not r.get("delayed_s")]
        return posts if len(posts) >= 5 else None

    posts = wait_for(settled, timeout_s=90)
    paths = [p["path"].split("?")[0] for p in posts]
    assert len(paths) == len(set(paths)) == 5, paths
    # Only the request the router gave up on can be an extra copy (a webhook has no idempotency key).
    assert sum(1 for r in records() if r.get("delayed_s")) == 1


@pytest.fixture
def rushed_stack(tmp_path) -> Iterator[RunningStack]:
    # 12 s leave the validate worker less than its 3 s minimum probe budget: it retries, never rejects.
    running = start_stack(
        tmp_path,
        params=STACK_PARAMS,
        env={"LOCAL_VISIBILITY_TIMEOUT_S": "1", "LOCAL_FUNCTION_TIMEOUTS": "ValidateFunction=12"},
    )
    yield running
    running.stop()


def test_a_validator_that_never_has_enough_time_parks_the_upload_in_the_dlq_with_an_alarm(rushed_stack, cases):
    driver = Driver(rushed_stack.description)
    video = Sent(driver.upload("fault-rushed", cases["good"]), "fault-rushed", cases["good"])

    parked = wait_for(lambda: [b for b in driver.dlq_bodies()["IngestDLQ"] if video.video_id in b], timeout_s=60)

    assert len(parked) == 1
    assert driver.get_video(video.user, video.video_id).json()["status"] in ("awaiting_upload", "validating")
    template = load_template()
    alarmed = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "IngestDLQ" in json.dumps(r["Properties"].get("Dimensions", []))
    ]
    assert alarmed, "no alarm watches IngestDLQ"


# A clip request whose job or record write fails inside ClipApiFunction, past the SDK's retries.
CLIP_REQUEST_FAULTS = {
    # Three failures use up the SDK's three attempts of the first request's SendMessage.
    "job-not-queued": {"service": "sqs", "operation": "SendMessage", "error": "InternalError", "times": 3},
    # Not retried by the SDK (DynamoDB's own retries absorb 9 throttles): the first request's write fails.
    "record-not-written": {
        "service": "dynamodb",
        "operation": "TransactWriteItems",
        "error": "TransactionCanceledException",
        "status": 400,
        "times": 1,
    },
}


@pytest.mark.parametrize("name", CLIP_REQUEST_FAULTS)
def test_a_clip_request_that_fails_inside_leaves_nothing_and_its_retry_is_cut_once(fault_stack, faults, cases, name):
    driver = Driver(fault_stack.description)
    video = ready_video(driver, cases, f"fault-{name}")
    fault = CLIP_REQUEST_FAULTS[name]
    faults([{**fault, "function": "ClipApiFunction"}])
    body = {"start_s": 0.4, "end_s": 1.4, "mode": "fast"}

    failed = driver.request_clip(video.user, video.video_id, body)
    retried = driver.request_clip(video.user, video.video_id, body)

    # The failed request left no clip behind: the retry creates it (202, not 200 with a clip stuck in
    # queued), and the clip is cut once.
    assert fired(fault_stack) == [fault["times"]]
    assert failed.status_code >= 500, failed.text
    assert retried.status_code == 202, retried.text
    clip = Asked(retried.json()["clip_id"], video.user, video.video_id, body, retried.status_code)
    driver.wait_clips([clip], 60)
    assert clip.status == "ready"
    assert times_cut(fault_stack, clip.clip_id) == 1
    assert_accounted(driver, [video], [clip])


# What may never appear in a log line: presigned URL credentials, bearer tokens (JWTs), webhook URLs.
SECRETS = re.compile(r"X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Bearer\s+\S{8,}|eyJ[\w-]{8,}\.[\w-]+")


def test_no_function_log_of_the_fault_suite_holds_a_credential_or_a_webhook_url(fault_stack, faults, cases):
    # Given the fault suite above, plus a rejected upload (ffprobe's error names the URL it read) and an
    # ffmpeg killed at its deadline (the timeout's command line holds the presigned source URL)
    driver = Driver(fault_stack.description)
    rejected = upload_all(driver, {"bad": cases["bad"]}, "fault-redact")
    video = ready_video(driver, cases, "fault-redact")
    faults([{"tool": "ffmpeg", "action": "hang", "function": "ClipWorkerFunction", "times": 1}])
    hung = ask(driver, video, 0.7, "accurate")
    driver.wait_videos(rejected, 60)
    driver.wait_clips([hung], 90)
    assert fired(fault_stack) == [1]

    # When every log of the stack is read (each function's, and the emulator's own)
    webhooks = [
        fault_stack.description["chat_sink_url"] + path
        for path in json.loads(Path("local/chat.json").read_text())["webhooks"].values()
    ]
    leaks = []
    for log in sorted(Path(fault_stack.description["logs_dir"]).glob("*.log")):
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            if SECRETS.search(line) or any(url in line for url in webhooks):
                leaks.append(f"{log.name}:{number}: {line[:300]}")

    # Then none holds a credential or a webhook URL
    assert leaks == [], "\n".join(leaks[:20])
