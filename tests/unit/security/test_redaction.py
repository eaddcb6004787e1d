"""One redaction point for URLs and tokens in every log path (practika.observability)."""

import io
import json
import logging
import subprocess

import pytest

from practika.observability import InvocationFailed, RedactingFilter, logger, redact, redacted_failures

PRESIGNED = (
    "https://practika-uploads.s3.amazonaws.com/uploads/0123?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T000000Z"
    "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2lu&X-Amz-Signature=deadbeef"
)
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJl"
SECRETS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "deadbeef", "XXXXXXXX", JWT)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.parametrize(
    "text",
    [
        f"ffmpeg -i {PRESIGNED} -c copy out.mp4",
        f"{PRESIGNED[:200]}",  # a URL cut by length keeps no credential either
        "...&" + PRESIGNED.split("&", 1)[1],  # a query without its URL
        f"webhook {WEBHOOK} answered 404",
        f"Authorization: Bearer {JWT}",
        f'{{"token": "{JWT}"}}',
    ],
)
def test_a_line_keeps_no_credential_no_webhook_path_and_no_token(text):
    assert leaks(redact(text)) == []


def test_a_url_keeps_its_host_so_the_line_still_says_what_was_read():
    redacted = redact(f"probe of {PRESIGNED} failed")

    assert redacted == "probe of https://practika-uploads.s3.amazonaws.com/[redacted] failed"


def test_the_logger_redacts_messages_keys_and_tracebacks():
    written = io.StringIO()
    previous = logger.registered_handler.setStream(written)  # type: ignore[attr-defined]
    try:
        try:
            raise RuntimeError(f"could not read {PRESIGNED}")
        except RuntimeError:
            logger.exception("probe failed", detail=f"{PRESIGNED}: Invalid data", url=WEBHOOK)
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]

    line = json.loads(written.getvalue())
    assert line["message"] == "probe failed" and "RuntimeError" in line["exception"]
    assert leaks(written.getvalue()) == []


def test_lines_of_other_loggers_are_redacted_by_the_filter():
    record = logging.LogRecord("botocore", logging.WARNING, __file__, 1, "retrying %s", (PRESIGNED,), None)

    assert RedactingFilter().filter(record)
    assert leaks(logging.Formatter().format(record)) == []


def test_a_failure_whose_chain_holds_a_url_reaches_the_runtime_without_it(caplog):
    @redacted_failures
    def handler(event, context):
        try:
            subprocess.run(["sleep", "1"], timeout=0.01, check=False)  # noqa: S607 - a command that times out
        except subprocess.TimeoutExpired as expired:
            expired.cmd = ["ffmpeg", "-i", PRESIGNED]
            raise RuntimeError("cut failed") from expired

    with pytest.raises(InvocationFailed) as failed:
        handler({}, None)

    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert leaks(str(failed.value)) == []


def test_a_failure_without_secrets_reaches_the_runtime_unchanged():
    @redacted_failures
    def handler(event, context):
        raise KeyError("clip_id")

    with pytest.raises(KeyError):
        handler({}, None)


def test_a_probe_failure_names_no_credential_of_the_url_ffprobe_complained_about(monkeypatch):
    # Given ffprobe failing with a complaint that quotes the presigned URL it read
    from practika.media import probe, tools

    def failing_run(args, timeout_s):
        raise tools.ToolFailed(1, f"{PRESIGNED}: Invalid data found when processing input\n")

    monkeypatch.setattr(tools, "run", failing_run)

    # When the probe fails, Then its error (logged, and recorded in traces) carries no credential
    with pytest.raises(probe.ProbeFailed) as failure:
        probe.probe(PRESIGNED, timeout_s=5)
    assert leaks(str(failure.value)) == []
    assert "Invalid data found" in str(failure.value)
