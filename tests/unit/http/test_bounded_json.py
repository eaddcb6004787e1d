"""Request bodies are bounded before json.loads sees them (practika.http.bounded_json)."""

import json
import time

import pytest

from practika.errors import InvalidJson, PayloadTooLarge
from practika.http import MAX_BODY_BYTES, MAX_JSON_DEPTH, bounded_json, json_depth


def test_an_ordinary_body_parses_as_json_would():
    body = '{"start_s": 1.5, "end_s": 12, "mode": "fast", "parts": [{"part_number": 1, "etag": "\\"a[{\\""}]}'

    assert bounded_json(body) == json.loads(body)


@pytest.mark.parametrize("literal", ["1" * 4301, "-" + "9" * 65, "1." + "5" * 5000, "1e" + "0" * 80])
def test_a_number_longer_than_the_bound_is_refused_before_it_is_converted(literal):
    with pytest.raises(InvalidJson, match="number"):
        bounded_json('{"size_bytes": ' + literal + "}")


def test_nesting_deeper_than_the_bound_is_refused_and_brackets_inside_strings_do_not_count():
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)

    with pytest.raises(InvalidJson, match="nested"):
        bounded_json(deep)
    assert bounded_json('{"filename": "' + "[{" * 1000 + '"}') == {"filename": "[{" * 1000}
    assert json_depth(json.loads('{"a": [[{"b": "]]]]"}]]}')) == 4


def test_nesting_far_beyond_the_parsers_recursion_limit_is_refused_as_too_deep():
    with pytest.raises(InvalidJson, match="nested"):
        bounded_json("[" * 100_000 + "]" * 100_000)


def test_an_unterminated_string_of_escaped_quotes_is_refused_well_within_the_api_timeout():
    # A pattern that skipped string literals took 23 s on this 80 KB body (quadratic backtracking),
    # past the API function's 15 s timeout: one small request made a 5xx and held a function.
    body = '{"filename": "' + '\\"' * 40_000
    started = time.monotonic()

    with pytest.raises(json.JSONDecodeError):  # the resolver answers it 422 invalid_json
        bounded_json(body)
    assert time.monotonic() - started < 3


def test_a_body_above_the_size_bound_is_refused_as_too_large():
    with pytest.raises(PayloadTooLarge):
        bounded_json('{"pad": "' + "x" * MAX_BODY_BYTES + '"}')


def test_a_completion_naming_ten_thousand_parts_is_within_the_bounds():
    body = json.dumps({"parts": [{"part_number": n, "etag": f'"{n:032x}"'} for n in range(1, 10_001)]})

    assert len(bounded_json(body)["parts"]) == 10_000
