"""Running ffmpeg and ffprobe safely: locked inputs and hard timeouts.

Every input we open comes from a user, so ffmpeg must never follow what the file says: a
crafted HLS playlist or ffconcat script disguised as .mp4 would otherwise make it fetch other
URLs or read local files. Two locks, always together:
- a demuxer allow-list (`-format_whitelist`): only the containers we accept are ever parsed,
  so playlist and concat demuxers never run on a user's file;
- a protocol allow-list (`-protocol_whitelist`): only the transport for the presigned URL.

Files we wrote ourselves are read with the file protocol only. The one concat script that runs
is the smart join's (`smart.join_command`): written by us, naming MP4s we wrote beside it, in
safe mode, with the MP4 demuxer as the only other one allowed.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass

from practika.settings import media_settings

# Demuxer names as ffmpeg registers them ("mov,mp4,m4a,3gp,3g2,mj2" is one demuxer).
ALLOWED_DEMUXERS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm")
# HTTPS in AWS; plain http is allowed only where MEDIA_ALLOW_HTTP says so (the local stack).
HTTPS_PROTOCOLS = ("https", "tls", "tcp")


class ToolTimeout(Exception):
    """ffmpeg/ffprobe ran out of its time budget and was killed."""


class ToolFailed(Exception):
    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"exited with {returncode}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class ToolResult:
    stdout: bytes
    stderr: str


def binary(name: str) -> str:
    """Path of ffmpeg or ffprobe: the layer's /opt/bin in Lambda, PATH elsewhere."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/opt/bin")
    if found is None:
        raise FileNotFoundError(f"{name} not found on PATH or in /opt/bin (run `make ffmpeg` locally)")
    return found


def allowed_protocols() -> str:
    protocols = list(HTTPS_PROTOCOLS)
    if media_settings().media_allow_http:
        protocols.append("http")
    return ",".join(protocols)


def locked_input_options() -> dict[str, str]:
    """Input options (ffmpeg-python style) that apply both locks and the decoders' picture-size cap;
    pass them with every `-i`."""
    return {
        "format_whitelist": ",".join(ALLOWED_DEMUXERS),
        "protocol_whitelist": allowed_protocols(),
        "max_pixels": str(media_settings().media_max_pixels),
    }


def ca_bundle_options() -> dict[str, str]:
    """Point the static build's TLS stack at the system CA bundle so HTTPS presigned URLs verify."""
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if os.path.exists(path):
            return {"ca_file": path, "tls_verify": "1"}
    return {}


# A stalled read fails (and is retried) instead of hanging until the whole budget is gone.
RW_TIMEOUT_US = 15_000_000
# The first range request after a seek is small: the demuxer often reads a few KB and seeks again.
INITIAL_REQUEST_BYTES = 64 * 1024
LOOPBACK = "http://127.0.0.1:"


def input_options(url: str, *, request_bytes: int) -> dict[str, str]:
    """Options for every `-i` of a user's file: the locks, and for a URL a stall timeout and bounded
    range requests of `request_bytes` (an open-ended `bytes=N-` makes S3 push the rest of the file into
    socket buffers after every seek), plus the CA bundle over TLS (ffmpeg rejects TLS options elsewhere)."""
    options = locked_input_options()
    if url.startswith(LOOPBACK):  # practika.media.rangecache: plain http to this machine, nothing else
        options["protocol_whitelist"] = "http,tcp"
    if url.startswith(("https:", "http:")):
        options["rw_timeout"] = str(RW_TIMEOUT_US)
        options["initial_request_size"] = str(INITIAL_REQUEST_BYTES)
        options["request_size"] = str(request_bytes)
        options["multiple_requests"] = "1"
    if url.startswith("https:"):
        options.update(ca_bundle_options())
    return options


def run(args: list[str], timeout_s: float) -> ToolResult:
    """Run a tool with a hard deadline; a tool still running at the deadline is killed."""
    if timeout_s <= 0:
        raise ToolTimeout("no time left to run " + os.path.basename(args[0]))
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as expired:
        raise ToolTimeout(f"{os.path.basename(args[0])} ran over {timeout_s:.1f}s") from expired
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise ToolFailed(done.returncode, stderr[-4000:])
    return ToolResult(stdout=done.stdout, stderr=stderr)


def time_budget_s(remaining_ms: int, margin_s: float = 10.0, floor_s: float = 1.0) -> float:
    """Seconds a tool may run given the Lambda's remaining time, keeping a margin to record the outcome."""
    return max(remaining_ms / 1000.0 - margin_s, min(floor_s, remaining_ms / 1000.0 / 2))
