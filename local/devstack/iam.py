"""Every function runs with the IAM role the transformed template gives it, enforced by the moto server.

The SAM translator (SAM CLI's own, the one `sam deploy` runs: scripts/sam_transform.py) turns
template.yaml into CloudFormation; each function's AWS::IAM::Role (inline policies, SAM-added ones
included, and managed policy ARNs) is created in moto's IAM, assumed through moto's STS, and the
worker processes get only those temporary credentials, as Lambda hands them to a function. Every
request the moto server answers is then authorized:

- signed with a role session (a function's credentials): moto checks the signature (SigV4
  header) and finds the role's policies; devstack.policy decides. Presigned URLs and POSTs
  (ffmpeg's reads, the browser's upload) are authorized as the session that signed them, as S3
  does; their signatures are not checked. A session key with a wrong token is refused;
- signed with any key that is no IAM identity (`ROOT_ACCESS_KEY`, the stack's own, or whatever
  fake key a test or tool uses, as moto accepts any): allowed, as the account root is on AWS;
- unsigned: AccessDenied (the buckets block public access).

Why not moto's own evaluator: it ignores Condition in identity policies and checks Resource only
where a service hands one over (S3, SQS); DynamoDB, Secrets Manager, Logs and SNS ask about "*",
which no resource-scoped statement matches. So the resource ARN, the request context and the
action AWS checks are worked out here (`_requests`), per service:
- DynamoDB: the table's ARN and `dynamodb:LeadingKeys` (partition key of Key/Item; not derived
  for Query/Scan). TransactWriteItems is no IAM action: each item is authorized as PutItem,
  UpdateItem, DeleteItem or ConditionCheckItem on its table, as AWS does.
- S3: HeadBucket needs s3:ListBucket; CopyObject also s3:GetObject on the source; ListBucket
  carries `s3:prefix`. GetObject/HeadObject of a missing key answers 403 AccessDenied unless the
  caller may s3:ListBucket the bucket, evaluated with the key as `s3:prefix` (as Ceph matched to
  AWS, ceph/ceph#68577): a prefix-conditioned ListBucket grant gives 404 under its prefix only.
- SQS: moto's queue ARN; SendMessageBatch/DeleteMessageBatch as SendMessage/DeleteMessage.
  The queue pollers (event source mappings) use the function's role too, as Lambda does.
- Secrets Manager: the secret's ARN. Logs: the log group/stream ARN.
Presigned URLs expire (X-Amz-Expires), whoever signed them. Not modelled: resource policies
(bucket, queue, key policies), SCPs and permission boundaries, session expiry, presigned
signatures, condition operators other than the string ones (refused at start-up), global
condition keys (aws:SecureTransport, aws:SourceArn...): none is needed by a function role.
"""

import hashlib
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import boto3

from devstack import policy
from devstack.resources import PREFIX, Stack
from devstack.template import ACCOUNT_ID, ROOT, TEMPLATE

ROOT_ACCESS_KEY = "local"
# SAM CLI's environment holds the translator (its pydantic pin conflicts with the shared layer's).
SAM_PYTHON = Path(os.environ.get("SAM_PYTHON") or ROOT / ".venv-sam" / "bin" / "python")
_log = logging.getLogger("devstack.iam")
_ENFORCING = {"on": False}


@dataclass
class Role:
    logical_id: str
    trust_policy: dict[str, Any]
    managed_policy_arns: list[Any] = field(default_factory=list)
    policies: dict[str, Any] = field(default_factory=dict)  # name -> document (intrinsics unresolved)


