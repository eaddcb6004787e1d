"""Each platform's published limits, checked on a payload independently of the formatters' own constants."""

import html
import json
import re
from typing import Any


def _bytes(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def slack_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    if not payload.get("text"):
        problems.append("no top-level text fallback")
    blocks = [b for a in payload.get("attachments", []) for b in a.get("blocks", [])] + payload.get("blocks", [])
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks")
    for block in blocks:
        if block["type"] == "header" and len(block["text"]["text"]) > 150:
            problems.append("header over 150 characters")
        if block["type"] == "section":
            if "text" in block and len(block["text"]["text"]) > 3000:
                problems.append("section text over 3000 characters")
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append("more than 10 fields")
            problems += ["field over 2000 characters" for f in fields if len(f["text"]) > 2000]
        if block["type"] == "actions":
            for element in block["elements"]:
                if len(element["text"]["text"]) > 75 or len(element.get("url", "")) > 3000:
                    problems.append("button too long")
    return problems


def teams_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    attachment = payload["attachments"][0]
    if attachment["contentType"] != "application/vnd.microsoft.card.adaptive":
        problems.append("not an adaptive card")
    if attachment["content"]["type"] != "AdaptiveCard":
        problems.append("content is not an AdaptiveCard")
    if _bytes(payload) > 28 * 1024:
        problems.append(f"{_bytes(payload)} bytes")
    return problems


def google_chat_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    if not payload.get("cardsV2"):
        problems.append("no cardsV2")
    if _bytes(payload) > 32_000:
        problems.append(f"{_bytes(payload)} bytes")
    return problems


def discord_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    if len(payload.get("content", "")) > 2000:
        problems.append("content over 2000 characters")
    embeds = payload.get("embeds", [])
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    total = 0
    for embed in embeds:
        if len(embed.get("title", "")) > 256 or len(embed.get("description", "")) > 4096:
            problems.append("title or description too long")
        fields = embed.get("fields", [])
        if len(fields) > 25:
            problems.append("more than 25 fields")
        for field in fields:
            if len(field["name"]) > 256 or len(field["value"]) > 1024 or not field["value"]:
                problems.append(f"bad field {field['name'][:30]}")
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    if total > 6000:
        problems.append(f"embeds total {total} characters")
    return problems


def json_problems(payload: dict[str, Any]) -> list[str]:
    return [] if payload.get("notification") and payload.get("text") else ["no notification or text"]


PROBLEMS = {
    "slack": slack_problems,
    "teams": teams_problems,
    "google_chat": google_chat_problems,
    "discord": discord_problems,
    "json": json_problems,
}


def strings(value: Any) -> list[str]:
    """Every string in a payload (keys excluded)."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def readable_text(payload: dict[str, Any]) -> str:
    """All the text a person would read in the payload, escapes undone (Slack and HTML entities,
    markdown backslashes, zero-width spaces), to check the essentials made it in."""
    return "\n".join(html.unescape(re.sub(r"\\(.)", r"\1", s)).replace("\u200b", "") for s in strings(payload))
