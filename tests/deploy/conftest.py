"""The template as CloudFormation receives it (transformed by the SAM translator SAM CLI ships) and the
stack it creates in moto's CloudFormation, taken as a plain snapshot so no mock outlives the fixture.

moto models most of the stack (functions, roles, layers, tables, buckets, queues, topics, key, log
groups, the GuardDuty rule, dashboards). What it cannot model is listed in NOT_MODELLED and stood in
for by a record of its resolved properties, so Refs and GetAtts to it resolve and the AWS-rule tests
read what CloudFormation would receive. README "Deploying" says what this does and does not prove.
"""

import copy
import io
import json
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation import parsing

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM = ROOT / "scripts" / "sam_transform.py"
STACK = "practika-ci"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# Resource types moto 5.2's CloudFormation has no model for (it would skip them with a warning).
# Growing this list needs a reason here; test_stack_deploys fails on a type missing from it.
NOT_MODELLED = {
    "AWS::ApiGatewayV2::Api": "moto's API Gateway v2 has no CloudFormation model",
    "AWS::ApiGatewayV2::Stage": "moto's API Gateway v2 has no CloudFormation model",
    "AWS::Budgets::Budget": "no Budgets model in moto's CloudFormation",
    "AWS::CloudWatch::Alarm": "moto's CloudWatch models only dashboards in CloudFormation",
    "AWS::CloudWatch::CompositeAlarm": "moto's CloudWatch models only dashboards in CloudFormation",
    "AWS::GuardDuty::Detector": "no GuardDuty model in moto's CloudFormation",
    "AWS::Lambda::EventInvokeConfig": "moto's Lambda has no CloudFormation model for it",
    "AWS::Logs::MetricFilter": "moto's Logs models only log groups and resource policies",
    "AWS::Logs::QueryDefinition": "moto's Logs models only log groups and resource policies",
    "AWS::Logs::SubscriptionFilter": "moto's Logs models only log groups and resource policies",
    "AWS::S3::BucketPolicy": "moto's S3 models only buckets in CloudFormation",
    "AWS::SNS::Subscription": "moto's SNS models only topics in CloudFormation",
    "AWS::SNS::TopicPolicy": "moto's SNS models only topics in CloudFormation",
    "AWS::SQS::QueuePolicy": "moto's SQS models only queues in CloudFormation",
    "AWS::SecretsManager::Secret": "no Secrets Manager model in moto's CloudFormation",
}

# Function properties moto 5.2's CloudFormation ignores (read from its LambdaFunction model): the stack
# creates, but nothing here proves them; the AWS-rule and build tests check them from the template.
FUNCTION_PROPERTIES_MODELLED = {
    "Code",
    "Description",
    "Environment",
    "Handler",
    "MemorySize",
    "ReservedConcurrentExecutions",
    "Role",
    "Runtime",
    "Timeout",
}
FUNCTION_PROPERTIES_NOT_MODELLED = {
    "Architectures",
    "EphemeralStorage",
    "Layers",
    "LoggingConfig",
    "Tags",
    "TracingConfig",
}
# A stand-in's physical id, as CloudFormation would name it (Ref of an alarm is its name).
NAME_PROPERTY = {"AWS::CloudWatch::Alarm": "AlarmName", "AWS::CloudWatch::CompositeAlarm": "AlarmName"}


