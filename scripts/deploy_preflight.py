"""Refuse a deploy that would keep a placeholder parameter, and print the parameter overrides to deploy with.

`make deploy` runs this first: the template's placeholders (defaults under the reserved `.invalid` name,
RFC 2606) deploy fine and then break at run time (a JWT issuer that matches no token: every route but
/health answers 401). Overrides come from samconfig.toml's `parameter_overrides` for the config env,
then from PARAMS (`make deploy PARAMS="JwtIssuer=https://... JwtAudience=..."`), the later winning.

    PYTHONPATH=local python scripts/deploy_preflight.py [--config-env dev] [--params "K=V ..."]
"""

import argparse
import os
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

from devstack.template import load_template

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_MARK = ".invalid"


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value` pairs as sam deploy takes them (values with spaces quoted)."""
    pairs = {}
    for token in shlex.split(text):
        key, sep, value = token.partition("=")
        if not sep:
            raise SystemExit(f"deploy preflight: '{token}' is not Key=Value")
        pairs[key] = value
    return pairs


def sam_quote(value: str) -> str:
    """A value as sam deploy's --parameter-overrides reads it: bare, or double-quoted with escapes."""
    if re.fullmatch(r"[^\s\"'\\]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def configured_overrides(samconfig: Path, config_env: str) -> dict[str, str]:
    config = tomllib.loads(samconfig.read_text())
    value: Any = config.get(config_env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return parse_overrides(" ".join(value) if isinstance(value, list) else value)


def placeholders(template: dict[str, Any]) -> dict[str, str]:
    """Parameters whose default is a placeholder, with that default."""
    return {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if PLACEHOLDER_MARK in str(spec.get("Default", ""))
    }


def problems(template: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    found = []
    for name, default in sorted(placeholders(template).items()):
        value = overrides.get(name, default)
        if PLACEHOLDER_MARK in value:
            description = " ".join(str(template["Parameters"][name].get("Description", "")).split())
            found.append(f"{name} is the placeholder {value!r}: pass {name}=<value> in PARAMS ({description})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-env", default="dev")
    parser.add_argument("--params", default=os.environ.get("PARAMS", ""))
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args(argv)
    overrides = {**configured_overrides(args.samconfig, args.config_env), **parse_overrides(args.params)}
    refused = problems(load_template(args.template), overrides)
    if refused:
        print("make deploy refused:", *refused, sep="\n  ", file=sys.stderr)
        print(
            'example: make deploy PARAMS="JwtIssuer=https://<issuer>/ JwtAudience=<audience> '
            'CorsAllowedOrigins=https://<app origin>"',
            file=sys.stderr,
        )
        return 1
    print(" ".join(f"{key}={sam_quote(value)}" for key, value in overrides.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
