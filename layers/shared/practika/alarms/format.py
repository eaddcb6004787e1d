"""Notification -> chat payload, one builder per platform, always within the platform's limits.

Long text is cut with a visible marker, never rejected: each builder takes a text budget and
`_fit` shrinks it until the whole payload fits (Teams 28 KB, Google Chat 32,000 bytes, ...).
"""

import json
from collections.abc import Callable
from datetime import UTC
from enum import StrEnum
from typing import Any

from practika.alarms.model import Notification, Severity, State

TRUNCATED = "… (truncated)"


class DestinationType(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    GOOGLE_CHAT = "google_chat"
    DISCORD = "discord"
    JSON = "json"


# Platform limits (Slack Block Kit, Teams Workflows, Google Chat, Discord docs), kept with the code
# that respects them; the tests check payloads against their own copy.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_FIELDS_PER_SECTION = 10
SLACK_FIELD_CHARS = 2000
SLACK_BUTTON_TEXT_CHARS = 75
SLACK_URL_CHARS = 3000
TEAMS_MAX_BYTES = 28 * 1024
GOOGLE_CHAT_MAX_BYTES = 32_000
DISCORD_CONTENT_CHARS = 2000
DISCORD_EMBED_TOTAL_CHARS = 6000
DISCORD_TITLE_CHARS = 256
DISCORD_DESCRIPTION_CHARS = 4096
DISCORD_MAX_FIELDS = 25
DISCORD_FIELD_NAME_CHARS = 256
DISCORD_FIELD_VALUE_CHARS = 1024
DISCORD_FOOTER_CHARS = 2048
JSON_MAX_BYTES = 64 * 1024
# Room left under byte limits for what the platform adds (envelope, escaping differences).
_MARGIN_BYTES = 1024

_EMOJI = {State.ALARM: "🔴", State.OK: "✅", State.INSUFFICIENT_DATA: "⚠️", State.INFO: "ℹ️"}  # noqa: RUF001
_COLOUR = {State.ALARM: 0xD93025, State.OK: 0x2E7D32, State.INSUFFICIENT_DATA: 0xF9A825}
_SEVERITY_COLOUR = {
    Severity.CRITICAL: 0xB71C1C,
    Severity.HIGH: 0xE65100,
    Severity.MEDIUM: 0xF9A825,
    Severity.LOW: 0x1E88E5,
    Severity.INFO: 0x607D8B,
}
_TEAMS_STYLE = {State.ALARM: "attention", State.OK: "good", State.INSUFFICIENT_DATA: "warning"}
_BUDGETS = (3000, 1500, 700, 300, 100, 0)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with a visible marker when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATED):
        return text[:limit]
    return text[: limit - len(TRUNCATED)] + TRUNCATED


def colour(n: Notification) -> int:
    return _COLOUR.get(n.state, _SEVERITY_COLOUR[n.severity])


def duration_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{secs} s"


def headline(n: Notification) -> str:
    state = n.state.value.replace("_", " ") if n.state is not State.INFO else n.severity.value.upper()
    return f"{_EMOJI[n.state]} {state}: {n.title}"


def _facts(n: Notification) -> list[tuple[str, str]]:
    facts = [("Severity", n.severity.value)]
    if n.state is State.OK and n.alarm_duration_s is not None:
        facts.append(("Lasted", duration_text(n.alarm_duration_s)))
    facts.extend((label, value) for label, value in n.fields.items() if value)
    facts.append(("Time", n.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    return facts


def _text(n: Notification, budget: int) -> str:
    """Reason and description, within `budget` characters."""
    parts = [p for p in (n.summary, n.description) if p]
    return clip("\n\n".join(parts), budget) if budget else ""


def fallback_text(n: Notification, mention: str | None, limit: int = 3000) -> str:
    lasted = f" (lasted {duration_text(n.alarm_duration_s)})" if n.alarm_duration_s is not None else ""
    lines = [f"{mention} " if mention else "", f"{headline(n)}{lasted}"]
    if n.summary:
        lines.append(f"\n{n.summary}")
    return clip("".join(lines), limit)


def _links(n: Notification) -> list[tuple[str, str]]:
    found = [("Open in console", n.console_url), ("Runbook", n.runbook_url)]
    return [(label, url) for label, url in found if url and len(url) <= SLACK_URL_CHARS]


def _fit(build: Callable[[int], dict[str, Any]], fits: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for budget in _BUDGETS:
        payload = build(budget)
        if fits(payload):
            return payload
    return payload


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def _context(n: Notification) -> str:
    return f"{n.source.value} · {n.kind} · message {n.message_id}"


# --- Slack: Block Kit in a coloured attachment, top-level text as the notification fallback -----


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": clip(headline(n), SLACK_HEADER_CHARS)}}
        ]
        body = _slack_escape(_text(n, budget))
        if body:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(body, SLACK_SECTION_CHARS)}})
        field_chars = max(100, min(SLACK_FIELD_CHARS, budget // 2))
        facts = [
            {"type": "mrkdwn", "text": clip(f"*{_slack_escape(k)}*\n{_slack_escape(v)}", field_chars)}
            for k, v in _facts(n)
        ]
        for start in range(0, len(facts), SLACK_FIELDS_PER_SECTION):
            blocks.append({"type": "section", "fields": facts[start : start + SLACK_FIELDS_PER_SECTION]})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _context(n)}]})
        buttons = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": label[:SLACK_BUTTON_TEXT_CHARS]},
                "url": url,
            }
            for label, url in _links(n)
        ]
        if buttons:
            blocks.append({"type": "actions", "elements": buttons})
        return {
            "text": fallback_text(n, mention),
            "attachments": [{"color": f"#{colour(n):06X}", "blocks": blocks[:SLACK_MAX_BLOCKS]}],
        }

    return _fit(build, lambda p: _size(p) <= 40_000)


