"""Is anything from the notification live markup in a rendered payload? What each platform would turn
into a ping or a link, found with the platform's own syntax rules (not with the formatter's escapes).

Only the routing config's mention (a prefix we strip before looking) and the links the parser
recognised (console, runbook) may be live.
"""

import re
from typing import Any

from practika.alarms.model import Notification

# The injection strings of issue 13, and their relatives on each platform.
ISSUE_INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<@U024BE7LH>",
    "<https://evil.example|click here>",
    "@everyone",
    "<users/all>",
    "[x](https://evil.example)",
]
INJECTIONS = [
    *ISSUE_INJECTIONS,
    "<!everyone>",
    "<!subteam^S0123ABC>",
    "<#C024BE7LR>",
    "@here",
    "<@&123456789012345678>",
    "<@!123456789012345678>",
    "<users/123456789>",
    '<a href="https://evil.example">x</a>',
    "&lt;!channel&gt;",
    "**bold** ||spoiler|| `code`",
    "\\<!channel>",
    "\\@everyone",
]


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, string) for every string value in a payload."""
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _strings(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [pair for i, value in enumerate(node) for pair in _strings(value, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def _after_mention(text: str, mention: str | None) -> str:
    if mention:
        assert text.startswith(f"{mention} "), "the configured mention leads the text"
        return text[len(mention) + 1 :]
    return text


def slack(payload: dict[str, Any], n: Notification, mention: str | None, links: set[str]) -> list[str]:
    # mrkdwn (the top-level text, sections, fields, context) makes <...> a mention or a link; plain_text never.
    live = []
    if "<" in _after_mention(payload["text"], mention):
        live.append("text")
    for path, text in _strings(payload["attachments"]):
        if path.endswith(".url") and text not in links:
            live.append(path)
    blocks = [b for a in payload["attachments"] for b in a["blocks"]]
    for block in blocks:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn" and "<" in obj["text"]:
                live.append(f"{block['type']} mrkdwn")
    return live


def _discord_markup(text: str) -> bool:
    """Discord markdown that pings or links: <@...>, <#...>, <https:...>, @everyone/@here, [x](url)."""
    unescaped = re.sub(r"\\.", "", text, flags=re.DOTALL)  # drop every backslash-escaped character
    return bool(re.search(r"[<@]|\[.*\]\(", unescaped, flags=re.DOTALL))


def discord(payload: dict[str, Any], n: Notification, mention: str | None, links: set[str]) -> list[str]:
    live = []
    allowed = payload.get("allowed_mentions", {})
    configured = set(re.findall(r"<@[!&]?(\d+)>", mention or ""))
    if allowed.get("parse") != [] or not set(allowed.get("roles", []) + allowed.get("users", [])) <= configured:
        live.append("allowed_mentions")
    if _discord_markup(_after_mention(payload["content"], mention)):
        live.append("content")
    for embed in payload["embeds"]:
        if embed.get("url") and embed["url"] not in links:
            live.append("embed url")
        for key in ("title", "description"):
            if _discord_markup(embed.get(key, "")):
                live.append(key)
        for field in embed["fields"]:
            ours = field["name"] == "Runbook" and field["value"] == f"[Runbook]({n.runbook_url})"
            if not ours and (_discord_markup(field["name"]) or _discord_markup(field["value"])):
                live.append(f"field {field['name'][:20]}")
    return live


def google_chat(payload: dict[str, Any], n: Notification, mention: str | None, links: set[str]) -> list[str]:
    # Chat's text makes <users/...> a mention and <url|text> a link; card text is HTML-like (<a href>).
    live = []
    text = _after_mention(payload["text"], mention)
    if re.search(r"<(?!\u200b)", text) or re.search(r"\](?!\u200b)\(", text):
        live.append("text")
    for path, value in _strings(payload["cardsV2"]):
        if path.endswith(".url"):
            if value not in links:
                live.append(path)
        elif re.search(r"<(?!\u200b)", value):
            live.append(path)
    return live


def teams(payload: dict[str, Any], n: Notification, mention: str | None, links: set[str]) -> list[str]:
    # TextBlocks and FactSets are markdown ([x](url) is a link); TextRuns never are.
    live = []
    for path, value in _strings(payload["attachments"]):
        if path.endswith(".url") and value not in links:
            live.append(path)
    for node in _nodes(payload["attachments"]):
        if node.get("type") == "TextBlock" and node["text"] != mention and not _STATUS.fullmatch(node["text"]):
            live.append(f"TextBlock {node['text'][:30]}")
        if node.get("type") == "FactSet" or "selectAction" in node:
            live.append(node["type"])
    return live


# Our own words: the state (or severity) after its emoji.
_STATUS = re.compile(r"\S+ (ALARM|OK|INSUFFICIENT DATA|CRITICAL|HIGH|MEDIUM|LOW|INFO)")


def _nodes(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [n for item in node for n in _nodes(item)]
    if isinstance(node, dict):
        return [node, *(n for value in node.values() for n in _nodes(value))]
    return []


def generic_json(payload: dict[str, Any], n: Notification, mention: str | None, links: set[str]) -> list[str]:
    # `text` may be shown by a Slack-compatible or Mattermost chat: <...>, @channel and [x](url) are live there.
    live = []
    if payload["mention"] != mention:
        live.append("mention")
    text = _after_mention(payload["text"], mention)
    if re.search(r"[<@](?!\u200b)", text) or re.search(r"\](?!\u200b)\(", text):
        live.append("text")
    return live


CHECKS = {
    "slack": slack,
    "discord": discord,
    "google_chat": google_chat,
    "teams": teams,
    "json": generic_json,
}


def live_markup(platform: str, payload: dict[str, Any], n: Notification, mention: str | None) -> list[str]:
    """Where in `payload` notification text would ping someone or make a link; [] when inert."""
    links = {url for url in (n.console_url, n.runbook_url) if url}
    return CHECKS[platform](payload, n, mention, links)
