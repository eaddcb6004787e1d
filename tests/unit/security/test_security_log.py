"""Security events copied to the security log group: batching and stream names (no AWS)."""

from practika.security_log import MAX_EVENTS_PER_CALL, LogLine, batches, stream_name


def test_streams_are_named_by_day_and_source_log_group():
    # 2026-11-26 10:14:00 UTC
    assert stream_name("/practika-dev/validate", 1795688040000) == "2026/11/26/practika-dev-validate"


def test_a_burst_is_split_into_calls_put_log_events_accepts():
    lines = [LogLine(i, "x" * 100) for i in range(MAX_EVENTS_PER_CALL * 2 + 5)]

    calls = list(batches(lines))

    assert [len(c) for c in calls] == [MAX_EVENTS_PER_CALL, MAX_EVENTS_PER_CALL, 5]
    assert [line for call in calls for line in call] == lines


def test_large_lines_are_split_by_size_before_the_one_mebibyte_limit():
    lines = [LogLine(i, "y" * 200_000) for i in range(10)]

    calls = list(batches(lines))

    assert all(sum(len(line.message) + 26 for line in call) <= 1_048_576 for call in calls)
    assert sum(len(call) for call in calls) == 10
