"""Create template.yaml's resources in moto, named and configured as the template says."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from devstack.template import ACCOUNT_ID, LOCAL_STACK_NAME, ROOT, Resolver, evaluate_conditions, load_template

PREFIX = LOCAL_STACK_NAME  # names the template leaves to CloudFormation start with the stack name, as there


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    region: str
    max_retry_attempts: int = 2
    on_failure_arn: str | None = None
    role_arn: str | None = None
    credentials: dict[str, str] = field(default_factory=dict)  # the role's session (devstack.iam)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"


@dataclass
class Stack:
    template: dict[str, Any]
    resolver: Resolver
    resources: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)


def _by_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _parameters(template: dict[str, Any], overrides: dict[str, str], local: dict[str, str]) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update({name: value for name, value in local.items() if name in values})
    unknown = set(overrides) - set(values)
    if unknown:
        raise SystemExit(f"unknown template parameters: {', '.join(sorted(unknown))}")
    values.update(overrides)
    return values


def create_stack(
    session: boto3.session.Session,
    endpoint: str,
    overrides: dict[str, str],
    queue_visibility_s: int | None = None,
    local_defaults: dict[str, str] | None = None,
) -> Stack:
    """`local_defaults` replace the template's defaults where it has such parameters; `overrides` win."""
    template = load_template()
    region = session.region_name or "us-east-1"
    resolver = Resolver(region=region, parameters=_parameters(template, overrides, local_defaults or {}))
    resolver.list_parameters = {
        name for name, spec in template.get("Parameters", {}).items() if spec.get("Type") == "CommaDelimitedList"
    }
    evaluate_conditions(template, resolver)
    stack = Stack(template=template, resolver=resolver)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint)

    _create_queues(stack, client("sqs"), queue_visibility_s)
    _create_event_buses(stack, client("events"))
    _create_tables(stack, client("dynamodb"))
    _create_topics(stack, client("sns"))
    _create_log_groups(stack, client("logs"))
    _create_secrets(stack, client("secretsmanager"))
    _create_buckets(stack, client("s3"))
    _describe_functions(stack)
    return stack


def _create_queues(stack: Stack, sqs: Any, visibility_s: int | None) -> None:
    queues = _by_type(stack.template, "AWS::SQS::Queue")
    # DLQs first: a queue's redrive policy names its DLQ's ARN.
    ordered = sorted(queues, key=lambda lid: "RedrivePolicy" in (queues[lid].get("Properties") or {}))
    for logical_id in ordered:
        props = stack.resolver.resolve(queues[logical_id].get("Properties") or {})
        name = f"{PREFIX}-{logical_id}"
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in props:
                attributes[key] = str(props[key])
        if visibility_s is not None:
            attributes["VisibilityTimeout"] = str(visibility_s)
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        stack.resolver.refs[logical_id] = url
        stack.resolver.attributes[(logical_id, "Arn")] = arn
        stack.resolver.attributes[(logical_id, "QueueName")] = name
        stack.resolver.attributes[(logical_id, "QueueUrl")] = url
        stack.queue_urls[logical_id] = url
        stack.queue_arns[logical_id] = arn
        stack.resources[logical_id] = url


