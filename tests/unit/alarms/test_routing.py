"""Routing rules pick the destinations; the config is validated before anything is sent."""

import pytest
from pydantic import ValidationError

from practika.alarms.parse import parse
from practika.alarms.routing import RoutingConfig, targets
from tests.unit.alarms.samples import own

CONFIG = {
    "destinations": {
        "pager-slack": {"type": "slack", "mentions": {"critical": "<!here>"}},
        "ops-teams": {"type": "teams"},
        "security-discord": {"type": "discord", "mentions": {"high": "<@&123456>"}},
        "audit": {"type": "json"},
    },
    "routes": [
        {"name": "critical", "match": {"severity": ["critical"]}, "destinations": ["pager-slack", "ops-teams"]},
        {"name": "security", "match": {"source": ["guardduty"]}, "destinations": ["security-discord"]},
        {"name": "dlq", "match": {"name": ["*DLQ*", "*PipelineDegraded"]}, "destinations": ["ops-teams"]},
        {"name": "budget", "match": {"source": ["budgets"]}, "destinations": ["audit"], "mute_ok": True},
    ],
    "default": ["ops-teams"],
}


def _names(event: str, config: dict | None = None, **changes) -> list[str]:
    n = parse(own(event)).model_copy(update=changes)
    return [t.name for t in targets(RoutingConfig.model_validate(config or CONFIG), n)]


def test_a_critical_alarm_goes_to_every_matching_route_once():
    assert _names("alarm-composite.json") == ["pager-slack", "ops-teams"]


def test_a_critical_alarm_mentions_on_call_and_its_ok_does_not():
    config = RoutingConfig.model_validate(CONFIG)
    alarm = parse(own("alarm-metric.json"))
    ok = parse(own("alarm-metric-ok.json"))

    assert targets(config, alarm)[0].mention == "<!here>"
    assert targets(config, ok)[0].mention is None


def test_a_guardduty_finding_goes_to_the_security_channel_with_its_role_mentioned():
    config = RoutingConfig.model_validate(CONFIG)
    [target] = targets(config, parse(own("alarm-guardduty.json")))

    assert (target.name, target.mention) == ("security-discord", "<@&123456>")


def test_nothing_matching_goes_to_the_default_route():
    assert _names("alarm-text.json") == ["ops-teams"]


def test_a_route_muting_oks_sends_nothing_for_an_ok_and_does_not_fall_back():
    from practika.alarms.model import State

    assert _names("alarm-budget.json", state=State.OK) == []


def test_state_and_account_conditions_must_all_hold():
    config = {
        "destinations": {"a": {"type": "slack"}},
        "routes": [{"match": {"state": ["ALARM"], "account": ["123456789012"]}, "destinations": ["a"]}],
    }

    assert _names("alarm-metric.json", config) == ["a"]
    assert _names("alarm-metric-ok.json", config) == []
    assert _names("alarm-metric.json", config, account="999999999999") == []


def test_a_route_naming_an_unknown_destination_is_refused():
    with pytest.raises(ValidationError, match="unknown destinations: nope"):
        RoutingConfig.model_validate({"destinations": {"a": {"type": "slack"}}, "default": ["nope"]})


def test_an_unknown_destination_type_or_key_is_refused():
    with pytest.raises(ValidationError):
        RoutingConfig.model_validate({"destinations": {"a": {"type": "pager"}}})
    with pytest.raises(ValidationError):
        RoutingConfig.model_validate({"destinations": {"a": {"type": "slack", "url": "https://x"}}})
