"""Notification -> chat payload, one builder per platform, always within the platform's limits.

Everything in a notification was written by whoever published to the alarm topic (alarm names,
descriptions, event sources, GuardDuty findings quoting attacker-chosen names), so it is escaped
for each platform's syntax: only the routing config's mention can ping anyone, and only the
links the parser recognised (console, runbook) become links. docs/ALARMS.md says what and why.

Long text is cut with a visible marker, never rejected: each builder takes a text budget (and,
as a last resort, how many facts to keep) and `_fit` shrinks both until the whole payload fits.
Limits are counted as each platform counts them: characters of the escaped text for Slack and
Discord, UTF-8 bytes of the posted JSON for Teams, Google Chat and the generic webhook.
"""

import json
import re
from collections.abc import Callable
from datetime import UTC
from enum import StrEnum
from typing import Any

from practika.alarms.model import MAX_FIELDS, TRUNCATED, Notification, Severity, State, bound_fields, clip

__all__ = ["TRUNCATED", "DestinationType", "clip", "render", "webhook_url"]


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
SLACK_CONTEXT_CHARS = 3000
SLACK_TEXT_CHARS = 3000
TEAMS_MAX_BYTES = 28 * 1024
GOOGLE_CHAT_MAX_BYTES = 32_000
GOOGLE_CHAT_TEXT_CHARS = 4096
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
_ALL = 1_000_000

# Escapes, one table per syntax (str.translate: one pass, and a cut before escaping never splits one).
# Slack mrkdwn: &, < and > are what make mentions (<!channel>, <@U1>) and links (<url|text>).
SLACK_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Google Chat card text is HTML-like (<a href>, <b>): the same three entities.
HTML_ESCAPE = SLACK_ESCAPE
# Discord markdown: a backslash makes any punctuation literal. Covers formatting (bold, spoilers,
# quotes, headings), masked links [x](url), mentions <@id> <@&id> <#id> and @everyone/@here.
DISCORD_ESCAPE = str.maketrans({c: "\\" + c for c in "\\*_~`|<>[]()#@"})
# Plain text that a chat still formats (Google Chat's text, a generic webhook's text that may be
# posted to a Slack-compatible or Mattermost chat): no escape exists there, so a zero-width space
# after < and @ breaks <users/all>, <url|text>, <!here> and @channel, and after ] breaks [x](url).
INERT = str.maketrans({"<": "<\u200b", "@": "@\u200b", "]": "]\u200b"})
_DISCORD_ROLE = re.compile(r"<@&(\d+)>")
_DISCORD_USER = re.compile(r"<@!?(\d+)>")


