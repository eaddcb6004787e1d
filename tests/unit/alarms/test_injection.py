"""Whatever an alarm says, only the routing config can mention anyone, and no input crashes or overflows.

Each injection string of issue 13 is put in every field a publisher controls (alarm name,
description, reason, dimensions, subject, EventBridge source and detail-type, JSON keys and
values, plain text) and must render inert on all five outputs, checked with each platform's syntax.
"""

import json

import pytest

from practika.alarms.format import DestinationType, discord_embed_chars, render
from practika.alarms.model import State
from practika.alarms.parse import SnsMessage, parse
from tests.unit.alarms.inert import ISSUE_INJECTIONS, live_markup
from tests.unit.alarms.limits import readable_text
from tests.unit.alarms.samples import own
from tests.unit.alarms.validators import validate

PLATFORMS = list(DestinationType)
# What a routing config would put in front of an ALARM (docs/ALARMS.md), one per platform.
MENTIONS = {
    DestinationType.SLACK: "<!subteam^S0ONCALL>",
    DestinationType.TEAMS: None,
    DestinationType.GOOGLE_CHAT: "<users/all>",
    DestinationType.DISCORD: "<@&111111111111111111>",
    DestinationType.JSON: "<!here>",
}


def _alarm(injection: str, state: str = "ALARM") -> SnsMessage:
    body = json.loads(own("alarm-metric.json").message)
    body["AlarmName"] = f"practika {injection} errors"
    body["AlarmDescription"] = (
        f"Validate failing {injection}.\nRunbook: https://runbooks.example.com/r\nSeverity: critical"
    )
    body["NewStateReason"] = f"Threshold crossed {injection}"
    body["NewStateValue"] = state
    body["Trigger"]["Dimensions"] = [{"name": f"dim {injection}", "value": injection}]
    return SnsMessage(message_id=f"alarm {injection}", message=json.dumps(body), subject=injection)


def _event(injection: str) -> SnsMessage:
    body = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": f"Job failed {injection}",
        "source": f"custom.{injection}",
        "account": "123456789012",
        "time": "2026-03-02T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {injection: injection, "state": "FAILED"},
    }
    return SnsMessage(message_id="event", message=json.dumps(body))


def _messages(injection: str) -> list[SnsMessage]:
    return [
        _alarm(injection),
        _alarm(injection, state="OK"),
        _event(injection),
        SnsMessage(message_id="json", message=json.dumps({injection: injection, "note": injection})),
        SnsMessage(message_id="text", message=f"{injection}\nmore {injection}", subject=injection),
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("injection", ISSUE_INJECTIONS)
def test_an_injection_in_any_field_renders_inert_and_readable(injection, platform):
    for message in _messages(injection):
        n = parse(message)
        # The router adds no mention to an OK (routing.targets): those must stay silent too.
        mention = MENTIONS[platform] if n.state is not State.OK else None

        payload = render(n, platform, mention)

        validate(platform.value, payload)
        assert live_markup(platform.value, payload, n, mention) == [], message.message_id
        assert injection in readable_text(payload), message.message_id


def test_discord_may_ping_only_the_role_the_config_names():
    payload = render(parse(_alarm("@everyone <@&222222222222222222>")), DestinationType.DISCORD, "<@&111>")

    assert payload["allowed_mentions"] == {"parse": [], "roles": ["111"]}
    assert payload["content"].startswith("<@&111> ")


def test_a_message_with_undecodable_bytes_reaches_every_platform():
    body = json.loads(own("alarm-metric.json").message)
    body["AlarmName"] = "practika-\udc80-errors"
    body["NewStateReason"] = "bad byte \ud800 alone"
    n = parse(SnsMessage(message_id="m", message=json.dumps(body), subject="ALARM \udcff"))

    for platform in PLATFORMS:
        payload = render(n, platform)
        json.dumps(payload, ensure_ascii=False).encode()
        assert "practika-\ufffd-errors" in readable_text(payload), platform


def test_control_characters_and_lone_surrogates_set_in_a_model_copy_are_cleaned_too():
    n = parse(own("alarm-metric.json")).model_copy(update={"title": "a\udc80\x00b", "fields": {"k\x1b": "\ud800"}})

    payload = render(n, DestinationType.SLACK)

    assert payload["attachments"][0]["blocks"][0]["text"]["text"].endswith("a\ufffd\ufffdb")
    json.dumps(payload, ensure_ascii=False).encode()


def test_many_long_json_keys_keep_a_discord_message_under_6000_characters():
    # Issue 13 measured 8,609 characters: field names were never trimmed.
    body = {f"{'k' * 290}{i}": "v" * 900 for i in range(40)}
    n = parse(SnsMessage(message_id="m", message=json.dumps(body)))

    payload = render(n, DestinationType.DISCORD)

    validate("discord", payload)
    assert discord_embed_chars(payload["embeds"][0]) <= 6000
    # Labels equal once cut stay apart (25 fields parsed, none replacing another); what does not fit
    # in Discord's 25 fields is counted, not dropped silently.
    assert len(n.fields) == 25
    assert len(payload["embeds"][0]["fields"]) == 23
    assert payload["embeds"][0]["fields"][-2]["value"] == "5 more … \\(truncated\\)"


def test_a_long_eventbridge_source_keeps_the_slack_context_under_3000_characters():
    # Issue 13 measured 5,036 characters of context.
    n = parse(_event("<" * 1000 + "x" * 4000))

    payload = render(n, DestinationType.SLACK)

    validate("slack", payload)
    context = next(b for b in payload["attachments"][0]["blocks"] if b["type"] == "context")
    assert len(context["elements"][0]["text"]) <= 3000


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_notification_too_big_even_without_text_drops_facts_behind_a_marker(platform):
    # 50 fields of 200-character labels and 2000-character values, each character 4 UTF-8 bytes and escaped.
    fields = {f"{i:02d}" + "<🔴" * 99: "&🔴" * 1000 for i in range(50)}
    n = parse(own("alarm-metric.json")).model_copy(update={"fields": fields, "title": "<@&1>" * 200})

    payload = render(n, platform)

    validate(platform.value, payload)
    assert "(truncated)" in readable_text(payload)


def test_teams_declares_the_adaptive_card_version_its_heading_needs():
    card = render(parse(own("alarm-metric.json")), DestinationType.TEAMS)["attachments"][0]["content"]

    heading = card["body"][0]["items"][0]
    assert (heading["style"], card["version"]) == ("heading", "1.5")