def transform(template: Path = TEMPLATE) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would create, from SAM CLI's own translator.

    Cached in the temp directory by the template's and the script's content and by when SAM CLI was
    installed: the translator's start-up is 2 s of every local stack start, and the e2e suites
    start several stacks.
    """
    script = ROOT / "scripts" / "sam_transform.py"
    installed = SAM_PYTHON.parents[1] / ".installed"
    sam_cli = str(installed.stat().st_mtime_ns).encode() if installed.exists() else b""
    digest = hashlib.sha256(template.read_bytes() + script.read_bytes() + sam_cli).hexdigest()[:20]
    cached = Path(tempfile.gettempdir()) / f"practika-sam-transform-{digest}.json"
    if cached.exists():
        found: dict[str, Any] = json.loads(cached.read_text())
        return found
    answer = subprocess.run(  # the SAM CLI environment's Python: the translator's pydantic pin keeps it out of .venv
        [str(SAM_PYTHON), str(script), str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"the SAM translator failed ({SAM_PYTHON}; `make setup` installs it):\n{answer.stderr}")
    transformed: dict[str, Any] = json.loads(answer.stdout)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(answer.stdout)
    partial.replace(cached)
    return transformed


def function_roles(transformed: dict[str, Any]) -> dict[str, Role]:
    """Each Lambda function's execution role, by the function's logical id."""
    resources = transformed["Resources"]
    roles = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"]["Role"]
        role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) else None
        if role_id is None or resources.get(role_id, {}).get("Type") != "AWS::IAM::Role":
            raise ValueError(f"{logical_id}: the local stack models only roles the template creates")
        props = resources[role_id]["Properties"]
        roles[logical_id] = Role(
            logical_id=role_id,
            trust_policy=props["AssumeRolePolicyDocument"],
            managed_policy_arns=list(props.get("ManagedPolicyArns") or []),
            policies={p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies") or []},
        )
    return roles


def grant_roles(session: boto3.session.Session, endpoint: str, stack: Stack) -> None:
    """Create each function's role in moto, assume it, and give the function those credentials."""
    iam = session.client("iam", endpoint_url=endpoint)
    sts = session.client("sts", endpoint_url=endpoint)
    for function_id, role in function_roles(transform()).items():
        name = f"{PREFIX}-{role.logical_id}"
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(role.trust_policy))["Role"]["Arn"]
        for policy_name, document in role.policies.items():
            # AWS reads a document without Version as 2008-10-17 (no policy variables, which none of
            # these uses); moto refuses it, and SAM writes some (EventInvokeConfig) without one.
            resolved = {"Version": "2012-10-17", **stack.resolver.resolve(document)}
            unsupported = policy.unsupported_operators(resolved)
            if unsupported:
                raise SystemExit(
                    f"{role.logical_id}/{policy_name}: condition operators the local stack "
                    f"cannot evaluate: {', '.join(unsupported)} (local/devstack/policy.py)"
                )
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(resolved))
        for policy_arn in role.managed_policy_arns:
            iam.attach_role_policy(RoleName=name, PolicyArn=stack.resolver.resolve(policy_arn))
        spec = stack.functions[function_id]
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=spec.name, DurationSeconds=43200)["Credentials"]
        spec.role_arn = arn
        spec.credentials = {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }


def load_managed_policies() -> None:
    """Let roles attach AWS managed policies (moto ships their documents); before IAM is first used."""
    from moto.core.config import default_user_config

    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


