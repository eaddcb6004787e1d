"""Media: ffprobe and ffmpeg run safely (tools), a file's facts and first bytes (probe), and
clips cut by stream copy or re-encode (cut), accurate ones re-encoding only their edge GOPs (smart)."""
