"""JWT bearer authentication: claims `sub`, `org`, `roles`; keys from a JWKS URL or a local dev key."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.clock import system_clock
from services.common.problems import FORBIDDEN, UNAUTHENTICATED, problem

DEV_ALGORITHM = "HS256"
DEV_ISSUER = "rls-dev"
NETWORK_AUDITOR = "network-auditor"
SERVICE = "service"
ADMIN = "admin"
ROLES = frozenset({"intake", "clinician", "coordinator", "auditor", ADMIN, NETWORK_AUDITOR, SERVICE})
"""`auditor` reads its own organisation's history; `network-auditor` (ministry, ombudsman) the whole network's;
`service` is a system's, never a person's: a platform service's (of PLATFORM_ORG), or an establishment's own (its
telephony system reporting Info-Social calls); `admin` administers an organisation: the platform's (of PLATFORM_ORG:
the directory, any agreement), or an establishment's own (its Kafka credentials, subscriptions, hours, agreements)."""
PLATFORM_ORG = "rls-platform"
"""The organisation of the platform's own services (the referral service's token) and administrators. Its `service`
and `admin` principals alone act for the whole network: the identity provider gives this organisation to no
establishment, and an establishment's `service` and `admin` principals are scoped to its own organisation, like its
workers."""
PLATFORM_ROLES = frozenset({SERVICE, ADMIN})
"""Roles an establishment holds too, that act beyond one organisation only as the platform's own (PLATFORM_ORG)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (`sub`) of an organisation (`org`) acting in some roles."""

    sub: str
    org: str
    roles: frozenset[str]

    def has_any(self, roles: Iterable[str]) -> bool:
        return bool(self.roles & set(roles))

    def audits(self, orgs: Iterable[str]) -> bool:
        """Whether the caller may read, as an auditor, what concerns `orgs`: its own organisation's auditor
        reads what concerns that organisation, a network auditor reads everything."""
        return NETWORK_AUDITOR in self.roles or ("auditor" in self.roles and self.org in set(orgs))

    @property
    def audits_network(self) -> bool:
        return NETWORK_AUDITOR in self.roles

    @property
    def unscoped_roles(self) -> frozenset[str]:
        """The caller's roles a policy may let act beyond its organisation (`Rule.unscoped`): `service` and `admin`
        only in the platform's own organisation, or an establishment's telephony system would read every
        organisation's data, and its administrator change other organisations' agreements and directory entries."""
        return self.roles if self.org == PLATFORM_ORG else self.roles - PLATFORM_ROLES

    @property
    def platform_service(self) -> bool:
        """Whether the caller is one of the platform's own services (role `service` of PLATFORM_ORG)."""
        return SERVICE in self.unscoped_roles


class AuthenticationError(Exception):
    """The token is missing, malformed, expired or signed with another key."""


def load_dev_key(path: Path, create: bool = True) -> bytes:
    """The local signing key: random, created once with mode 0600, never a built-in default."""
    if not path.exists():
        if not create:
            raise AuthenticationError(f"no dev signing key at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        _publish_once(path, base64.urlsafe_b64encode(secrets.token_bytes(32)))
    return path.read_text().strip().encode()


def _publish_once(path: Path, content: bytes) -> None:
    """Writes `content` at `path` unless a file is there already, whole or not at all: written under another name
    beside it (mode 0600), then linked. Replicas starting at once on one `var/` keep the first key linked and read it;
    writing the file in place, one failed on it (`FileExistsError`) or read it still empty."""
    fd, written = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key is there: it is the one
            os.link(written, path)
    finally:
        os.unlink(written)


def token_claims(
    org: str, roles: Iterable[str], sub: str, issuer: str, audience: str, ttl: timedelta
) -> dict[str, Any]:
    """The claims the platform reads from a bearer token (`sub`, `org`, `roles`), valid from now for `ttl`."""
    now = system_clock()
    return {
        "sub": sub,
        "org": org,
        "roles": sorted(set(roles)),
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }


def mint_dev_token(key: bytes, org: str, roles: Iterable[str], sub: str, audience: str, ttl: timedelta) -> str:
    """A dev JWT for local use (`rls token`)."""
    return jwt.encode(token_claims(org, roles, sub, DEV_ISSUER, audience, ttl), key, algorithm=DEV_ALGORITHM)


VERIFIED_TOKENS = 4096
"""How many verified tokens a verifier remembers (a caller sends the same token with every request until it expires;
its signature and claims are checked once, its expiry on every request)."""


class TokenVerifier:
    """Verifies bearer tokens against the dev key or the keys of a JWKS endpoint."""

    def __init__(self, audience: str, issuer: str, dev_key: bytes | None = None, jwks_url: str | None = None) -> None:
        if (dev_key is None) == (jwks_url is None):
            raise ValueError("exactly one of dev_key and jwks_url")
        self._audience = audience
        self._issuer = issuer
        self._dev_key = dev_key
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "ES256", "PS256"]
            else:
                key, algorithms = self._dev_key, [DEV_ALGORITHM]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["sub", "exp", "iss"]},
            )
        except jwt.PyJWTError as error:
            raise AuthenticationError(type(error).__name__) from None
        org, roles = claims.get("org"), claims.get("roles", [])
        if not isinstance(org, str) or not org or not isinstance(roles, list):
            raise AuthenticationError("token lacks the org or roles claim")
        principal = Principal(sub=str(claims["sub"]), org=org, roles=frozenset(str(r) for r in roles))
        return principal, float(claims["exp"])


bearer = HTTPBearer(auto_error=False, description="JWT with claims sub, org and roles")


async def get_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


async def authenticated(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    verifier: Annotated[TokenVerifier, Depends(get_verifier)],
) -> Principal:
    if credentials is None:
        raise problem(UNAUTHENTICATED, "send Authorization: Bearer <token>")
    try:
        return verifier.verify(credentials.credentials)
    except AuthenticationError as error:
        raise problem(UNAUTHENTICATED, str(error)) from None


def require_roles(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting callers holding any of `roles` (no roles: any authenticated caller)."""
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if roles and not principal.has_any(roles):
            raise problem(FORBIDDEN, f"requires one of the roles: {', '.join(roles)}")
        return principal

    return dependency
