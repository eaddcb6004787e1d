"""Refuse a deploy that would keep a placeholder parameter or whose stack name cannot form the bucket names,
and print the parameter overrides to deploy with.

`make deploy` runs this first: the template's placeholders (defaults under the reserved `.invalid` name,
RFC 2606) deploy fine and then break at run time (a JWT issuer that matches no token: every route but
/health answers 401). Overrides come from samconfig.toml's `parameter_overrides` for the config env,
then from PARAMS (`make deploy PARAMS="JwtIssuer=https://... JwtAudience=..."`), the later winning.
Bucket names are made from the stack name (unique per account); an uppercase or long stack name is
valid for CloudFormation but not for S3, and the stack would roll back at its first bucket.

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

from devstack.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_MARK = ".invalid"
# S3 bucket naming rules: 3 to 63 characters; lowercase letters, digits, dots and hyphens; a letter or
# digit first and last; no two adjacent dots; none of the reserved prefixes.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME_RULE = "S3 bucket names are 3-63 characters of lowercase letters, digits, dots and hyphens"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
# Without a configured Region, check against the longest Region names (14 characters, ap-southeast-2).
LONGEST_REGION = "ap-southeast-2"


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


def deploy_setting(samconfig: Path, config_env: str, key: str) -> Any:
    """A `sam deploy` setting as SAM CLI reads samconfig.toml: [env.deploy.parameters], else [env.global.parameters]."""
    config = tomllib.loads(samconfig.read_text()).get(config_env, {})
    for command in ("deploy", "global"):
        value = config.get(command, {}).get("parameters", {}).get(key)
        if value is not None:
            return value
    return None


def configured_overrides(samconfig: Path, config_env: str) -> dict[str, str]:
    value = deploy_setting(samconfig, config_env, "parameter_overrides") or ""
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


def bucket_names(template: dict[str, Any], overrides: dict[str, str], stack_name: str, region: str) -> dict[str, str]:
    """Each explicitly named bucket's name in that stack (the local account id has the length of any)."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    resolver = Resolver(region=region, parameters={**parameters, **overrides}, stack_name=stack_name)
    return {
        lid: str(resolver.resolve(r["Properties"]["BucketName"]))
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket" and "BucketName" in r.get("Properties", {})
    }


def stack_name_problems(template: dict[str, Any], overrides: dict[str, str], stack_name: str, region: str) -> list[str]:
    found = []
    for lid, name in sorted(bucket_names(template, overrides, stack_name, region).items()):
        if not BUCKET_NAME.fullmatch(name) or ".." in name or name.startswith(BUCKET_RESERVED_PREFIXES):
            found.append(
                f"stack_name {stack_name!r} makes {lid} {name!r} ({len(name)} characters): {BUCKET_NAME_RULE}; "
                "set a shorter, lowercase stack_name in samconfig.toml"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-env", default="dev")
    parser.add_argument("--params", default=os.environ.get("PARAMS", ""))
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args(argv)
    overrides = {**configured_overrides(args.samconfig, args.config_env), **parse_overrides(args.params)}
    stack_name = deploy_setting(args.samconfig, args.config_env, "stack_name")
    if not stack_name:
        print(f"make deploy refused: samconfig.toml has no stack_name for {args.config_env}", file=sys.stderr)
        return 1
    region = deploy_setting(args.samconfig, args.config_env, "region") or LONGEST_REGION
    template = load_template(args.template)
    placeholder_problems = problems(template, overrides)
    refused = placeholder_problems + stack_name_problems(template, overrides, stack_name, region)
    if refused:
        print("make deploy refused:", *refused, sep="\n  ", file=sys.stderr)
        if placeholder_problems:
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
