"""Make moto's server behave like AWS where the local stack depends on it.

DynamoDB under concurrent requests:

moto's DynamoDB backend is not thread-safe, and its threaded server answers requests in parallel:
`TransactWriteItems` deep-copies each table as a backup and restores that copy when a condition
fails, so a failing transaction can wipe out writes other requests made meanwhile, and two
racing transactions can both pass `attribute_not_exists`. Seen through the local stack as two
racing duplicate clip requests both answering 202 and quota counters off by a few. DynamoDB
applies every request to an item atomically and transactions serializably; one lock around
moto's DynamoDB request handling gives the local stack those semantics (at no cost that matters
on a laptop).
"""

import fnmatch
import functools
import threading
from typing import Any

_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Run moto's DynamoDB and DynamoDB Streams requests one at a time (idempotent).

    Streams too: a cancelled transaction restores the table (its stream shard and sequence counter
    included) from a copy, so a stream read in the middle of one could hand over a record that is then
    rolled back and whose sequence number the next real write reuses: that write's event was skipped.
    """
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original = handler.call_action
        if getattr(original, "_devstack_serialized", False):
            continue

        def call_action(self: Any, _original: Any = original) -> Any:
            with _DYNAMODB_LOCK:
                return _original(self)

        call_action._devstack_serialized = True  # type: ignore[attr-defined]
        handler.call_action = call_action  # type: ignore[method-assign]
    _stream_reads_follow_the_live_table()


def _stream_reads_follow_the_live_table() -> None:
    """A shard iterator reads the table's current stream, not the one it was made on (idempotent).

    moto binds an iterator to the shard object of the moment. A transaction cancelled between a
    reader's GetShardIterator and its GetRecords writes its records to that shard, then replaces
    the table (shard included) with the copy taken before it: the reader was handed the rolled-back
    records, and the next real write, numbered like the first of them, came after its position and
    was never read (the load test saw a ready clip without its clip.ready). DynamoDB Streams has no
    such thing: a cancelled transaction writes nothing.
    """
    from moto.dynamodbstreams.models import ShardIterator

    original = ShardIterator.get
    if getattr(original, "_devstack_live", False):
        return

    def get(self: Any, limit: int = 1000) -> Any:
        live = self.streams_backend.dynamodb.tables.get(self.stream_shard.table.name)
        if live is not None and live.stream_shard is not None:
            self.stream_shard = live.stream_shard
        return original(self, limit)

    get._devstack_live = True  # type: ignore[attr-defined]
    ShardIterator.get = get  # type: ignore[method-assign]


_RANGED = threading.local()


class _ObjectBytes:
    """An object's bytes during a ranged GET: the range handler's slice reads only that range."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, window: slice) -> bytes:
        start = window.start or 0
        stop = len(self) if window.stop is None else min(window.stop, len(self))
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            return bytes(buffer.read(max(0, stop - start)))

    def __bytes__(self) -> bytes:
        return bytes(self[0 : len(self)])


def read_ranges_only() -> None:
    """Serve a ranged GetObject by reading just the range, as S3 does (idempotent).

    moto copies the whole object for every GET and then slices the range, so one 64 KiB read of a
    150 MB object costs 150 ms, and ffmpeg's range reads (the pipeline's whole point) look slow
    locally while a download-everything approach pays that once. Measured by `make bench`.
    """
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    if getattr(S3Response.get_object, "_devstack_ranged", False):
        return
    original_get = S3Response.get_object
    original_range = S3Response._handle_range_header
    whole_value: Any = FakeKey.__dict__["value"]  # the property object, with its getter and setter

    def value(self: Any) -> Any:
        return _ObjectBytes(self) if getattr(_RANGED, "active", False) else whole_value.fget(self)

    @functools.wraps(original_get)
    def get_object(self: Any) -> Any:
        spec = str(self.headers.get("range") or "")
        _RANGED.active = spec.startswith("bytes=") and "," not in spec and not self._get_int_param("partNumber")
        try:
            return original_get(self)
        finally:
            _RANGED.active = False

    @functools.wraps(original_range)
    def handle_range(self: Any, request: Any, headers: Any, content: Any) -> Any:
        status, answer_headers, body = original_range(self, request, headers, content)
        # Where moto falls back to answering the whole object, give it real bytes.
        return status, answer_headers, bytes(body) if isinstance(body, _ObjectBytes) else body

    get_object._devstack_ranged = True  # type: ignore[attr-defined]
    FakeKey.value = property(value, whole_value.fset)  # type: ignore[assignment, method-assign]
    S3Response.get_object = get_object  # type: ignore[method-assign]
    S3Response._handle_range_header = handle_range  # type: ignore[method-assign, assignment]