# --- Microsoft Teams: Adaptive Card posted to a Workflows webhook ---------------------------------


def teams(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int) -> dict[str, Any]:
        heading = {
            "type": "TextBlock",
            "text": headline(n),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "style": "heading",
        }
        body: list[dict[str, Any]] = [
            {
                "type": "Container",
                "style": _TEAMS_STYLE.get(n.state, "accent"),
                "bleed": True,
                "items": [heading],
            }
        ]
        if mention:
            body.append({"type": "TextBlock", "text": mention, "wrap": True})
        text = _text(n, budget)
        if text:
            body.append({"type": "TextBlock", "text": text, "wrap": True})
        value_chars = max(100, budget // 2)
        facts = [{"title": k, "value": clip(v, value_chars)} for k, v in _facts(n)]
        body.append({"type": "FactSet", "facts": facts})
        body.append({"type": "TextBlock", "text": _context(n), "isSubtle": True, "size": "Small", "wrap": True})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in _links(n)],
        }
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }

    return _fit(build, lambda p: _size(p) <= TEAMS_MAX_BYTES - _MARGIN_BYTES)


# --- Google Chat: cardsV2, the OK threaded under its ALARM through threadKey ----------------------


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_url(destination: DestinationType, url: str) -> str:
    """The URL to post to: Google Chat needs `messageReplyOption` for `threadKey` to thread replies."""
    if destination is not DestinationType.GOOGLE_CHAT or "messageReplyOption=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


def google_chat(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int) -> dict[str, Any]:
        sections: list[dict[str, Any]] = []
        text = _text(n, budget)
        if text:
            sections.append({"widgets": [{"textParagraph": {"text": _html_escape(text)}}]})
        value_chars = max(100, budget // 2)
        sections.append(
            {
                "header": "Details",
                "widgets": [
                    {
                        "decoratedText": {
                            "topLabel": k,
                            "text": _html_escape(clip(v, value_chars)),
                            "wrapText": True,
                        }
                    }
                    for k, v in _facts(n)
                ],
            }
        )
        buttons = [{"text": label, "onClick": {"openLink": {"url": url}}} for label, url in _links(n)]
        if buttons:
            sections.append({"widgets": [{"buttonList": {"buttons": buttons}}]})
        payload: dict[str, Any] = {
            "text": fallback_text(n, mention, limit=max(200, budget)),
            "cardsV2": [
                {
                    "cardId": "alarm",
                    "card": {
                        "header": {"title": clip(headline(n), 200), "subtitle": clip(_context(n), 200)},
                        "sections": sections,
                    },
                }
            ],
        }
        if n.thread_key:
            payload["thread"] = {"threadKey": n.thread_key}
        return payload

    return _fit(build, lambda p: _size(p) <= GOOGLE_CHAT_MAX_BYTES - _MARGIN_BYTES)


# --- Discord: one embed ---------------------------------------------------------------------------


def discord_embed_chars(embed: dict[str, Any]) -> int:
    """Characters Discord counts against the 6000 limit of a message's embeds."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return total + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def discord(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int) -> dict[str, Any]:
        value_chars = max(100, min(DISCORD_FIELD_VALUE_CHARS, budget // 3))
        facts = list(_facts(n))
        facts.extend((label, f"[{label}]({url})") for label, url in _links(n) if label == "Runbook")
        fields = [
            {
                "name": clip(k, DISCORD_FIELD_NAME_CHARS),
                "value": clip(v, value_chars) or "-",
                "inline": len(v) <= 40,
            }
            for k, v in facts[:DISCORD_MAX_FIELDS]
        ]
        embed: dict[str, Any] = {
            "title": clip(headline(n), DISCORD_TITLE_CHARS),
            "color": colour(n),
            "fields": fields,
            "footer": {"text": clip(_context(n), DISCORD_FOOTER_CHARS)},
            "timestamp": n.timestamp.astimezone(UTC).isoformat(),
        }
        text = _text(n, min(budget, DISCORD_DESCRIPTION_CHARS))
        if text:
            embed["description"] = text
        if n.console_url:
            embed["url"] = n.console_url
        content = clip(f"{mention} {headline(n)}" if mention else headline(n), DISCORD_CONTENT_CHARS)
        return {
            "content": content,
            "embeds": [embed],
            "allowed_mentions": {"parse": ["everyone", "roles", "users"]},
        }

    return _fit(build, lambda p: discord_embed_chars(p["embeds"][0]) <= DISCORD_EMBED_TOTAL_CHARS)


# --- generic JSON webhook: the normalized notification itself ------------------------------------


def generic_json(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int) -> dict[str, Any]:
        trimmed = n.model_copy(
            update={
                "summary": clip(n.summary, budget * 10),
                "description": clip(n.description, budget) if n.description else None,
                "fields": {k: clip(v, max(100, budget)) for k, v in n.fields.items()},
            }
        )
        return {
            "text": fallback_text(n, mention),
            "mention": mention,
            "notification": trimmed.model_dump(mode="json"),
        }

    return _fit(build, lambda p: _size(p) <= JSON_MAX_BYTES)


FORMATTERS: dict[DestinationType, Callable[[Notification, str | None], dict[str, Any]]] = {
    DestinationType.SLACK: slack,
    DestinationType.TEAMS: teams,
    DestinationType.GOOGLE_CHAT: google_chat,
    DestinationType.DISCORD: discord,
    DestinationType.JSON: generic_json,
}


def render(n: Notification, destination: DestinationType, mention: str | None = None) -> dict[str, Any]:
    return FORMATTERS[destination](n, mention)
