"""How long delivery waits between attempts (the retries themselves run against a real server in integration)."""

from datetime import UTC, datetime

from practika.alarms import delivery


def test_retry_after_in_seconds_is_honoured():
    assert delivery.retry_after_seconds("3") == 3.0


def test_retry_after_as_an_http_date_is_the_time_until_then():
    now = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)

    assert delivery.retry_after_seconds("Mon, 02 Mar 2026 10:00:05 GMT", now=now) == 5.0


def test_a_missing_or_garbled_retry_after_falls_back_to_backoff():
    assert delivery.retry_after_seconds(None) is None
    assert delivery.retry_after_seconds("soon") is None


def test_backoff_grows_with_jitter_and_is_capped():
    first = [delivery.backoff_seconds(1) for _ in range(50)]
    late = [delivery.backoff_seconds(10) for _ in range(50)]

    assert all(0.25 <= w <= 0.5 for w in first)
    assert len(set(first)) > 1
    assert all(delivery.BACKOFF_CAP_S / 2 <= w <= delivery.BACKOFF_CAP_S for w in late)
