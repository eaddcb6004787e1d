"""Least privilege in template.yaml: each function is granted only its own resources and actions,
object rights stop at a key prefix, nothing grants `*`, resource policies are pinned to this account,
and the buckets refuse plain HTTP and public access."""

import json
import re
from typing import Any

import pytest

from devstack.template import load_template

TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
FUNCTIONS = {lid: r["Properties"] for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
BUCKETS = [lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::S3::Bucket"]

# What each function may touch. Widening one is a deliberate change made here, next to the reason.
OWN_RESOURCES = {
    "HealthFunction": {"AppTable", "UploadsBucket"},  # DescribeTable and ListBucket probes only
    # ClipsBucket: DELETE /videos/{id} erases the video's clip files too (DeleteObject on clips/* only).
    "UploadApiFunction": {"AppTable", "UploadsBucket", "ClipsBucket"},
    "ValidateFunction": {"AppTable", "UploadsBucket"},
    "ClipApiFunction": {"AppTable", "ClipQueue", "ClipsBucket"},
    # ClipQueue: ChangeMessageVisibility only, to bring back a job that arrived before its record.
    "ClipWorkerFunction": {"AppTable", "UploadsBucket", "ClipsBucket", "ClipQueue"},
    "AlarmRouterFunction": {"AppTable", "IdempotencyTable", "ChatWebhooksSecret"},
    "SecurityForwarderFunction": {"SecurityLogGroup"},  # CreateLogStream and PutLogEvents only
    "EventPublisherFunction": {"AppTable", "AppEventBus", "EventPublisherDLQ"},  # stream read, PutEvents
    "WebhookFunction": {"WebhookSigningSecret", "WebhookQueue", "WebhookDLQ"},
}
SERVICE_OF = {
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::S3::Bucket": "s3",
    "AWS::SQS::Queue": "sqs",
    "AWS::SecretsManager::Secret": "secretsmanager",
    "AWS::Logs::LogGroup": "logs",
    "AWS::Events::EventBus": "events",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(function_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in FUNCTIONS[function_id].get("Policies") or []:
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, (
            f"{function_id}: only inline statements, no managed policies or SAM policy templates: {policy}"
        )
        found.extend(policy["Statement"])
    return found


def referenced(resource: Any) -> set[str]:
    """Logical ids a Resource entry names (Ref, GetAtt or ${Id.Attr} in a Sub)."""
    if isinstance(resource, dict) and "Ref" in resource:
        return {resource["Ref"]}
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return {resource["Fn::GetAtt"][0]}
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        return {
            name.split(".")[0]
            for name in re.findall(r"\$\{([^}]+)\}", resource["Fn::Sub"])
            if not name.startswith("AWS::")
        }
    return set()


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_a_function_is_known_to_the_least_privilege_table(function_id):
    assert function_id in OWN_RESOURCES, "a new function needs its own line in OWN_RESOURCES"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_each_function_policy_names_only_its_own_resources(function_id):
    for statement in statements(function_id):
        assert statement["Effect"] == "Allow"
        for resource in as_list(statement["Resource"]):
            names = referenced(resource)
            assert names, f"{function_id}: resource {resource!r} is not one of the template's"
            assert names <= OWN_RESOURCES[function_id], f"{function_id} reaches {names - OWN_RESOURCES[function_id]}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_each_action_belongs_to_the_service_of_the_resource_it_is_granted_on(function_id):
    for statement in statements(function_id):
        services = {SERVICE_OF[RESOURCES[n]["Type"]] for r in as_list(statement["Resource"]) for n in referenced(r)}
        for action in as_list(statement["Action"]):
            assert action.split(":")[0] in services, f"{function_id}: {action} on {services}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_no_function_is_granted_a_wildcard_action_or_resource(function_id):
    for statement in statements(function_id):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{function_id}: wildcard action {action}"
        for resource in as_list(statement["Resource"]):
            assert resource != "*", f"{function_id}: Resource *"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_object_rights_stop_at_a_key_prefix(function_id):
    for statement in statements(function_id):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::Sub" in resource and "Bucket" in resource["Fn::Sub"]:
                assert re.fullmatch(r"\$\{\w+Bucket\.Arn\}/[a-z]+/\*", resource["Fn::Sub"]), (
                    f"{function_id}: {resource['Fn::Sub']} is not limited to one prefix"
                )


def test_the_router_reaches_the_shared_table_only_for_its_thread_records():
    table = {"Fn::GetAtt": ["AppTable", "Arn"]}
    (statement,) = [s for s in statements("AlarmRouterFunction") if s["Resource"] == table]
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["THREAD#*"]}}


def allow_statements_anywhere() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for lid, resource in RESOURCES.items():
        document = (resource.get("Properties") or {}).get("PolicyDocument") or (resource.get("Properties") or {}).get(
            "KeyPolicy"
        )
        for statement in (document or {}).get("Statement") or []:
            if statement["Effect"] == "Allow":
                found.append((lid, statement))
    return found


def test_no_policy_in_the_template_allows_every_action_on_every_resource():
    for lid, statement in allow_statements_anywhere():
        actions = as_list(statement["Action"])
        wildcard = "*" in actions or any(a.endswith(":*") for a in actions)
        if RESOURCES[lid]["Type"] == "AWS::KMS::Key":
            # A key policy's Resource "*" is the key itself; kms:* is for the account root only.
            assert not wildcard or statement["Principal"] == {
                "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            }, lid
            continue
        assert not wildcard, f"{lid}: {actions}"
        assert statement.get("Resource") != "*", lid


def test_service_principals_in_resource_policies_are_pinned_to_this_account():
    for lid, statement in allow_statements_anywhere():
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "Service" in principal and RESOURCES[lid]["Type"] != "AWS::KMS::Key":
            assert "aws:SourceAccount" in json.dumps(statement.get("Condition")), lid


@pytest.mark.parametrize("bucket_id", BUCKETS)
def test_every_bucket_blocks_public_access_and_is_encrypted(bucket_id):
    props = RESOURCES[bucket_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]


@pytest.mark.parametrize("bucket_id", BUCKETS)
def test_every_bucket_denies_requests_without_tls_on_the_bucket_and_its_objects(bucket_id):
    policies = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert len(policies) == 1, f"{bucket_id} has no bucket policy"
    denies = [
        s
        for s in policies[0]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert denies, f"{bucket_id} accepts plain HTTP"
    (deny,) = denies
    assert deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Resource"] == [{"Fn::GetAtt": [bucket_id, "Arn"]}, {"Fn::Sub": f"${{{bucket_id}.Arn}}/*"}]


def test_queues_and_topics_are_encrypted_at_rest():
    for lid, resource in RESOURCES.items():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::SQS::Queue":
            assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), lid
        if resource["Type"] == "AWS::SNS::Topic":
            assert props.get("KmsMasterKeyId"), lid
