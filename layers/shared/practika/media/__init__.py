"""Media probing and cutting with ffprobe and ffmpeg."""
