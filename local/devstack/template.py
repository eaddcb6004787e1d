"""Read template.yaml (CloudFormation tags included) and resolve the intrinsics the local stack needs."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_STACK_NAME = "practika-local"  # AWS::StackName of the local stack: every name the template makes from it


class Tagged(dict):
    """A `!Tag value` node, kept as {"Fn::X": value} like the JSON form of a template."""


def _construct(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    key = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def build(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return Tagged({key: value})

    return build


class _Loader(yaml.SafeLoader):
    pass


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Equals",
    "Select",
    "Split",
    "FindInMap",
    "Not",
    "And",
    "Or",
    "Condition",
    "ImportValue",
    "GetAZs",
    "Base64",
    "Cidr",
):
    _Loader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a safe loader with CFN tags added


@dataclass
class Resolver:
    """Resolves Ref/GetAtt/Sub/Join/If against parameters and the physical ids the stack created."""

    region: str
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    # CommaDelimitedList parameters: a Ref to one is a list, as in CloudFormation.
    list_parameters: set[str] = field(default_factory=set)
    stack_name: str = LOCAL_STACK_NAME

    def pseudo(self, name: str) -> str:
        return {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::NoValue": "",
        }[name]

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"Ref to {name}, which the local stack has not created")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise KeyError(f"GetAtt {logical_id}.{attribute} is not known to the local stack") from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    if arg in self.list_parameters:
                        return [item.strip() for item in self.parameters[arg].split(",")]
                    return self.ref(arg)
                if key == "Fn::GetAtt":
                    return self.get_att(*(arg if isinstance(arg, list) else arg.split(".", 1)))
                if key == "Fn::Sub":
                    return self._sub(arg)
                if key == "Fn::Join":
                    return str(arg[0]).join(str(self.resolve(v)) for v in self.resolve(arg[1]))
                if key == "Fn::If":
                    name, when_true, when_false = arg
                    return self.resolve(when_true if self.conditions.get(name) else when_false)
                if key == "Fn::Equals":
                    return self.resolve(arg[0]) == self.resolve(arg[1])
                if key == "Fn::Select":
                    return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)


def evaluate_conditions(template: dict[str, Any], resolver: Resolver) -> None:
    for name, expression in (template.get("Conditions") or {}).items():
        resolver.conditions[name] = bool(_condition(expression, resolver))


def _condition(expression: Any, resolver: Resolver) -> Any:
    if isinstance(expression, dict) and len(expression) == 1:
        ((key, arg),) = expression.items()
        if key == "Fn::Equals":
            return resolver.resolve(arg[0]) == resolver.resolve(arg[1])
        if key == "Fn::Not":
            return not _condition(arg[0], resolver)
        if key == "Fn::And":
            return all(_condition(a, resolver) for a in arg)
        if key == "Fn::Or":
            return any(_condition(a, resolver) for a in arg)
        if key == "Condition":
            return resolver.conditions[arg]
    return resolver.resolve(expression)
