"""Timestamps as the records and answers carry them (DESIGN.md shapes; each kept as first published)."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso_seconds(moment: datetime | None = None) -> str:
    """Video records and upload answers: `2026-11-26T12:00:00Z`."""
    return (moment or now()).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_millis(moment: datetime | None = None) -> str:
    """Clip records and the health answer: `2026-11-26T12:00:00.123+00:00`."""
    return (moment or now()).isoformat(timespec="milliseconds")