_CORS_DENIED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the "
    "resource's CORS spec."
)


def _cors_rule(bucket: Any, origin: str, method: str, headers: list[str]) -> Any:
    """S3's choice: the first rule that allows the origin, the method and every requested header."""
    for rule in bucket.cors:
        if (
            any(fnmatch.fnmatchcase(origin, allowed) for allowed in rule.allowed_origins or [])
            and method in (rule.allowed_methods or [])
            and all(any(fnmatch.fnmatchcase(h, a.lower()) for a in rule.allowed_headers or []) for h in headers)
        ):
            return rule
    return None


def _cors_headers(rule: Any, origin: str) -> dict[str, str]:
    wildcard = "*" in (rule.allowed_origins or [])
    headers = {
        "Access-Control-Allow-Origin": "*" if wildcard else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if not wildcard:
        headers["Access-Control-Allow-Credentials"] = "true"
    if rule.exposed_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.exposed_headers)
    if rule.max_age_seconds is not None:
        headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    return headers


def _s3_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return status, {"content-type": "application/xml"}, body.encode()


def s3_cors_as_aws() -> None:
    """Answer browsers as S3 does from the bucket's CORS rules, and only so (idempotent).

    moto's server adds `Access-Control-Allow-Origin: *` to every answer of every service (flask-cors),
    so a browser could upload to a bucket with no CORS rules at all; its own preflight answer checks
    neither the method nor the requested headers. S3: a preflight is answered 200 from the first rule
    matching origin, method and every requested header (403 otherwise, or when the bucket has no
    rules); any other request with an Origin gets the headers of the first rule matching origin and
    method, and none when no rule matches (the request itself still runs).
    """
    from moto.moto_server import werkzeug_app
    from moto.s3.exceptions import MissingBucket
    from moto.s3.responses import S3Response

    werkzeug_app.DISABLE_GLOBAL_CORS = True  # read when each service's app is built
    if getattr(S3Response.bucket_response, "_devstack_cors", False):
        return

    def with_cors(original: Any) -> Any:
        @functools.wraps(original)
        def respond(self: Any, request: Any, full_url: str, headers: Any) -> Any:
            origin = request.headers.get("Origin")
            if request.method == "OPTIONS":
                return _preflight(self, request, full_url)
            status, answer_headers, body = original(self, request, full_url, headers)
            answer_headers = {
                k: v for k, v in dict(answer_headers).items() if not k.lower().startswith("access-control-")
            }
            if origin:
                try:
                    bucket = self.backend.get_bucket(self.parse_bucket_name_from_url(request, full_url))
                except MissingBucket:
                    bucket = None
                rule = bucket and _cors_rule(bucket, origin, request.method, [])
                if rule:
                    answer_headers.update(_cors_headers(rule, origin))
            return status, answer_headers, body

        respond._devstack_cors = True  # type: ignore[attr-defined]
        return respond

    def _preflight(self: Any, request: Any, full_url: str) -> Any:
        self.setup_class(request)
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method")
        if not origin or not method:
            return _s3_error(400, "BadRequest", "Insufficient information. Origin request header needed.")
        try:
            bucket = self.backend.get_bucket(self.parse_bucket_name_from_url(request, full_url))
        except MissingBucket:
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        if not bucket.cors:
            return _s3_error(403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
        requested = [
            h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()
        ]
        rule = _cors_rule(bucket, origin, method, requested)
        if rule is None:
            return _s3_error(403, "AccessForbidden", _CORS_DENIED)
        answer = _cors_headers(rule, origin)
        if requested:
            answer["Access-Control-Allow-Headers"] = ", ".join(requested)
        return 200, answer, b""

    S3Response.bucket_response = with_cors(S3Response.bucket_response)  # type: ignore[method-assign]
    S3Response.key_response = with_cors(S3Response.key_response)  # type: ignore[method-assign]


def no_such_upload() -> None:
    """CompleteMultipartUpload of an aborted or unknown upload answers 404 NoSuchUpload, as S3 does
    (moto failed with a KeyError, a 500), so a completion after the lifecycle rule aborted the upload
    is handled locally as in AWS (idempotent)."""
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import S3Backend

    if getattr(S3Backend.complete_multipart_upload, "_devstack_no_such_upload", False):
        return
    original = S3Backend.complete_multipart_upload

    @functools.wraps(original)
    def complete_multipart_upload(self: Any, bucket_name: str, multipart_id: str, body: Any) -> Any:
        if multipart_id not in self.get_bucket(bucket_name).multiparts:
            raise NoSuchUpload(upload_id=multipart_id)
        return original(self, bucket_name, multipart_id, body)

    complete_multipart_upload._devstack_no_such_upload = True  # type: ignore[attr-defined]
    S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]