def transform(template: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """Run the translator in .venv-sam (its pydantic pin cannot share .venv); `make lint` installs it."""
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: `make lint` (part of `make test`) installs SAM CLI there")
    done = subprocess.run(
        [str(SAM_PYTHON), str(TRANSFORM), str(template)], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        pytest.fail(f"the SAM translator rejected {template.name}: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@dataclass
class StandIn:
    """A resource moto cannot model: its logical and physical id and its resolved properties."""

    logical_id: str
    physical_resource_id: str
    resource_type: str
    properties: dict[str, Any]

    def get_cfn_attribute(self, attribute: str) -> str:
        if attribute != "Arn":
            raise NotImplementedError(f"{self.resource_type} stand-in has no attribute {attribute}")
        service = self.resource_type.split("::")[1].lower()
        kind = "alarm:" if service == "cloudwatch" else ""
        return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{kind}{self.physical_resource_id}"

    def is_created(self) -> bool:
        return True


@dataclass
class Deployed:
    status: str
    reason: str
    resources: list[dict[str, Any]]
    unsupported_warnings: list[str]
    stand_ins: dict[str, StandIn]
    functions: dict[str, dict[str, Any]]
    dashboards: dict[str, str]
    key_policies: dict[str, dict[str, Any]]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resolved properties of every stood-in resource of one type, by logical id."""
        return {lid: s.properties for lid, s in self.stand_ins.items() if s.resource_type == resource_type}


def code_zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def upload_code(s3: Any, template: dict[str, Any]) -> None:
    """Lambda reads Code/Content from S3 at create time: put each directory there, as `sam package` would."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        location = props.get("Code") or props.get("Content")
        if isinstance(location, dict) and "S3Key" in location:
            directory = ROOT / location["S3Key"].removesuffix(".zip").replace("-", "/", 1)
            s3.put_object(Bucket=location["S3Bucket"], Key=location["S3Key"], Body=code_zip(directory))


def with_moto_workarounds(template: dict[str, Any]) -> dict[str, Any]:
    """Where moto reads a valid property wrongly, the template is adjusted here and only here."""
    template = copy.deepcopy(template)
    rule = template["Resources"]["GuardDutyFindingsRule"]["Properties"]
    # moto json.dumps an EventPattern even when it is already a JSON string (CloudFormation takes both),
    # then fails to parse it: hand moto the object the Fn::Sub string makes with the default severity.
    severity = template["Parameters"]["GuardDutyMinSeverity"]["Default"]
    rule["EventPattern"] = json.loads(rule["EventPattern"]["Fn::Sub"].replace("${GuardDutyMinSeverity}", str(severity)))
    return template


def standing_in(stand_ins: dict[str, StandIn]) -> Any:
    """moto's resource-class lookup, answering NOT_MODELLED types with a recording stand-in."""
    original = parsing.resource_class_from_type

    class Recorder:
        @staticmethod
        def create_from_cloudformation_json(
            resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> StandIn:
            properties = cloudformation_json.get("Properties", {})
            name = properties.get(NAME_PROPERTY.get(kwargs["ResourceType"], ""), resource_name)
            made = StandIn(kwargs["LogicalId"], name, kwargs["ResourceType"], properties)
            stand_ins[made.logical_id] = made
            return made

    def resource_class(resource_type: str) -> Any:
        return Recorder if resource_type in NOT_MODELLED else original(resource_type)

    return resource_class


def function_config(answer: dict[str, Any]) -> dict[str, Any]:
    """GetFunction's configuration with its reserved concurrency (None when nothing is reserved)."""
    reserved = answer.get("Concurrency", {}).get("ReservedConcurrentExecutions")
    return {**answer["Configuration"], "ReservedConcurrentExecutions": reserved}


def as_json(policy: Any) -> dict[str, Any]:
    # moto hands back a key policy created by CloudFormation as the object it was given, not a string.
    result: dict[str, Any] = json.loads(policy) if isinstance(policy, str) else policy
    return result


def deploy(template: dict[str, Any]) -> Deployed:
    """Create the stack in moto with default parameters and keep what the tests read."""
    stand_ins: dict[str, StandIn] = {}
    with mock_aws(), pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        patch.setattr(parsing, "resource_class_from_type", standing_in(stand_ins))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=template["Resources"]["HealthFunction"]["Properties"]["Code"]["S3Bucket"])
        upload_code(s3, template)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(with_moto_workarounds(template)),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        # moto lists a resource whose Condition is false as a row with empty ids: leave those out.
        resources = [
            r
            for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
            if r["LogicalResourceId"]
        ]
        physical = {r["ResourceType"]: {} for r in resources}
        for r in resources:
            physical[r["ResourceType"]][r["LogicalResourceId"]] = r["PhysicalResourceId"]
        lambda_ = boto3.client("lambda", region_name=REGION)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        return Deployed(
            status=stack["StackStatus"],
            reason=stack.get("StackStatusReason", ""),
            resources=resources,
            unsupported_warnings=[str(w.message) for w in caught if "not supported by moto" in str(w.message)],
            stand_ins=stand_ins,
            functions={
                lid: function_config(lambda_.get_function(FunctionName=name))
                for lid, name in physical.get("AWS::Lambda::Function", {}).items()
            },
            dashboards={
                lid: cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]
                for lid, name in physical.get("AWS::CloudWatch::Dashboard", {}).items()
            },
            key_policies={
                lid: as_json(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
                for lid, key in physical.get("AWS::KMS::Key", {}).items()
            },
        )


@pytest.fixture(scope="session")
def transformed() -> dict[str, Any]:
    return transform()


@pytest.fixture(scope="session")
def deployed(transformed: dict[str, Any]) -> Iterator[Deployed]:
    yield deploy(transformed)
