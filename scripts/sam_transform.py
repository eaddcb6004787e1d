"""Print template.yaml transformed to plain CloudFormation (JSON) by the SAM translator SAM CLI uses.

Run with .venv-sam's Python (`.venv-sam/bin/python scripts/sam_transform.py [template] [artifact bucket]`):
the translator pins a pydantic that the test environment cannot share. Local CodeUri/ContentUri paths
become `s3://<artifact bucket>/<path>.zip`, as `sam validate` does, so the caller can upload the zips.
"""

import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ARTIFACT_BUCKET = "practika-deploy-artifacts"
REGION = "us-east-1"  # the translator builds ARNs (partition) from a region; no AWS call is made
URI_PROPERTY = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def artifact_key(local_path: str) -> str:
    return local_path.strip("/").replace("/", "-") + ".zip"


def point_code_at_s3(template: dict[str, Any], bucket: str) -> None:
    for resource in template["Resources"].values():
        prop = URI_PROPERTY.get(resource.get("Type", ""))
        props = resource.get("Properties", {})
        if prop and isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
            props[prop] = f"s3://{bucket}/{artifact_key(props[prop])}"


def no_managed_policies() -> dict[str, str]:
    # The template grants only inline statements; a managed policy name would need IAM to resolve,
    # and the translator fails loudly on one it cannot find here.
    return {}


def transform(path: Path, bucket: str = ARTIFACT_BUCKET) -> dict[str, Any]:
    template = yaml_parse(path.read_text())
    point_code_at_s3(template, bucket)
    translator = Translator(
        managed_policy_map=None, sam_parser=Parser(), plugins=[], boto_session=boto3.Session(region_name=REGION)
    )
    result: dict[str, Any] = translator.translate(
        sam_template=template, parameter_values={}, get_managed_policy_map=no_managed_policies
    )
    return result


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "template.yaml"
    bucket = sys.argv[2] if len(sys.argv) > 2 else ARTIFACT_BUCKET
    json.dump(transform(source, bucket), sys.stdout, indent=1, default=str)