def fit(text: str, limit: int, escape: dict[int, str] | None = None) -> str:
    """`text` escaped with `escape`, at most `limit` characters counted after escaping; when cut, it is
    cut before escaping (so no escape is split) and ends with the marker."""
    escaped = text.translate(escape) if escape else text
    if len(escaped) <= limit:
        return escaped
    room = limit - len(TRUNCATED)
    if room <= 0:
        return TRUNCATED[: max(0, limit)]
    low, high = 0, min(len(text), room)
    while low < high:  # the longest prefix whose escaped form fits
        middle = (low + high + 1) // 2
        if len(text[:middle].translate(escape) if escape else text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return (text[:low].translate(escape) if escape else text[:low]) + TRUNCATED


def colour(n: Notification) -> int:
    return _COLOUR.get(n.state, _SEVERITY_COLOUR[n.severity])


def duration_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{secs} s"


def status(n: Notification) -> str:
    """Emoji and state (or severity, for information): ours, never from the notification."""
    state = n.state.value.replace("_", " ") if n.state is not State.INFO else n.severity.value.upper()
    return f"{_EMOJI[n.state]} {state}"


def headline(n: Notification) -> str:
    return f"{status(n)}: {n.title}"


def _facts(n: Notification, keep: int = _ALL) -> list[tuple[str, str]]:
    """Label -> value pairs to show; with `keep`, only that many of the notification's own fields and a marker."""
    given = [(label, value) for label, value in n.fields.items() if value]
    facts = [("Severity", n.severity.value)]
    if n.state is State.OK and n.alarm_duration_s is not None:
        facts.append(("Lasted", duration_text(n.alarm_duration_s)))
    facts.extend(given[:keep])
    if len(given) > keep:
        facts.append(("Fields", f"{len(given) - keep} more {TRUNCATED}"))
    facts.append(("Time", n.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    return facts


def _text(n: Notification) -> str:
    """Reason and description (raw: each builder escapes and bounds it)."""
    return "\n\n".join(p for p in (n.summary, n.description) if p)


def fallback_text(n: Notification) -> str:
    """Headline, how long it lasted and the reason (raw: each builder escapes and bounds it)."""
    lasted = f" (lasted {duration_text(n.alarm_duration_s)})" if n.alarm_duration_s is not None else ""
    return f"{headline(n)}{lasted}" + (f"\n{n.summary}" if n.summary else "")


def _with_mention(mention: str | None, text: str, limit: int, escape: dict[int, str] | None) -> str:
    """The routing config's mention (trusted, not escaped) in front of the escaped notification text."""
    prefix = f"{mention} " if mention else ""
    return prefix + fit(text, max(0, limit - len(prefix)), escape)


def _links(n: Notification) -> list[tuple[str, str]]:
    """The only links a message carries: the ones the parser recognised (checked by the model)."""
    found = [("Open in console", n.console_url), ("Runbook", n.runbook_url)]
    return [(label, url) for label, url in found if url and len(url) <= SLACK_URL_CHARS]


Build = Callable[[int, int], dict[str, Any]]


def _fit(build: Build, fits: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first payload that fits: less text each round, then fewer facts, down to none."""
    payload: dict[str, Any] = {}
    for budget in _BUDGETS:
        payload = build(budget, _ALL)
        if fits(payload):
            return payload
    keep = MAX_FIELDS
    while keep:
        keep //= 2
        payload = build(0, keep)
        if fits(payload):
            return payload
    return payload


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def _context(n: Notification) -> str:
    return f"{n.source.value} · {n.kind} · message {n.message_id}"


def _label_chars(budget: int) -> int:
    return max(40, min(200, budget // 10))


def _value_chars(budget: int) -> int:
    return max(60, budget // 2)


# --- Slack: Block Kit in a coloured attachment, top-level text as the notification fallback -----


def slack(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int, keep: int) -> dict[str, Any]:
        # plain_text is never parsed for mentions or links: shown as it is.
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": clip(headline(n), SLACK_HEADER_CHARS)}}
        ]
        body = fit(_text(n), min(budget, SLACK_SECTION_CHARS), SLACK_ESCAPE) if budget else ""
        if body:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
        field_chars = max(100, min(SLACK_FIELD_CHARS, budget // 2))
        facts = []
        for label, value in _facts(n, keep):
            shown = fit(label, field_chars // 4, SLACK_ESCAPE)
            facts.append(
                {"type": "mrkdwn", "text": f"*{shown}*\n{fit(value, field_chars - len(shown) - 3, SLACK_ESCAPE)}"}
            )
        for start in range(0, len(facts), SLACK_FIELDS_PER_SECTION):
            blocks.append({"type": "section", "fields": facts[start : start + SLACK_FIELDS_PER_SECTION]})
        context = fit(_context(n), min(SLACK_CONTEXT_CHARS, max(200, budget)), SLACK_ESCAPE)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
        buttons = [
            {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url} for label, url in _links(n)
        ]
        if buttons:
            blocks.append({"type": "actions", "elements": buttons})
        return {
            "text": _with_mention(mention, fallback_text(n), SLACK_TEXT_CHARS, SLACK_ESCAPE),
            "attachments": [{"color": f"#{colour(n):06X}", "blocks": blocks[:SLACK_MAX_BLOCKS]}],
        }

    return _fit(build, lambda p: _size(p) <= 40_000)


# --- Microsoft Teams: Adaptive Card posted to a Workflows webhook ---------------------------------

# Notification text goes only into TextRuns, which Adaptive Cards never read as markdown (a TextBlock
# or a FactSet would turn [x](https://evil) into a link); only our own words go in TextBlocks.
TEAMS_CARD_VERSION = "1.5"  # TextBlock style "heading" is a 1.5 feature


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


def teams(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int, keep: int) -> dict[str, Any]:
        heading = {
            "type": "TextBlock",
            "text": status(n),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "style": "heading",
        }
        title = _rich(_run(clip(n.title, 400), weight="Bolder", size="Medium"))
        body: list[dict[str, Any]] = [
            {
                "type": "Container",
                "style": _TEAMS_STYLE.get(n.state, "accent"),
                "bleed": True,
                "items": [heading, title],
            }
        ]
        if mention:
            body.append({"type": "TextBlock", "text": mention, "wrap": True})
        text = clip(_text(n), budget) if budget else ""
        if text:
            body.append(_rich(_run(text)))
        for label, value in _facts(n, keep):
            label_run = _run(f"{clip(label, _label_chars(budget))}: ", weight="Bolder")
            body.append(_rich(label_run, _run(clip(value, _value_chars(budget))), spacing="None"))
        body.append(_rich(_run(clip(_context(n), max(200, budget)), isSubtle=True, size="Small")))
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": TEAMS_CARD_VERSION,
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


def webhook_url(destination: DestinationType, url: str) -> str:
    """The URL to post to: Google Chat needs `messageReplyOption` for `threadKey` to thread replies."""
    if destination is not DestinationType.GOOGLE_CHAT or "messageReplyOption=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


def google_chat(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int, keep: int) -> dict[str, Any]:
        sections: list[dict[str, Any]] = []
        text = fit(_text(n), budget, HTML_ESCAPE) if budget else ""
        if text:
            sections.append({"widgets": [{"textParagraph": {"text": text}}]})
        widgets = [
            {
                "decoratedText": {
                    "topLabel": fit(label, _label_chars(budget), INERT),
                    "text": fit(value, _value_chars(budget), HTML_ESCAPE),
                    "wrapText": True,
                }
            }
            for label, value in _facts(n, keep)
        ]
        sections.append({"header": "Details", "widgets": widgets})
        buttons = [{"text": label, "onClick": {"openLink": {"url": url}}} for label, url in _links(n)]
        if buttons:
            sections.append({"widgets": [{"buttonList": {"buttons": buttons}}]})
        limit = min(GOOGLE_CHAT_TEXT_CHARS, max(200, budget))
        header = {"title": fit(headline(n), 200, INERT), "subtitle": fit(_context(n), 200, INERT)}
        payload: dict[str, Any] = {
            "text": _with_mention(mention, fallback_text(n), limit, INERT),
            "cardsV2": [{"cardId": "alarm", "card": {"header": header, "sections": sections}}],
        }
        if n.thread_key:
            payload["thread"] = {"threadKey": n.thread_key}
        return payload

    return _fit(build, lambda p: _size(p) <= GOOGLE_CHAT_MAX_BYTES - _MARGIN_BYTES)


# --- Discord: one embed ---------------------------------------------------------------------------


def discord_embed_chars(embed: dict[str, Any]) -> int:
    """Characters Discord counts against the 6000 limit of a message's embeds (field names included)."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return total + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def discord_allowed_mentions(mention: str | None) -> dict[str, Any]:
    """Only the roles and users the routing config's mention names can be pinged; nothing is parsed
    from text, so even an unescaped @everyone would not ping."""
    allowed: dict[str, Any] = {"parse": []}
    roles = _DISCORD_ROLE.findall(mention or "")
    users = _DISCORD_USER.findall(mention or "")
    if roles:
        allowed["roles"] = roles
    if users:
        allowed["users"] = users
    return allowed


def discord(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int, keep: int) -> dict[str, Any]:
        value_chars = max(60, min(DISCORD_FIELD_VALUE_CHARS, budget // 3))
        name_chars = min(DISCORD_FIELD_NAME_CHARS, _label_chars(budget))
        fields = [
            {
                "name": fit(label, name_chars, DISCORD_ESCAPE) or "-",
                "value": fit(value, value_chars, DISCORD_ESCAPE) or "-",
                "inline": len(value) <= 40,
            }
            # Room for ours too (severity, lasted, time, the marker, the runbook) within Discord's 25.
            for label, value in _facts(n, min(keep, DISCORD_MAX_FIELDS - 5))
        ]
        # Our label, and a URL the model checked and percent-encoded (no ')' can end the link early).
        fields.extend(
            {"name": label, "value": f"[{label}]({url})", "inline": True}
            for label, url in _links(n)
            if label == "Runbook"
        )
        embed: dict[str, Any] = {
            "title": fit(headline(n), DISCORD_TITLE_CHARS, DISCORD_ESCAPE),
            "color": colour(n),
            "fields": fields[:DISCORD_MAX_FIELDS],
            # Footers are plain text (no markdown, no links): not escaped.
            "footer": {"text": clip(_context(n), min(DISCORD_FOOTER_CHARS, max(200, budget)))},
            "timestamp": n.timestamp.astimezone(UTC).isoformat(),
        }
        text = fit(_text(n), min(budget, DISCORD_DESCRIPTION_CHARS), DISCORD_ESCAPE) if budget else ""
        if text:
            embed["description"] = text
        if n.console_url:
            embed["url"] = n.console_url
        return {
            "content": _with_mention(mention, headline(n), DISCORD_CONTENT_CHARS, DISCORD_ESCAPE),
            "embeds": [embed],
            "allowed_mentions": discord_allowed_mentions(mention),
        }

    return _fit(build, lambda p: discord_embed_chars(p["embeds"][0]) <= DISCORD_EMBED_TOTAL_CHARS)


# --- generic JSON webhook: the normalized notification itself ------------------------------------


def generic_json(n: Notification, mention: str | None = None) -> dict[str, Any]:
    def build(budget: int, keep: int) -> dict[str, Any]:
        # `notification` is data, kept as published (bounded); `text` is what a receiving chat shows.
        fields = dict(list(n.fields.items())[:keep])
        trimmed = n.model_copy(
            update={
                "summary": clip(n.summary, budget * 10),
                "description": clip(n.description, budget) if n.description else None,
                "fields": bound_fields(fields, _label_chars(budget), max(100, budget)),
            }
        )
        return {
            "text": _with_mention(mention, fallback_text(n), SLACK_TEXT_CHARS, INERT),
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
    # Validated again: a notification changed with model_copy skipped the model's cleaning and bounds.
    n = Notification.model_validate(n.model_dump())
    return FORMATTERS[destination](n, mention)
