"""Local JWTs: HS256 tokens checked the way API Gateway's JWT authorizer checks them."""

import os
import time
import warnings
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

DEFAULT_SECRET = "local-dev-secret"  # noqa: S105 - the documented local default, not a credential
# That documented secret is shorter than PyJWT recommends for HS256; real tokens come from the
# identity provider, so the warning would only be noise in the demo and the stack's logs.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)


def secret() -> str:
    return os.environ.get("LOCAL_JWT_SECRET", DEFAULT_SECRET)


def make_token(sub: str, *, ttl_s: int = 3600, **claims: Any) -> str:
    """A token the local API accepts (iss/aud added when the stack checks them)."""
    now = int(time.time())
    body: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl_s}
    if os.environ.get("LOCAL_JWT_ISSUER"):
        body["iss"] = os.environ["LOCAL_JWT_ISSUER"]
    if os.environ.get("LOCAL_JWT_AUDIENCE"):
        body["aud"] = os.environ["LOCAL_JWT_AUDIENCE"]
    body.update(claims)
    return jwt.encode(body, secret(), algorithm="HS256")


def verify(authorization: str | None) -> dict[str, Any] | None:
    """The token's claims, or None when API Gateway would answer 401."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    issuer = os.environ.get("LOCAL_JWT_ISSUER") or None
    audience = os.environ.get("LOCAL_JWT_AUDIENCE") or None
    try:
        claims = jwt.decode(
            token,
            secret(),
            algorithms=["HS256"],
            issuer=issuer,
            audience=audience,
            options={"require": ["sub", "exp"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError:
        return None
    return dict(claims)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Print a local bearer token.")
    parser.add_argument("--sub", default="local-user")
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args()
    print(make_token(args.sub, ttl_s=args.ttl))
