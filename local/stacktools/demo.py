"""`make demo`: drive the local stack end to end and exit 0 only if every step worked.

Brings the stack up (or uses the one `make local` runs), checks health, uploads a generated
sample through a presigned POST with a progress bar, waits for validation, cuts a fast and an
accurate clip, and sends an ALARM and its OK through AlarmTopic to the chat sink.
"""

import io
import json
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from devstack.launcher import RunningStack, running_or_started
from devstack.template import ROOT
from stacktools.client import StackClient, WaitTimedOut, wait_for

STATE_DIR = ROOT / ".local"
EVENTS = ROOT / "events"


class DemoFailed(Exception):
    pass


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


class ProgressBody(io.BytesIO):
    """A request body that draws a progress bar as requests reads it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.total = len(data)
        self.shown = -1

    def __len__(self) -> int:
        return self.total

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(65536 if size is None or size < 0 else min(size, 65536))
        percent = self.tell() * 100 // self.total
        if chunk and percent != self.shown and (percent % 10 == 0 or percent == 100):
            self.shown = percent
            filled = percent * 30 // 100
            print(
                f"\r  uploading [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%",
                end="\n" if percent == 100 else "",
                flush=True,
            )
        return chunk


def _card_text(element: Any) -> str:
    """An Adaptive Card element's words: a TextBlock's text, or a RichTextBlock's runs joined."""
    if not isinstance(element, dict):
        return ""
    if element.get("type") == "RichTextBlock":
        return "".join(run.get("text", "") for run in element.get("inlines", []) if isinstance(run, dict))
    return str(element.get("text", ""))


def chat_summary(path: str, body: Any) -> str:
    """The first line a person would read of a post, whatever the chat's format."""
    text: Any = body
    if isinstance(body, dict):
        if path.startswith("/teams"):
            card = body["attachments"][0]["content"]
            text = next(filter(None, map(_card_text, card.get("body", []))), card)
        elif path.startswith("/discord"):
            text = body["embeds"][0].get("title", "") if body.get("embeds") else body.get("content", "")
        else:
            text = body.get("text", body)
    return str(text).splitlines()[0][:110]


def make_sample(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg = shutil.which("ffmpeg") or str(ROOT / ".cache" / "ffmpeg" / "bin" / "ffmpeg")
    subprocess.run(
        [
            ffmpeg,
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=12",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=12",
            "-c:v",
            "libx264",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )


def presigned_post(client: StackClient, upload: dict[str, Any], data: bytes, content_type: str) -> None:
    boundary = "practika-demo-boundary"
    parts = []
    for name, value in upload["fields"].items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="sample.mp4"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    body = ProgressBody(b"".join(parts))
    answer = client.http.post(
        upload["url"], data=body, timeout=120, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    if answer.status_code >= 300:
        raise DemoFailed(f"upload refused: {answer.status_code} {answer.text[:300]}")


def run(stack: RunningStack) -> None:
    client = StackClient(stack.description)
    user = "demo-user"

    step("health")
    answer = client.health()
    print(json.dumps(answer.json(), indent=2))
    if answer.status_code != 200:
        raise DemoFailed("the stack is not healthy")

    step("upload a sample video")
    sample = STATE_DIR / "demo" / "sample.mp4"
    make_sample(sample)
    data = sample.read_bytes()
    answer = client.create_video(user, "sample.mp4", "video/mp4", len(data))
    if answer.status_code != 201:
        raise DemoFailed(f"POST /videos answered {answer.status_code}: {answer.text}")
    video = answer.json()
    print(f"  video {video['video_id']}: {video['status']}, {len(data)} bytes, upload by {video['upload']['method']}")
    presigned_post(client, video["upload"], data, "video/mp4")

    step("validation")
    facts = wait_for(lambda: client.settled_video(user, video["video_id"]), timeout_s=120, what="validation")
    print(json.dumps(facts, indent=2))
    if facts["status"] != "ready":
        raise DemoFailed(f"the sample was rejected: {facts.get('rejection')}")

    step("clips")
    clips = []
    for mode, start, end in (("fast", 2.5, 6.0), ("accurate", 2.5, 6.0)):
        answer = client.request_clip(user, video["video_id"], {"start_s": start, "end_s": end, "mode": mode})
        if answer.status_code not in (200, 202):
            raise DemoFailed(f"clip request answered {answer.status_code}: {answer.text}")
        clips.append(answer.json()["clip_id"])
    for clip_id in clips:
        clip = wait_for(partial(client.settled_clip, user, clip_id), timeout_s=120, what=f"clip {clip_id}")
        print(json.dumps(clip, indent=2))
        if clip["status"] != "ready":
            raise DemoFailed(f"clip {clip_id} failed: {clip.get('error')}")
        if client.http.get(clip["download_url"], timeout=30).status_code != 200:
            raise DemoFailed("the clip's download URL does not work")

    step("alarm routing: an ALARM and its OK through AlarmTopic")
    sns = client.aws("sns")
    before = client.chat_log_length()
    for name in ("alarm-metric.json", "alarm-metric-ok.json"):
        message = json.loads((EVENTS / name).read_text())["Records"][0]["Sns"]["Message"]
        sns.publish(TopicArn=stack.resources["AlarmTopic"], Message=message, Subject="ALARM demo")
        time.sleep(0.5)

    destinations = len(json.loads((ROOT / "local" / "chat.json").read_text())["webhooks"])

    def arrived() -> list[dict[str, Any]] | None:
        records = client.chat_records(skip=before)
        return records if len(records) >= 2 * destinations else None

    records = wait_for(arrived, timeout_s=60, what="the ALARM and the OK in every chat")
    for record in records:
        path = record["path"].split("?")[0]
        print(f"  {path:<22} {record['status']}  {chat_summary(path, record['body'])}")


def main() -> None:
    stack = running_or_started(STATE_DIR)
    print(f"local stack: API {stack.api_url}, AWS {stack.description['aws_endpoint_url']}")
    print(f"upload page (open in a browser): {stack.description.get('web_url')}")
    try:
        run(stack)
    except (DemoFailed, WaitTimedOut) as failure:
        print(f"\ndemo FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        stack.stop()
    print("\ndemo OK: every step worked")


if __name__ == "__main__":
    main()
