"""Who is signed in: an AES-GCM sealed cookie, and server-side only the ids of sessions ended early (`revocations`).

Each session sealed at sign-in gets a random id (`sid`, never shown nor logged); sign-out records it as revoked until
the session's expiry, so a copy of the cookie kept elsewhere is refused like an expired one.

Cookies are `__Host-` prefixed (Secure, Path=/, no Domain: no other site or subdomain can set them), HttpOnly and
SameSite=Lax — Lax, not Strict, so that the identity provider's redirect back to the console carries the sign-in
state. Forms carry a CSRF token that must equal the `__Host-rls-csrf` cookie (double submit) and, when the browser
sends one, an Origin naming the host the form was posted to."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response

from services.common.auth import NETWORK_AUDITOR
from services.common.cipher import open_aead, seal_aead
from services.console.revocations import Revocations

SESSION_COOKIE = "__Host-rls-session"
SIGNIN_COOKIE = "__Host-rls-signin"
CSRF_COOKIE = "__Host-rls-csrf"
LANG_COOKIE = "__Host-rls-lang"
AUDITORS = ("auditor", NETWORK_AUDITOR)
ACTIVE_AT = "active_at"
"""The session cookie's last activity (seconds since the epoch), beside the session it seals."""


@dataclass(frozen=True)
class Session:
    """The signed-in user: the claims the APIs will see, and the token the console calls them with; `sid` names this
    session (revoked at sign-out), `issued_at` is when it began (sign-out everywhere revokes what began before)."""

    sub: str
    org: str
    roles: tuple[str, ...]
    token: str = field(repr=False)
    expires_at: float
    sid: str = field(repr=False)
    issued_at: float

    @classmethod
    def begin(cls, sub: str, org: str, roles: tuple[str, ...], token: str, expires_at: float) -> Session:
        """A new session, under an id of its own."""
        return cls(sub, org, roles, token, expires_at, secrets.token_urlsafe(32), time.time())

    def has_any(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles))

    @property
    def works_referrals(self) -> bool:
        return self.has_any("intake", "clinician", "coordinator")

    @property
    def audits(self) -> bool:
        """An auditor of the organisation, or of the whole network (ministry, ombudsman)."""
        return self.has_any(*AUDITORS)

    @property
    def audits_network(self) -> bool:
        return NETWORK_AUDITOR in self.roles

    @property
    def home(self) -> str:
        """The first page of the menu the user's roles open, where sign-in and `/` lead: the worklist (workers and
        auditors), else the agreements (an administrator); a user without those roles gets the worklist's refusal."""
        if self.works_referrals or self.audits:
            return "/demandes"
        if self.has_any("admin"):
            return "/ententes"
        return "/demandes"


class SealedCookies:
    """Seals small JSON documents into cookie values; a value sealed for one purpose never opens for another. A
    session sealed here ends at its expiry, once unused for `idle_s` seconds (each page seals it again), or once
    revoked: signed out, or found idle, it is refused wherever a copy of its cookie is."""

    def __init__(self, key: bytes, idle_s: float, revocations: Revocations) -> None:
        self._aead = AESGCM(key)
        self.idle_s = idle_s
        self.revocations = revocations

    def seal(self, purpose: str, document: dict[str, Any]) -> str:
        sealed = seal_aead(self._aead, json.dumps(document, separators=(",", ":")).encode(), purpose.encode())
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = open_aead(self._aead, raw, purpose.encode())
            document = json.loads(plain)
        except (ValueError, InvalidTag):
            return None
        return document if isinstance(document, dict) else None

    def session(self, request: Request) -> Session | None:
        """The live session of the request, if any (an expired, idle or revoked one is no session). An idle one is
        revoked on the way: a copy of its cookie kept active elsewhere ends with it."""
        sealed = self._sealed(request)
        if sealed is None:
            return None
        session, active_at = sealed
        if time.time() - active_at >= self.idle_s:
            self.revocations.revoke(session.sid, session.expires_at)
            return None
        return None if self.revocations.revoked(session.sid, session.sub, session.issued_at) else session

    def revoke(self, request: Request) -> None:
        """Revokes the session the request's cookie seals, idle or not, until its expiry."""
        sealed = self._sealed(request)
        if sealed is not None:
            self.revocations.revoke(sealed[0].sid, sealed[0].expires_at)

    def _sealed(self, request: Request) -> tuple[Session, float] | None:
        """The unexpired session the request's cookie seals, and when it was last active (0: not said)."""
        document = self.open(SESSION_COOKIE, request.cookies.get(SESSION_COOKIE))
        if document is None:
            return None
        active_at = document.pop(ACTIVE_AT, None)
        try:
            session = Session(**{**document, "roles": tuple(document["roles"])})
        except (TypeError, KeyError):
            return None  # sealed before sessions had an id, among others: no session
        if session.expires_at <= time.time():
            return None
        return session, active_at if isinstance(active_at, float) else 0.0

    def seal_session(self, response: Response, session: Session) -> None:
        """Sets the session cookie, active now: at sign-in, then on every page the user opens."""
        value = self.seal(SESSION_COOKIE, {**asdict(session), ACTIVE_AT: time.time()})
        set_cookie(response, SESSION_COOKIE, value, max_age=int(session.expires_at - time.time()))


def set_cookie(response: Response, name: str, value: str, max_age: int, same_site: str = "lax") -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite=same_site,  # type: ignore[arg-type]
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def csrf_token(request: Request) -> str:
    """The request's CSRF token (a new one when the browser has none; `ensure_csrf_cookie` then sets it)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and len(current) == 43:
        return current
    token: str = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(32))
    return token


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    new = request.state.__dict__.get("new_csrf")
    if new:
        set_cookie(response, CSRF_COOKIE, new, max_age=12 * 3600, same_site="strict")


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """The form's token equals the cookie's, and (when the browser says) the form came from this host."""
    cookie = request.cookies.get(CSRF_COOKIE)
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return False
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))