def enforce() -> None:
    """From now on the moto server in this process authorizes every request (idempotent)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize  # type: ignore[method-assign, assignment]
    _ENFORCING["on"] = True


# --- the check, run by moto for every request -----------------------------------------------------


@dataclass
class _Caller:
    access_key_id: str
    token: str | None
    region: str
    service: str
    expired: bool = False


def _caller(response: Any) -> _Caller | None:
    header = response.headers.get("Authorization") or ""
    credential = header.partition("Credential=")[2].partition(",")[0]
    token = response.headers.get("X-Amz-Security-Token")
    expired = False
    if not credential:  # a presigned URL (query string) or presigned POST (form fields)
        fields = {k.lower(): v[0] for k, v in (response.querystring or {}).items() if v}
        credential = fields.get("x-amz-credential", "")
        token = fields.get("x-amz-security-token")
        if "x-amz-expires" in fields and "x-amz-date" in fields:  # a presigned URL's own lifetime
            signed = datetime.strptime(fields["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expired = datetime.now(UTC) > signed + timedelta(seconds=int(fields["x-amz-expires"]))
        if "awsaccesskeyid" in fields:  # S3's SigV2 presigned URL (boto3's default for us-east-1)
            credential = f"{fields['awsaccesskeyid']}/-/{response.region}/s3"
            expired = time.time() > int(fields.get("expires", "0"))
    parts = credential.split("/")
    if len(parts) < 4:
        return None
    return _Caller(access_key_id=parts[0], token=token, region=parts[2], service=parts[3], expired=expired)


def _authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replaces moto's ActionAuthenticatorMixin._authenticate_and_authorize_action."""
    from moto.core.exceptions import AccessDeniedError, JsonRESTError
    from moto.iam.access_control import CreateAccessKeyFailure, S3IAMRequest, create_access_key
    from moto.s3.exceptions import S3AccessDeniedError

    if not _ENFORCING["on"]:
        return
    is_s3 = iam_request_cls is S3IAMRequest
    caller = _caller(response)
    action = response._get_action()
    action = action[0] if isinstance(action, list) else action

    def deny(principal: str, what: str) -> Exception:
        _log.warning("iam denied principal=%s action=%s", principal, what)
        if is_s3:
            return S3AccessDeniedError()
        message = f"User: {principal} is not authorized to perform: {what}"
        if response.headers.get("X-Amz-Target"):  # a JSON-protocol service answers in JSON, as AWS does
            code = "AccessDenied" if caller and caller.service == "sqs" else "AccessDeniedException"
            error = JsonRESTError(code, message)
            error.code = 403
            return error
        return AccessDeniedError(user_arn=principal, action=what)

    if caller is None:
        raise deny("anonymous", f"{_service_of(response)}:{action}")
    if caller.expired:
        raise deny("expired presigned url", f"{caller.service}:{action}")
    if caller.access_key_id == ROOT_ACCESS_KEY:
        return
    try:
        headers = {"X-Amz-Security-Token": caller.token} if caller.token else {}
        access_key = create_access_key(ACCOUNT_ID, "aws", caller.access_key_id, headers)
    except CreateAccessKeyFailure as failure:
        if failure.reason == "InvalidId" and not _is_session_key(caller.access_key_id):
            return  # no IAM identity: the operator's key (moto takes any), allowed as the account root
        raise deny("invalid session token", f"{caller.service}:{action}") from None
    if "Authorization" in response.headers:
        query = urlparse(response.uri).query
        iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=response.raw_path + (f"?{query}" if query else ""),
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=action,
        ).check_signature()
    documents = [_document(p) for p in access_key.collect_policies()]
    for request in _requests(response, caller, f"{caller.service}:{action}", resource):
        if policy.decide(documents, request) is not policy.Decision.ALLOW:
            raise deny(access_key.arn, request.action)


def _is_session_key(access_key_id: str) -> bool:
    from moto.sts.models import sts_backends

    return any(role.access_key_id == access_key_id for role in sts_backends[ACCOUNT_ID]["aws"].assumed_roles)


def _document(found: Any) -> dict[str, Any]:
    """A policy document from what moto's collect_policies gives: managed Policy, JSON text or dict."""
    if hasattr(found, "versions"):
        found = next(v for v in found.versions if v.is_default).document
    if isinstance(found, dict) and "policy_document" in found:
        found = found["policy_document"]
    document: dict[str, Any] = json.loads(found) if isinstance(found, str) else found
    return document


def _service_of(response: Any) -> str:
    return str(getattr(response, "service_name", "") or "unknown")


def _requests(response: Any, caller: _Caller, action: str, resource: str) -> Iterator[policy.Request]:
    if caller.service == "s3":
        yield from _s3_requests(response, action, resource)
    elif caller.service == "dynamodb":
        yield from _dynamodb_requests(response, caller, action)
    elif caller.service == "secretsmanager":
        yield policy.Request(action, _secret_arn(response, caller))
    elif caller.service == "logs":
        body = _json_body(response)
        arn = f"arn:aws:logs:{caller.region}:{ACCOUNT_ID}:log-group:{body.get('logGroupName', '*')}"
        if "logStreamName" in body:
            arn += f":log-stream:{body['logStreamName']}"
        yield policy.Request(action, arn)
    elif caller.service == "sqs":
        # The batch APIs are authorized as their single-message actions: IAM has no *Batch actions.
        yield policy.Request(action.removesuffix("Batch"), resource)
    elif caller.service == "sns":
        yield policy.Request(action, str(response._get_param("TopicArn") or resource))
    elif caller.service == "events":
        # PutEvents is authorized on each entry's bus (a name means this account's bus of that name).
        for entry in _json_body(response).get("Entries") or [{}]:
            bus = str(entry.get("EventBusName") or "default")
            arn = bus if bus.startswith("arn:") else f"arn:aws:events:{caller.region}:{ACCOUNT_ID}:event-bus/{bus}"
            yield policy.Request(action, arn)
    else:
        yield policy.Request(action, resource)


