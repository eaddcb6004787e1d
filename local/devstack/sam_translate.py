"""Run by SAM CLI's own Python (.venv-sam): the template on stdin as JSON, CloudFormation on stdout.

aws-sam-translator pins a pydantic the shared layer cannot use, so it is not in .venv: the local
stack asks the translator SAM CLI installed, the very one `sam deploy` runs (devstack.iam).
Usage: python sam_translate.py REGION < template.json
"""

import json
import sys

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


def _no_policy_names() -> dict[str, str]:
    raise ValueError("a Policies entry names a managed policy; use its ARN so no IAM lookup is needed")


def main() -> None:
    template = json.load(sys.stdin)
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        # `sam deploy` uploads local code first; the translator accepts only S3 locations.
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://local-code/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://local-code/layer.zip"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=sys.argv[1]))
    json.dump(translator.translate(template, parameter_values={}, get_managed_policy_map=_no_policy_names), sys.stdout)


if __name__ == "__main__":
    main()
