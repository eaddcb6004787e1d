"""What a first deploy into an ordinary account needs: no reserved concurrency unless asked for (with the
quota that takes written in the README), state that outlives the stack, and names that two stacks of one
environment in one account do not share."""

import re
from typing import Any

from devstack.template import Resolver, evaluate_conditions
from tests.deploy.conftest import REGION, ROOT

# Lambda keeps at least 100 of the account's concurrency unreserved: "You can reserve up to the Unreserved
# account concurrency value that is shown, minus 100 for functions that don't have reserved concurrency."
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
UNRESERVED_MINIMUM = 100
# Properties ending in "Name" that do not name the resource in the account: a metric, the API's own
# stage, the topic's label. Every other one (and the budget's) is a name two stacks must not share.
NOT_ACCOUNT_NAMES = {"MetricName", "StageName", "DisplayName"}
STATEFUL = {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Logs::LogGroup"}


def reserved_when_asked(template: dict[str, Any]) -> dict[str, int]:
    """Each function's reserved concurrency when ReserveConcurrency is true: !If [cond, N, NoValue]."""
    found = {}
    for lid, resource in template["Resources"].items():
        value = resource.get("Properties", {}).get("ReservedConcurrentExecutions")
        if resource["Type"] == "AWS::Lambda::Function" and value is not None:
            condition, when_true, when_false = value["Fn::If"]
            assert (condition, when_false) == ("ReservesConcurrency", {"Ref": "AWS::NoValue"}), lid
            found[lid] = int(when_true)
    return found


def test_with_default_parameters_no_function_reserves_concurrency(deployed):
    reserved = {lid: c["ReservedConcurrentExecutions"] for lid, c in deployed.functions.items()}
    assert set(reserved.values()) == {None}, reserved


def test_reserving_concurrency_is_one_parameter_that_caps_every_function(transformed):
    assert transformed["Parameters"]["ReserveConcurrency"]["Default"] == "false"
    assert transformed["Conditions"]["ReservesConcurrency"] == {"Fn::Equals": [{"Ref": "ReserveConcurrency"}, "true"]}
    functions = {lid for lid, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(reserved_when_asked(transformed)) == functions


def test_the_readme_states_the_concurrency_quota_reserving_needs(transformed):
    needed = sum(reserved_when_asked(transformed).values()) + UNRESERVED_MINIMUM
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"concurrent executions quota of at least {needed}\b", readme), needed


def test_stateful_resources_outlive_a_stack_delete_and_a_replacement(transformed):
    # DeletionPolicy / UpdateReplacePolicy: without them CloudFormation deletes the resource with the
    # stack, or when an update replaces it, and its data goes with it.
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatereplacepolicy.html
    unkept = {
        lid: (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
        for lid, r in transformed["Resources"].items()
        if r["Type"] in STATEFUL
        and not (
            r.get("DeletionPolicy") in ("Retain", "Snapshot") and r.get("UpdateReplacePolicy") in ("Retain", "Snapshot")
        )
    }
    assert unkept == {}


def account_names(template: dict[str, Any], stack_name: str) -> set[str]:
    """Every explicit resource name the template gives, as a stack of that name gets it (default parameters)."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    resolver = Resolver(region=REGION, parameters=parameters, stack_name=stack_name)
    evaluate_conditions(template, resolver)
    names = set()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        given = [v for k, v in props.items() if k.endswith("Name") and k not in NOT_ACCOUNT_NAMES]
        if resource["Type"] == "AWS::Budgets::Budget":
            given.append(props["Budget"]["BudgetName"])
        # A Ref or GetAtt names another resource of the same stack, which is named where it is defined.
        names |= {
            str(resolver.resolve(v)) for v in given if not (isinstance(v, dict) and {"Ref", "Fn::GetAtt"} & set(v))
        }
    return names


def test_two_stacks_of_one_environment_in_one_account_share_no_name(transformed):
    # Bucket, log group, alarm, dashboard and budget names are unique per account and Region (bucket names
    # across all accounts); a second stack of the same environment would fail to create, and a Retain'd
    # bucket or log group would block re-creating a deleted stack under another name.
    first, second = account_names(transformed, "practika-dev"), account_names(transformed, "practika-dev-b")
    assert len(first) > 60  # buckets, log groups, alarms, dashboards, queries, budget, layers
    assert first & second == set()