def enforce_signed_part_length(secret_keys: dict[str, str]) -> None:
    """Refuse a presigned UploadPart whose body is not the Content-Length its URL signed, as S3 does (idempotent).

    moto does not verify SigV4 signatures, so a part URL that signs `content-length` would take a
    part of any size locally while S3 answers 403 SignatureDoesNotMatch. The signature is computed
    again here, with the key's secret and the body's real length, and compared.
    """
    from moto.core.exceptions import SignatureDoesNotMatchError
    from moto.s3.responses import S3Response

    if getattr(S3Response.upload_part, "_devstack_signed_length", False):
        return
    original = S3Response.upload_part

    @functools.wraps(original)
    def upload_part(self: Any) -> Any:
        signed = {k: v[0] for k, v in self.querystring.items() if v}
        pins_length = "content-length" in signed.get("X-Amz-SignedHeaders", "").split(";")
        expected = presigned_signature(self.method, self.uri, self.headers, len(self.body or b""), secret_keys)
        if pins_length and expected != signed.get("X-Amz-Signature"):
            raise SignatureDoesNotMatchError()
        return original(self)

    upload_part._devstack_signed_length = True  # type: ignore[attr-defined]
    S3Response.upload_part = upload_part  # type: ignore[method-assign]


def presigned_signature(
    method: str, url: str, headers: Any, content_length: int, secret_keys: dict[str, str]
) -> str | None:
    """The SigV4 query signature S3 would expect for this request with this body length (None: unknown key)."""
    from urllib.parse import parse_qsl, urlsplit

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    access_key, _day, region, service, _ = params.get("X-Amz-Credential", "////").split("/", 4)
    secret = secret_keys.get(access_key) or _assumed_role_secret(access_key)
    if secret is None:
        return None
    query = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature="))
    values = {"host": headers.get("Host") or parts.netloc, "content-length": str(content_length)}
    signed = {name: values.get(name) or headers.get(name, "") for name in params["X-Amz-SignedHeaders"].split(";")}
    request = AWSRequest(method=method, url=parts._replace(query=query).geturl(), headers=signed)
    request.context["timestamp"] = params["X-Amz-Date"]
    auth = S3SigV4QueryAuth(Credentials(access_key, secret), service, region)
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))


def _assumed_role_secret(access_key: str) -> str | None:
    """The secret of a role session moto's STS handed out (each function signs with its role's)."""
    from moto.sts.models import sts_backends

    for backends in sts_backends.values():
        for backend in backends.values():
            for role in backend.assumed_roles:
                if role.access_key_id == access_key:
                    return str(role.secret_access_key)
    return None


def enforce_copy_source_if_match() -> None:
    """Refuse a CopyObject whose source no longer has the ETag `x-amz-copy-source-if-match` names (idempotent).

    S3 answers 412 PreconditionFailed; moto copies whatever is there. Validation copies the bytes it
    accepted this way, so a write during validation must not reach the validated copy locally either.
    """
    from urllib.parse import unquote, urlparse

    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response

    if getattr(S3Response.copy_object, "_devstack_if_match", False):
        return
    original = S3Response.copy_object

    @functools.wraps(original)
    def copy_object(self: Any) -> Any:
        wanted = self.headers.get("x-amz-copy-source-if-match")
        if wanted:
            source = urlparse(str(self.headers.get("x-amz-copy-source")))
            bucket, key = unquote(source.path).lstrip("/").split("/", 1)
            found = self.backend.get_object(bucket, key)
            if found is None or found.etag.strip('"') != wanted.strip('"'):
                raise PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")
        return original(self)

    copy_object._devstack_if_match = True  # type: ignore[attr-defined]
    S3Response.copy_object = copy_object  # type: ignore[method-assign]