def _json_body(response: Any) -> dict[str, Any]:
    body = response.body  # DynamoDB's handler has parsed it already; the others hold the text
    if not isinstance(body, dict):
        try:
            body = json.loads(body or "{}")
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _s3_requests(response: Any, action: str, resource: str) -> Iterator[policy.Request]:
    bucket_and_key = resource.removeprefix("arn:aws:s3:::")
    bucket, _, key = bucket_and_key.partition("/")
    if action == "s3:HeadBucket":  # no IAM action: HeadBucket is authorized as ListBucket
        action = "s3:ListBucket"
    if action == "s3:PutObject" and not key and "key" in response.querystring:  # a presigned POST
        key = response.querystring["key"][0]
        resource = f"arn:aws:s3:::{bucket}/{key}"
    if action == "s3:ListBucket":
        prefix = response.querystring.get("prefix")
        yield policy.Request(action, resource, {"s3:prefix": [prefix[0]]} if prefix else {})
        return
    yield policy.Request(action, resource)
    copy_source = response.headers.get("x-amz-copy-source")
    if copy_source and action == "s3:PutObject":
        source = unquote(copy_source.lstrip("/").partition("?")[0])
        yield policy.Request("s3:GetObject", f"arn:aws:s3:::{source}")
    if action == "s3:GetObject" and key and not _s3_key_exists(response, bucket, key):
        # 404 only for a caller who may list the bucket; anyone else learns nothing (403).
        yield policy.Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": [key]})


def _s3_key_exists(response: Any, bucket: str, key: str) -> bool:
    from moto.s3.models import s3_backends

    try:
        return s3_backends[ACCOUNT_ID]["aws"].get_object(bucket, key) is not None
    except Exception:  # noqa: BLE001 - a missing bucket: S3 answers as for a missing key
        return False


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb_requests(response: Any, caller: _Caller, action: str) -> Iterator[policy.Request]:
    body = _json_body(response)
    if action == "dynamodb:TransactWriteItems":
        for item in body.get("TransactItems", []):
            ((kind, operation),) = item.items()
            yield _dynamodb_request(caller, f"dynamodb:{_TRANSACT_ACTIONS[kind]}", operation)
        return
    yield _dynamodb_request(caller, action, body)


def _dynamodb_request(caller: _Caller, action: str, operation: dict[str, Any]) -> policy.Request:
    from moto.dynamodb.models import dynamodb_backends

    table = str(operation.get("TableName", "*"))
    arn = f"arn:aws:dynamodb:{caller.region}:{ACCOUNT_ID}:table/{table}"
    if operation.get("IndexName"):  # a Query or Scan of an index is authorized on the index's ARN
        arn += f"/index/{operation['IndexName']}"
    context: dict[str, list[str]] = {}
    item = operation.get("Key") or operation.get("Item")
    if item:
        try:
            hash_key = dynamodb_backends[ACCOUNT_ID][caller.region].get_table(table).hash_key_attr
        except Exception:  # noqa: BLE001 - an unknown table: moto answers ResourceNotFound after this
            hash_key = None
        if hash_key and hash_key in item:
            context["dynamodb:LeadingKeys"] = [str(next(iter(item[hash_key].values())))]
    return policy.Request(action, arn, context)


def _secret_arn(response: Any, caller: _Caller) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = str(_json_body(response).get("SecretId", "*"))
    try:
        return str(secretsmanager_backends[ACCOUNT_ID][caller.region].describe_secret(secret_id).arn)
    except Exception:  # noqa: BLE001 - an unknown secret: moto answers ResourceNotFound after this
        return secret_id
