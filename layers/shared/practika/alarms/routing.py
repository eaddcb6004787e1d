"""The routing config (CHAT_ROUTES, documented in docs/ALARMS.md) and which destinations get a notification.

Every route whose `match` fits sends to its destinations; when no route matches, `default` does.
A route that matches an OK but mutes OKs sends nothing, and does not fall back to the default.
"""

import fnmatch
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from practika.alarms.format import DestinationType
from practika.alarms.model import Notification, Severity, Source, State

DestinationName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Destination(_Strict):
    type: DestinationType
    # Text put in front of the message by severity: "<!here>" (Slack), "<@&role-id>" (Discord),
    # "<users/all>" (Google Chat). Never used on an OK: recovery does not page anyone.
    mentions: dict[Severity, str] = Field(default_factory=dict)


class Match(_Strict):
    """Every given condition must hold; an empty match matches everything."""

    source: list[Source] | None = None
    severity: list[Severity] | None = None
    state: list[State] | None = None
    # Shell-style patterns (fnmatch, case-sensitive) on the alarm name, or the title when there is none.
    name: list[str] | None = None
    account: list[str] | None = None

    def fits(self, n: Notification) -> bool:
        name = n.alarm_name or n.title
        checks = [
            self.source is None or n.source in self.source,
            self.severity is None or n.severity in self.severity,
            self.state is None or n.state in self.state,
            self.name is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in self.name),
            self.account is None or (n.account or "") in self.account,
        ]
        return all(checks)


class Route(_Strict):
    name: str = ""
    match: Match = Field(default_factory=Match)
    destinations: list[DestinationName] = Field(min_length=1)
    mute_ok: bool = False


class RoutingConfig(_Strict):
    destinations: dict[DestinationName, Destination] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    default: list[DestinationName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_destinations(self) -> "RoutingConfig":
        named = set(self.default) | {d for route in self.routes for d in route.destinations}
        unknown = sorted(named - set(self.destinations))
        if unknown:
            raise ValueError(f"routes name unknown destinations: {', '.join(unknown)}")
        return self


class Target(BaseModel):
    name: str
    destination: Destination
    mention: str | None = None


def targets(config: RoutingConfig, n: Notification) -> list[Target]:
    """The destinations `n` goes to, each once, in config order."""
    matched = [route for route in config.routes if route.match.fits(n)]
    names: list[str] = []
    if not matched:
        names = list(config.default)
    for route in matched:
        if route.mute_ok and n.state is State.OK:
            continue
        names.extend(route.destinations)
    unique = list(dict.fromkeys(names))
    return [
        Target(name=name, destination=config.destinations[name], mention=_mention(config.destinations[name], n))
        for name in unique
    ]


def _mention(destination: Destination, n: Notification) -> str | None:
    if n.state is State.OK:
        return None
    return destination.mentions.get(n.severity)
