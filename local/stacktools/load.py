"""Load and reconciliation: push N uploads (good and bad mixed) and N clip requests through a local
stack with concurrency, then account for every id.

    python -m stacktools.load --uploads 200 --clips 200          # starts its own stack (what `make soak` runs)
    python -m stacktools.load --stack .local --uploads 20 ...    # drives the stack `make local` runs

The reconciliation lists every video and clip id with its final state and fails when anything is
unaccounted for: a video not `ready`/`rejected` (or decided differently from its corpus case), a
clip not `ready`/`failed`, a ready clip without exactly one object, an object without a ready
clip, a repeated clip request that made a second clip, or a DLQ message naming one of our ids.
With `--deletes N`, N videos are deleted at the end: nothing of them may remain in the buckets or
the table. Every id's final state must match exactly one terminal event accepted by the webhook
sink (video.ready/rejected, clip.ready/failed, video.deleted for the deleted ones); redeliveries of
one event id count once (at-least-once delivery) and are reported.
The fault e2e tests use the same helpers (`Driver`, `reconcile`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktools.client import DONE_CLIP, DONE_VIDEO, StackClient, WaitTimedOut, wait_for
from tests.mediafactory import STACK_PARAMS, MediaCase, build_corpus

# A port nothing listens on: the corpus' playlist and concat cases point there.
CANARY_URL = "http://127.0.0.1:9/canary"
UPLOADS_PER_USER = 5  # below MaxPendingUploads (10)


def corpus(directory: Path) -> list[MediaCase]:
    return list(build_corpus(directory, CANARY_URL).values())


@dataclass
class Sent:
    """One upload the harness made: what it was and what the pipeline decided."""

    video_id: str
    user: str
    case: MediaCase
    status: str = "unknown"
    code: str | None = None
    duration_s: float = 0.0
    deleted: bool = False


@dataclass
class Asked:
    clip_id: str
    user: str
    video_id: str
    body: dict[str, Any]
    http_status: int
    status: str = "unknown"
    error: str | None = None
    repeat_of: str | None = None


@dataclass
class Report:
    videos: list[Sent] = field(default_factory=list)
    clips: list[Asked] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dlq: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    redelivered_events: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"video {v.video_id} {v.case.name} {v.status} {v.code or '-'}" + (" (deleted)" if v.deleted else "")
            for v in self.videos
        ]
        out += [
            f"clip {c.clip_id} video={c.video_id} {c.body['mode']} {c.status} {c.error or '-'}"
            + (" (repeat)" if c.repeat_of else "")
            for c in self.clips
        ]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "videos": dict(Counter(v.status for v in self.videos)),
            "clips": dict(Counter(c.status for c in self.clips if not c.repeat_of)),
            "repeated_clip_requests": sum(1 for c in self.clips if c.repeat_of),
            "deleted_videos": sum(1 for v in self.videos if v.deleted),
            "events": self.events,
            "redelivered_events": self.redelivered_events,
            "dlq_messages_naming_our_ids": self.dlq,
            "problems": len(self.problems),
            "seconds": round(self.seconds, 1),
        }


class Driver(StackClient):
    """The load tool's use of the stack: many users' uploads and clips, and what is left in S3 and the DLQs."""

    def upload(self, user: str, case: MediaCase) -> str:
        data = case.path.read_bytes()
        answer = self.create_video(user, case.filename, case.content_type, max(len(data), 1))
        if answer.status_code != 201:
            raise AssertionError(f"POST /videos answered {answer.status_code}: {answer.text}")
        created = answer.json()
        if created["upload"]["method"] != "POST":
            raise AssertionError("the load corpus is below the multipart threshold")
        sent = self.post_upload(created["upload"], data, case.filename, case.content_type)
        if sent.status_code not in (200, 201, 204):
            raise AssertionError(f"presigned POST answered {sent.status_code}: {sent.text[:300]}")
        return str(created["video_id"])

    def delete_video(self, user: str, video_id: str) -> int:
        return self.http.delete(f"{self.api}/videos/{video_id}", headers=self.headers(user), timeout=60).status_code

    def accepted_events(self) -> list[dict[str, Any]]:
        """Every webhook delivery the sink accepted (2xx), in order; an event id may repeat."""
        path = Path(str(self.description["webhook_log"]))
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [line["body"] for line in lines if line["status"] < 300 and isinstance(line["body"], dict)]

    def leftovers(self, ids: set[str]) -> list[str]:
        """Objects (both buckets) and table items naming one of `ids`."""
        found = []
        s3 = self.aws("s3")
        for bucket in (self.resources["UploadsBucket"], self.resources["ClipsBucket"]):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                found += [o["Key"] for o in page.get("Contents", []) if any(i in o["Key"] for i in ids)]
        for page in self.aws("dynamodb").get_paginator("scan").paginate(TableName=self.resources["AppTable"]):
            found += [
                f"item {item['pk']['S']} {item['sk']['S']}"
                for item in page["Items"]
                if any(i in json.dumps(item) for i in ids)
            ]
        return found

    def wait_videos(self, sent: list[Sent], timeout_s: float) -> None:
        pending = list(sent)

        def all_decided() -> bool:
            for item in list(pending):
                body = self.get_video(item.user, item.video_id).json()
                item.status = body["status"]
                if item.status in DONE_VIDEO:
                    item.code = (body.get("rejection") or {}).get("code")
                    item.duration_s = float((body.get("media") or {}).get("duration_s") or 0)
                    pending.remove(item)
            return not pending

        _wait_quietly(all_decided, timeout_s)

    def wait_clips(self, asked: list[Asked], timeout_s: float) -> None:
        pending = list(asked)

        def all_done() -> bool:
            for item in list(pending):
                body = self.get_clip(item.user, item.clip_id).json()
                item.status = body["status"]
                if item.status in DONE_CLIP:
                    item.error = (body.get("error") or {}).get("code")
                    pending.remove(item)
            return not pending

        _wait_quietly(all_done, timeout_s)

    def dlq_bodies(self) -> dict[str, list[str]]:
        """Every message body parked in IngestDLQ and ClipDLQ (read without removing them)."""
        sqs = self.aws("sqs")
        found: dict[str, list[str]] = {}
        for name in ("IngestDLQ", "ClipDLQ"):
            url = self.resources[name]
            bodies: dict[str, str] = {}
            for _ in range(5):
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                bodies.update({m["MessageId"]: m["Body"] for m in messages})
            found[name] = list(bodies.values())
        return found

    def clip_objects(self) -> Counter[str]:
        s3 = self.aws("s3")
        keys: Counter[str] = Counter()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.resources["ClipsBucket"]):
            for item in page.get("Contents", []):
                keys[item["Key"]] += 1
        return keys


def _wait_quietly(probe: Any, timeout_s: float) -> None:
    """Wait, and leave what is still pending to the reconciliation, which reports each id."""
    with contextlib.suppress(WaitTimedOut):
        wait_for(probe, timeout_s=timeout_s, interval_s=0.5)


def push_uploads(driver: Driver, cases: list[MediaCase], count: int, concurrency: int, prefix: str) -> list[Sent]:
    def one(i: int) -> Sent:
        user = f"{prefix}-{i // UPLOADS_PER_USER}"
        case = cases[i % len(cases)]
        return Sent(driver.upload(user, case), user, case)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def clip_bodies(videos: list[Sent], count: int) -> list[tuple[Sent, dict[str, Any]]]:
    """`count` clip requests over the ready videos: distinct ranges, both modes, every 6th a repeat."""
    usable = [v for v in videos if v.status == "ready" and v.duration_s >= 1.5]
    if not usable:
        return []
    wanted: list[tuple[Sent, dict[str, Any]]] = []
    for j in range(count):
        if j % 6 == 5:
            wanted.append(wanted[j - 3])
            continue
        video = usable[j % len(usable)]
        slot = j // len(usable)
        start = round((slot * 0.04) % max(video.duration_s - 1.05, 0.01), 3)
        wanted.append(
            (
                video,
                {"start_s": start, "end_s": round(start + 1.0, 3), "mode": "accurate" if (j + slot) % 2 else "fast"},
            )
        )
    return wanted


def push_clips(driver: Driver, videos: list[Sent], count: int, concurrency: int) -> list[Asked]:
    wanted = clip_bodies(videos, count)

    def one(item: tuple[Sent, dict[str, Any]]) -> Asked:
        video, body = item
        answer = driver.request_clip(video.user, video.video_id, body)
        clip_id = answer.json().get("clip_id", "") if answer.status_code in (200, 202) else ""
        return Asked(clip_id, video.user, video.video_id, body, answer.status_code)

    with ThreadPoolExecutor(concurrency) as pool:
        asked = list(pool.map(one, wanted))
    first: dict[str, str] = {}
    for item in asked:
        key = json.dumps([item.video_id, item.body], sort_keys=True)
        if key in first:
            item.repeat_of = first[key]
        else:
            first[key] = item.clip_id
    return asked


def delete_some(driver: Driver, videos: list[Sent], count: int, concurrency: int) -> list[Sent]:
    """Delete `count` videos spread over the run (with their clips); each must answer 202."""
    chosen = videos[:: max(1, len(videos) // count)][:count] if count else []
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda v: driver.delete_video(v.user, v.video_id), chosen))
    for video, status in zip(chosen, answers, strict=True):
        if status != 202:
            raise AssertionError(f"DELETE /videos/{video.video_id} answered {status}")
        video.deleted = True
    return chosen


def expected_events(videos: list[Sent], clips: list[Asked]) -> dict[str, set[str]]:
    """The terminal event types each id must have had delivered, from its final state."""
    wanted: dict[str, set[str]] = {}
    for v in videos:
        wanted[v.video_id] = {f"video.{v.status}"} | ({"video.deleted"} if v.deleted else set())
    for c in clips:
        if c.clip_id and not c.repeat_of and c.status in DONE_CLIP:
            wanted[c.clip_id] = {f"clip.{c.status}"}
    return wanted


TERMINAL = {"video.ready", "video.rejected", "video.deleted", "clip.ready", "clip.failed"}


def delivered_events(driver: Driver, ids: set[str]) -> tuple[dict[str, Counter[str]], int]:
    """Terminal events per id, each event id counted once, and how many redeliveries were seen."""
    per_id: dict[str, Counter[str]] = {}
    seen: set[str] = set()
    redelivered = 0
    for event in driver.accepted_events():
        data = event.get("data") or {}
        subject = str(data.get("clip_id") or data.get("video_id"))
        if subject not in ids or event.get("type") not in TERMINAL:
            continue
        if event["id"] in seen:
            redelivered += 1
            continue
        seen.add(event["id"])
        per_id.setdefault(subject, Counter())[event["type"]] += 1
    return per_id, redelivered


def wait_events(driver: Driver, wanted: dict[str, set[str]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got, _ = delivered_events(driver, set(wanted))
        if all(set(got.get(i, {})) >= types for i, types in wanted.items()):
            return
        time.sleep(0.5)


def reconcile(driver: Driver, videos: list[Sent], clips: list[Asked], *, events: bool = False) -> Report:
    """Every id's final state, and every way it could be lost or doubled; with `events`, the terminal
    events the webhook sink accepted too (after `wait_events`)."""
    report = Report(videos=videos, clips=clips)
    for v in videos:
        if v.status not in DONE_VIDEO:
            report.problems.append(f"video {v.video_id} ({v.case.name}) still {v.status}")
        elif v.status != v.case.status or (v.case.code and v.code != v.case.code):
            report.problems.append(
                f"video {v.video_id} ({v.case.name}) is {v.status}/{v.code}, expected {v.case.status}/{v.case.code}"
            )
    ids_by_request: dict[str, set[str]] = {}
    created: Counter[str] = Counter()  # 202 answers per distinct request: a racing repeat may be the one
    for c in clips:
        if c.http_status not in (200, 202) or not c.clip_id:
            report.problems.append(f"clip request {c.body} on {c.video_id} answered {c.http_status}")
            continue
        created[json.dumps([c.video_id, c.body], sort_keys=True)] += c.http_status == 202
        ids_by_request.setdefault(json.dumps([c.video_id, c.body], sort_keys=True), set()).add(c.clip_id)
        if c.status not in DONE_CLIP:
            report.problems.append(f"clip {c.clip_id} still {c.status}")
    report.problems += [f"one request made clips {sorted(ids)}" for ids in ids_by_request.values() if len(ids) > 1]
    report.problems += [f"request {key} answered 202 {n} times" for key, n in created.items() if n != 1]
    gone = {v.video_id for v in videos if v.deleted}
    ours = {f"clips/{c.video_id}/{c.clip_id}.mp4": c for c in clips if c.clip_id and c.video_id not in gone}
    objects = driver.clip_objects()
    for key, c in ours.items():
        if c.status == "ready" and objects.get(key) != 1:
            report.problems.append(f"ready clip {c.clip_id} has {objects.get(key, 0)} objects")
        if c.status != "ready" and key in objects:
            report.problems.append(f"{c.status} clip {c.clip_id} has an object")
    ids = {v.video_id: v for v in videos} | {c.clip_id: c for c in clips if c.clip_id}
    for queue, bodies in driver.dlq_bodies().items():
        named = [i for i in ids if any(i in body for body in bodies)]
        report.dlq[queue] = len(named)
        report.problems += [f"{queue} holds a message for {i}" for i in named]
    gone_clips = {c.clip_id for c in clips if c.clip_id and c.video_id in gone}
    report.problems += [f"left after delete: {what}" for what in (driver.leftovers(gone | gone_clips) if gone else [])]
    if events:
        wanted = expected_events(videos, clips)
        got, report.redelivered_events = delivered_events(driver, set(wanted))
        for subject, types in wanted.items():
            counts = got.get(subject, Counter())
            if set(counts) != types or any(n != 1 for n in counts.values()):
                report.problems.append(
                    f"{subject} has terminal events {dict(counts)}, expected one each of {sorted(types)}"
                )
        report.events = dict(sum(got.values(), Counter()))
    return report


def run(
    driver: Driver,
    cases: list[MediaCase],
    *,
    uploads: int,
    clips: int,
    concurrency: int = 8,
    timeout_s: float = 600,
    prefix: str = "load",
    deletes: int = 0,
) -> Report:
    started = time.monotonic()
    videos = push_uploads(driver, cases, uploads, concurrency, f"{prefix}-{int(time.time() * 1000) % 10**8}")
    driver.wait_videos(videos, timeout_s)
    asked = push_clips(driver, videos, clips, concurrency)
    driver.wait_clips([c for c in asked if c.clip_id], timeout_s)
    delete_some(driver, videos, deletes, concurrency)
    events = "webhook_log" in driver.description
    if events:
        wait_events(driver, expected_events(videos, asked), min(timeout_s, 120))
    report = reconcile(driver, videos, asked, events=events)
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    from devstack.launcher import running_stack, start_stack

    parser = argparse.ArgumentParser(
        prog="stacktools.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--deletes", type=int, default=50, help="videos deleted at the end (with their clips)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--stack", help="state dir of a running stack (default: start one in .local/soak)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for final states")
    parser.add_argument("--report", default=".local/soak-report.json")
    args = parser.parse_args(argv)

    root = Path(__file__).resolve().parents[2]
    own = None
    if args.stack:
        found = running_stack(Path(args.stack))
        if found is None:
            raise SystemExit(f"no running stack in {args.stack}")
        description = found.description
    else:
        own = start_stack(
            root / ".local" / "soak",
            params=STACK_PARAMS,
            env={"LOCAL_VISIBILITY_TIMEOUT_S": "60", "LOCAL_CONCURRENCY": "2"},
        )
        description = own.description
    try:
        cases = corpus(root / ".local" / "soak-corpus")
        report = run(
            Driver(description),
            cases,
            uploads=args.uploads,
            clips=args.clips,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            deletes=args.deletes,
        )
    finally:
        if own:
            own.stop()
    for line in report.lines():
        print(line)
    for problem in report.problems:
        print("PROBLEM", problem)
    print(json.dumps(report.summary()))
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(
        json.dumps({"summary": report.summary(), "ids": report.lines(), "problems": report.problems}, indent=1)
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
