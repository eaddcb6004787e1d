"""Generated notifications with hostile strings in every field: every platform's own validator accepts
the payload, nothing from the notification is live markup, and nothing crashes.

Two sources: notifications built field by field, and the real notifications (events/ and the outside
samples) with every string in them replaced, so the parsers see hostile input too.
"""

import json
from datetime import UTC
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from practika.alarms.format import DestinationType, render
from practika.alarms.model import Notification, Severity, Source, State
from practika.alarms.parse import SnsMessage, parse
from tests.unit.alarms.inert import INJECTIONS, live_markup
from tests.unit.alarms.samples import EVENTS, OWN_EVENTS, sample_files, sns_messages
from tests.unit.alarms.validators import validate

# Modest: each example renders five payloads and runs five validators (make test stays fast).
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates and control characters included.
_any_character = st.characters(exclude_categories=())
_repeatable = [*INJECTIONS, "&", "<", ">", "\\", "é", "🔴", "\udc80", "\x00", "a" * 50]
hostile = st.lists(
    st.one_of(
        st.sampled_from(INJECTIONS),
        st.text(_any_character, max_size=30),
        # Long enough to need cutting on every platform, and escaping makes it longer still.
        st.builds(lambda text, times: text * times, st.sampled_from(_repeatable), st.integers(1, 3000)),
    ),
    min_size=1,
    max_size=3,
).map("".join)
_urls = st.one_of(
    st.none(),
    st.just("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/x"),
    st.just("https://runbooks.example.com/a b(c)[d]<e>|f"),
    hostile,
)

notifications = st.builds(
    Notification,
    message_id=hostile,
    source=st.sampled_from(Source),
    kind=hostile,
    title=hostile,
    state=st.sampled_from(State),
    previous_state=st.none() | st.sampled_from(State),
    severity=st.sampled_from(Severity),
    summary=hostile,
    description=st.none() | hostile,
    fields=st.dictionaries(hostile, hostile, max_size=30),
    console_url=_urls,
    runbook_url=_urls,
    timestamp=st.datetimes(timezones=st.just(UTC)),
    thread_key=st.none() | hostile,
    alarm_name=st.none() | hostile,
    account=st.none() | hostile,
    region=st.none() | hostile,
    alarm_duration_s=st.none() | st.floats(0, 1e8),
)
# A mention is the routing config's: trusted, in the platform's own syntax (docs/ALARMS.md).
MENTIONS = {
    DestinationType.SLACK: st.sampled_from([None, "<!here>", "<!subteam^S0123ABC>"]),
    DestinationType.TEAMS: st.sampled_from([None, "On call"]),
    DestinationType.GOOGLE_CHAT: st.sampled_from([None, "<users/all>"]),
    DestinationType.DISCORD: st.sampled_from([None, "<@&123456789012345678>", "<@123456789012345678>"]),
    DestinationType.JSON: st.sampled_from([None, "<!here>"]),
}


def _assert_valid_and_inert(n: Notification, mentions: dict[DestinationType, str | None]) -> None:
    for platform in DestinationType:
        payload = render(n, platform, mentions[platform])
        checked = Notification.model_validate(n.model_dump())  # what render used
        validate(platform.value, payload)
        assert live_markup(platform.value, payload, checked, mentions[platform]) == [], platform


@FAST
@given(n=notifications, data=st.data())
def test_a_generated_notification_is_valid_and_inert_on_every_platform(n, data):
    mentions = {platform: data.draw(strategy) for platform, strategy in MENTIONS.items()}

    _assert_valid_and_inert(n, mentions)


def _replace_strings(value: Any, draw: Any) -> Any:
    """`value` with every string (keys too) replaced by a hostile one, or kept, as hypothesis draws."""
    if isinstance(value, dict):
        return {
            _replace_strings(k, draw) if isinstance(k, str) else k: _replace_strings(v, draw) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_strings(v, draw) for v in value]
    if isinstance(value, str):
        return draw(st.one_of(st.just(value), hostile, hostile.map(lambda h: f"{value} {h}")))
    return value


_REAL = [EVENTS / name for name in OWN_EVENTS] + sample_files()
_MESSAGES = [m for path in _REAL for m in sns_messages(json.loads(Path(path).read_text()))]


@FAST
@given(message=st.sampled_from(_MESSAGES), data=st.data())
def test_a_real_notification_with_hostile_strings_anywhere_is_valid_and_inert(message, data):
    try:
        body = json.loads(message.message)
    except ValueError:
        text = _replace_strings(message.message.split("\n"), data.draw)
        hostile_message = "\n".join(text)
    else:
        hostile_message = json.dumps(_replace_strings(body, data.draw))
    subject = data.draw(st.none() | st.just(message.subject) | hostile)
    sns = SnsMessage(message_id=message.message_id, message=hostile_message, subject=subject)
    mentions = {platform: data.draw(strategy) for platform, strategy in MENTIONS.items()}

    _assert_valid_and_inert(parse(sns), mentions)


def test_every_real_notification_is_in_the_hostile_corpus():
    assert len(_REAL) == len(OWN_EVENTS) + len(sample_files()) >= 27
