"""Every notification renders for every platform, readable and within the platform's limits."""

import json

import pytest

from practika.alarms.format import DestinationType, duration_text, render, webhook_url
from practika.alarms.model import Notification, State
from practika.alarms.parse import SnsMessage, parse
from tests.unit.alarms.limits import readable_text
from tests.unit.alarms.samples import OWN_EVENTS, own, sample_files, sns_messages
from tests.unit.alarms.validators import validate

PLATFORMS = list(DestinationType)


def _assert_readable_within_limits(n: Notification, platform: DestinationType, mention: str | None = None):
    payload = render(n, platform, mention)
    validate(platform.value, payload)
    text = readable_text(payload)
    assert n.title[:100] in text or json.dumps(n.title[:100])[1:-1] in text


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("event", OWN_EVENTS)
def test_each_own_fixture_renders_within_limits(event, platform):
    _assert_readable_within_limits(parse(own(event)), platform, mention="<!here>")


SAMPLES = sample_files()


def test_the_outside_samples_are_in_the_repository():
    assert len(SAMPLES) >= 15


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_each_outside_sample_renders_within_limits(sample, platform):
    messages = sns_messages(json.loads(sample.read_text()))

    assert messages
    for message in messages:
        _assert_readable_within_limits(parse(message), platform)


def _oversized() -> SnsMessage:
    body = json.loads(own("alarm-metric-math.json").message)
    body["AlarmName"] = "practika-" + "x" * 246
    body["AlarmDescription"] = ("A very long description. " * 40)[:1000] + "\nRunbook: https://runbooks.example.com/r"
    body["NewStateReason"] = "Threshold Crossed: " + "[12.5 (02/03/26 10:10:00)] " * 2000
    metric = body["Trigger"]["Metrics"][1]
    metric["MetricStat"]["Metric"]["Dimensions"] = [{"name": f"dim{i}", "value": "v" * 200} for i in range(30)]
    body["Trigger"]["Metrics"] = [body["Trigger"]["Metrics"][0]] + [dict(metric, Id=f"m{i}") for i in range(10)]
    return SnsMessage(message_id="oversized", message=json.dumps(body), subject="ALARM: huge")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_oversized_alarm_is_truncated_with_a_visible_marker_not_rejected(platform):
    n = parse(_oversized())

    payload = render(n, platform, mention="<!here>")

    validate(platform.value, payload)
    assert "(truncated)" in readable_text(payload)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_quarter_megabyte_plain_text_message_still_fits(platform):
    n = parse(SnsMessage(message_id="big", message="line of text ✓\n" * 18000, subject="Huge text"))

    validate(platform.value, render(n, platform))


def test_slack_colours_an_alarm_red_and_puts_the_mention_in_the_fallback_text():
    payload = render(parse(own("alarm-metric.json")), DestinationType.SLACK, "<!here>")

    assert payload["attachments"][0]["color"] == "#D93025"
    assert payload["text"].startswith("<!here> 🔴 ALARM: practika-dev-ValidateFunction-Errors")
    buttons = next(b for b in payload["attachments"][0]["blocks"] if b["type"] == "actions")["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open in console", "Runbook"]


def test_an_ok_says_how_long_the_alarm_lasted_on_every_platform():
    n = parse(own("alarm-metric-ok.json")).model_copy(update={"alarm_duration_s": 1620.0})

    for platform in PLATFORMS:
        assert "27 min" in readable_text(render(n, platform)), platform
    assert render(n, DestinationType.SLACK)["attachments"][0]["color"] == "#2E7D32"


def test_teams_gets_an_adaptive_card_for_a_workflows_webhook():
    payload = render(parse(own("alarm-composite.json")), DestinationType.TEAMS)

    card = payload["attachments"][0]["content"]
    assert payload["type"] == "message"
    assert card["version"] == "1.5"
    assert card["body"][0]["style"] == "attention"
    facts = {b["inlines"][0]["text"]: b["inlines"][1]["text"] for b in card["body"] if len(b.get("inlines", [])) == 2}
    assert facts["Rule: "] == (
        "ALARM(arn:aws:cloudwatch:eu-west-1:123456789012:alarm:practika-dev-IngestDLQ-Depth) OR "
        "ALARM(arn:aws:cloudwatch:eu-west-1:123456789012:alarm:practika-dev-ClipDLQ-Depth)"
    )


def test_google_chat_threads_an_alarm_by_its_arn():
    n = parse(own("alarm-metric.json"))

    payload = render(n, DestinationType.GOOGLE_CHAT)

    assert payload["thread"] == {"threadKey": n.thread_key}
    assert payload["cardsV2"][0]["card"]["header"]["title"].startswith("🔴 ALARM")


def test_google_chat_webhooks_are_asked_to_reply_in_thread():
    url = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t"

    assert webhook_url(DestinationType.GOOGLE_CHAT, url).endswith(
        "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
    )
    assert webhook_url(DestinationType.SLACK, url) == url


def test_discord_gets_an_embed_linking_the_console():
    n = parse(own("alarm-guardduty.json"))

    embed = render(n, DestinationType.DISCORD)["embeds"][0]

    assert embed["url"] == (
        "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1"
        "#/findings?macros=current&fId=d2c6a1f0e9b84f7a8c3b2a1d0e9f8c7b"
    )
    assert embed["color"] == 0xE65100


def test_the_generic_json_webhook_gets_the_normalized_notification():
    payload = render(parse(own("alarm-budget.json")), DestinationType.JSON)

    assert payload["notification"]["source"] == "budgets"
    assert payload["notification"]["state"] == State.ALARM.value


@pytest.mark.parametrize(
    ("seconds", "text"), [(42, "42 s"), (1620, "27 min"), (3 * 3600 + 60, "3 h 1 min"), (90000, "1 d 1 h")]
)
def test_durations_read_like_a_person_would_say_them(seconds, text):
    assert duration_text(seconds) == text
