"""IAM identity-policy evaluation as AWS documents it, for the parts the template's roles use.

Explicit Deny wins, then any Allow, else the implicit deny. Action/NotAction (case-insensitive),
Resource/NotResource and the string condition operators, with the ForAllValues/ForAnyValue set
qualifiers. moto's own evaluator ignores Condition and matches Resource only where its service
hands one over (S3, SQS): see devstack.iam for why the local stack evaluates here instead.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    """One authorization question: may the principal do `action` to `resource` in this context?"""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


# Operators the evaluator implements; a policy using another is refused when the stack starts
# (devstack.iam), never silently treated as matching or not.
STRING_OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike"}
SET_QUALIFIERS = ("ForAllValues:", "ForAnyValue:")


@cache
def glob_pattern(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _matches_any(globs: Iterable[str], value: str, *, case_sensitive: bool) -> bool:
    return any(glob_pattern(glob, case_sensitive).match(value) for glob in globs)


def unsupported_operators(document: Mapping[str, Any]) -> list[str]:
    """Condition operators in a policy document that this evaluator does not implement."""
    found = []
    for statement in _statements(document):
        for operator in statement.get("Condition") or {}:
            base = next((operator.removeprefix(q) for q in SET_QUALIFIERS if operator.startswith(q)), operator)
            if base not in STRING_OPERATORS:
                found.append(operator)
    return found


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement") or []
    return statements if isinstance(statements, list) else [statements]


def _value_matches(operator: str, policy_values: list[str], value: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals"):
        return value in policy_values
    return _matches_any(policy_values, value, case_sensitive=True)


def _condition_holds(operator: str, key: str, policy_values: list[str], context: Mapping[str, Sequence[str]]) -> bool:
    values = next((list(v) for k, v in context.items() if k.lower() == key.lower()), [])  # keys ignore case
    negated = "Not" in operator
    if operator.startswith("ForAllValues:"):
        base = operator.removeprefix("ForAllValues:")
        # Every value in the request matches (true for none): the documented "empty set" gotcha.
        return all(_value_matches(base, policy_values, v) != ("Not" in base) for v in values)
    if operator.startswith("ForAnyValue:"):
        base = operator.removeprefix("ForAnyValue:")
        return any(_value_matches(base, policy_values, v) != ("Not" in base) for v in values)
    if not values:
        # A key absent from the request matches no value; a negated operator is then true.
        return negated
    matched = any(_value_matches(operator, policy_values, v) for v in values)
    return not matched if negated else matched


def _statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in statement:
        if _matches_any(_as_list(statement["NotAction"]), request.action, case_sensitive=False):
            return False
    elif not _matches_any(_as_list(statement.get("Action", [])), request.action, case_sensitive=False):
        return False
    if "NotResource" in statement:
        if _matches_any(_as_list(statement["NotResource"]), request.resource, case_sensitive=True):
            return False
    elif not _matches_any(_as_list(statement.get("Resource", [])), request.resource, case_sensitive=True):
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, policy_values in keys.items():
            if not _condition_holds(operator, key, _as_list(policy_values), request.context):
                return False
    return True


def decide(documents: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not _statement_applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