def _create_event_buses(stack: Stack, events: Any) -> None:
    """The template's own buses, and the rules on them with their targets (rules on the default bus,
    such as GuardDuty's, are AWS's business and not emulated)."""
    for logical_id, resource in _by_type(stack.template, "AWS::Events::EventBus").items():
        name = stack.resolver.resolve(resource["Properties"]["Name"])
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        stack.resolver.refs[logical_id] = name
        stack.resolver.attributes[(logical_id, "Arn")] = arn
        stack.resolver.attributes[(logical_id, "Name")] = name
        stack.resources[logical_id] = name
    buses = {stack.resources[lid] for lid in _by_type(stack.template, "AWS::Events::EventBus")}
    for logical_id, resource in _by_type(stack.template, "AWS::Events::Rule").items():
        bus = resource["Properties"].get("EventBusName")
        if bus is None or stack.resolver.resolve(bus) not in buses:
            continue
        props = stack.resolver.resolve(resource["Properties"])
        name = f"{PREFIX}-{logical_id}"
        arn = events.put_rule(
            Name=name,
            EventBusName=props["EventBusName"],
            EventPattern=json.dumps(props["EventPattern"]),
            State="ENABLED",
        )["RuleArn"]
        events.put_targets(
            Rule=name,
            EventBusName=props["EventBusName"],
            Targets=[{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets", [])],
        )
        stack.resolver.attributes[(logical_id, "Arn")] = arn
        stack.resources[logical_id] = name


def _create_tables(stack: Stack, dynamodb: Any) -> None:
    for logical_id, resource in _by_type(stack.template, "AWS::DynamoDB::Table").items():
        props = stack.resolver.resolve(resource["Properties"])
        name = props.get("TableName") or f"{PREFIX}-{logical_id}"
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                args[key] = props[key]
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        description = dynamodb.create_table(**args)["TableDescription"]
        if "LatestStreamArn" in description:
            stack.resolver.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        stack.resolver.refs[logical_id] = name
        stack.resolver.attributes[(logical_id, "Arn")] = description["TableArn"]
        stack.resources[logical_id] = name


def _create_log_groups(stack: Stack, logs: Any) -> None:
    for logical_id, resource in _by_type(stack.template, "AWS::Logs::LogGroup").items():
        props = stack.resolver.resolve(resource.get("Properties") or {})
        name = props.get("LogGroupName") or f"/{PREFIX}/{logical_id}"
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        stack.resolver.refs[logical_id] = name
        arn = f"arn:aws:logs:{stack.resolver.region}:{ACCOUNT_ID}:log-group:{name}:*"
        stack.resolver.attributes[(logical_id, "Arn")] = arn
        stack.resources[logical_id] = name


def _create_topics(stack: Stack, sns: Any) -> None:
    for logical_id in _by_type(stack.template, "AWS::SNS::Topic"):
        arn = sns.create_topic(Name=f"{PREFIX}-{logical_id}")["TopicArn"]
        stack.resolver.refs[logical_id] = arn
        stack.resolver.attributes[(logical_id, "TopicArn")] = arn
        stack.resources[logical_id] = arn


def _create_secrets(stack: Stack, secrets: Any) -> None:
    for logical_id, resource in _by_type(stack.template, "AWS::SecretsManager::Secret").items():
        props = stack.resolver.resolve(resource.get("Properties") or {})
        arn = secrets.create_secret(Name=f"{PREFIX}-{logical_id}", SecretString=props.get("SecretString", "{}"))["ARN"]
        stack.resolver.refs[logical_id] = arn
        stack.resources[logical_id] = arn


def _create_buckets(stack: Stack, s3: Any) -> None:
    buckets = _by_type(stack.template, "AWS::S3::Bucket")
    for logical_id, resource in buckets.items():
        props = resource.get("Properties") or {}
        name = stack.resolver.resolve(props.get("BucketName")) or f"{PREFIX}-{logical_id}".lower()
        s3.create_bucket(Bucket=name)
        if "CorsConfiguration" in props:
            cors = _s3_cors(stack.resolver.resolve(props["CorsConfiguration"]))
            s3.put_bucket_cors(Bucket=name, CORSConfiguration=cors)
        stack.resolver.refs[logical_id] = name
        stack.resolver.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
        stack.resources[logical_id] = name
    # Notifications after every bucket and queue exists, exactly as the template configures them.
    for logical_id, resource in buckets.items():
        notification = (resource.get("Properties") or {}).get("NotificationConfiguration")
        if not notification:
            continue
        config = stack.resolver.resolve(notification)
        queue_configs = []
        for queue in config.get("QueueConfigurations", []):
            entry: dict[str, Any] = {"QueueArn": queue["Queue"], "Events": [queue["Event"]]}
            if "Filter" in queue:
                entry["Filter"] = {"Key": {"FilterRules": queue["Filter"]["S3Key"]["Rules"]}}
            queue_configs.append(entry)
        s3.put_bucket_notification_configuration(
            Bucket=stack.resources[logical_id],
            NotificationConfiguration={"QueueConfigurations": queue_configs},
        )


def _s3_cors(config: dict[str, Any]) -> dict[str, Any]:
    """The template's CorsConfiguration in PutBucketCors's shape (CloudFormation names differ)."""
    names = {
        "Id": "ID",
        "AllowedOrigins": "AllowedOrigins",
        "AllowedMethods": "AllowedMethods",
        "AllowedHeaders": "AllowedHeaders",
        "ExposedHeaders": "ExposeHeaders",
        "MaxAge": "MaxAgeSeconds",
    }
    return {"CORSRules": [{names[key]: value for key, value in rule.items()} for rule in config["CorsRules"]]}


def _describe_functions(stack: Stack) -> None:
    template = stack.template
    global_fn = (template.get("Globals") or {}).get("Function") or {}
    global_env = stack.resolver.resolve((global_fn.get("Environment") or {}).get("Variables") or {})
    for logical_id, resource in _by_type(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        env = dict(global_env)
        env.update(stack.resolver.resolve((props.get("Environment") or {}).get("Variables") or {}))
        invoke_config = props.get("EventInvokeConfig") or {}
        on_failure = ((invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        name = f"{PREFIX}-{logical_id}"
        stack.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            code_dir=ROOT / props["CodeUri"],
            handler=props["Handler"],
            timeout_s=int(props.get("Timeout", global_fn.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", global_fn.get("MemorySize", 128))),
            environment={k: str(v) for k, v in env.items()},
            events=props.get("Events") or {},
            region=stack.resolver.region,
            max_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure_arn=stack.resolver.resolve(on_failure) if on_failure else None,
        )
        stack.resources[logical_id] = name
