"""The local stack's IAM evaluator decides as AWS's documented evaluation logic does."""

import pytest

from devstack.policy import Decision, Request, decide, unsupported_operators

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/app"
BUCKET = "arn:aws:s3:::uploads-bucket"


def allow(action, resource, condition=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def test_nothing_is_allowed_without_a_statement_that_allows_it():
    assert decide([], Request("s3:GetObject", f"{BUCKET}/uploads/a")) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow():
    documents = [
        allow("s3:*", "*"),
        {"Statement": {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"}},
    ]

    assert decide(documents, Request("s3:DeleteObject", f"{BUCKET}/uploads/a")) is Decision.EXPLICIT_DENY
    assert decide(documents, Request("s3:GetObject", f"{BUCKET}/uploads/a")) is Decision.ALLOW


@pytest.mark.parametrize(
    ("resource", "decision"),
    [
        (f"{BUCKET}/uploads/a", Decision.ALLOW),
        (f"{BUCKET}/uploads/deep/er", Decision.ALLOW),
        (f"{BUCKET}/quarantine/a", Decision.IMPLICIT_DENY),
        (BUCKET, Decision.IMPLICIT_DENY),
        ("arn:aws:s3:::other/uploads/a", Decision.IMPLICIT_DENY),
    ],
)
def test_a_resource_scoped_grant_covers_only_its_arns(resource, decision):
    assert decide([allow("s3:GetObject", f"{BUCKET}/uploads/*")], Request("s3:GetObject", resource)) is decision


def test_actions_match_case_insensitively_and_with_wildcards_resources_do_not_ignore_case():
    documents = [allow(["dynamodb:get*"], TABLE)]

    assert decide(documents, Request("dynamodb:GetItem", TABLE)) is Decision.ALLOW
    assert decide(documents, Request("dynamodb:PutItem", TABLE)) is Decision.IMPLICIT_DENY
    assert decide(documents, Request("dynamodb:GetItem", TABLE.upper())) is Decision.IMPLICIT_DENY


def test_not_action_and_not_resource_grant_everything_else():
    documents = [{"Statement": [{"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": f"{BUCKET}/secret/*"}]}]

    assert decide(documents, Request("s3:GetObject", f"{BUCKET}/a")) is Decision.ALLOW
    assert decide(documents, Request("s3:DeleteObject", f"{BUCKET}/a")) is Decision.IMPLICIT_DENY
    assert decide(documents, Request("s3:GetObject", f"{BUCKET}/secret/a")) is Decision.IMPLICIT_DENY


def test_a_prefix_conditioned_list_grant_holds_only_for_that_prefix_and_not_without_one():
    documents = [allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": "uploads/*"}})]

    assert decide(documents, Request("s3:ListBucket", BUCKET, {"s3:prefix": ["uploads/a"]})) is Decision.ALLOW
    assert decide(documents, Request("s3:ListBucket", BUCKET, {"s3:prefix": ["quarantine/a"]})) is (
        Decision.IMPLICIT_DENY
    )
    assert decide(documents, Request("s3:ListBucket", BUCKET)) is Decision.IMPLICIT_DENY


def test_leading_keys_for_all_values_holds_for_matching_keys_and_vacuously_for_none():
    documents = [allow("dynamodb:GetItem", TABLE, {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["THREAD#*"]}})]

    assert decide(documents, Request("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": ["THREAD#1"]})) is (
        Decision.ALLOW
    )
    assert decide(documents, Request("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": ["VIDEO#1"]})) is (
        Decision.IMPLICIT_DENY
    )
    # AWS's documented pitfall: ForAllValues over an absent key is true.
    assert decide(documents, Request("dynamodb:GetItem", TABLE)) is Decision.ALLOW


def test_negated_operators_hold_when_the_key_is_absent():
    documents = [allow("s3:ListBucket", BUCKET, {"StringNotEquals": {"s3:prefix": "private/"}})]

    assert decide(documents, Request("s3:ListBucket", BUCKET)) is Decision.ALLOW
    assert decide(documents, Request("s3:ListBucket", BUCKET, {"s3:prefix": ["private/"]})) is Decision.IMPLICIT_DENY


def test_condition_keys_ignore_case():
    documents = [allow("s3:ListBucket", BUCKET, {"StringEquals": {"S3:Prefix": "uploads/"}})]

    assert decide(documents, Request("s3:ListBucket", BUCKET, {"s3:prefix": ["uploads/"]})) is Decision.ALLOW


def test_operators_the_evaluator_does_not_implement_are_reported_not_guessed():
    document = allow("s3:GetObject", "*", {"Bool": {"aws:SecureTransport": "true"}, "StringLike": {"s3:prefix": "a"}})

    assert unsupported_operators(document) == ["Bool"]
