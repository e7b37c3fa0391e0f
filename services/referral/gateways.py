"""HTTP adapters of the ports (`Gateways`): the agreements and consent services' public v1 APIs.

Directory look-ups act with the caller's own bearer token (token relay): the agreements service applies its own
authorisation to the person who asked. A disclosure is entered in the *discloser's* register, and only the
discloser writes there: the referral service, which keeps the record information for the referring organisation,
asks as itself (a `service` token) and passes on the token of the recipient's worker who asked, whom the consent
service checks and records as the requester. One pooled client per peer is shared by every request of the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services.common.auth import PLATFORM_ORG, SERVICE, mint_dev_token
from services.common.tracing import propagate
from services.referral.domain import (
    DependencyUnavailableError,
    DisclosureForbiddenError,
    DisclosureRejectedError,
    TargetUnknownError,
)
from services.referral.ports import Coverage, DisclosureDecision, DisclosureRequest, Gateways

TIMEOUT_S = 5.0
T = TypeVar("T")


def pooled_client(base_url: str, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One connection pool per peer service."""
    return httpx.Client(
        base_url=base_url,
        timeout=TIMEOUT_S,
        transport=transport,
        limits=httpx.Limits(max_keepalive_connections=20),
        event_hooks={"request": [propagate]},  # the service called continues the caller's trace
    )


def _call(
    client: httpx.Client,
    method: str,
    url: str,
    token: str,
    headers: dict[str, str] | None = None,
    answered: frozenset[int] = frozenset(),
    **kwargs: Any,
) -> httpx.Response:
    """The peer's response; unreachable, a 5xx, or a 401 or 403 not in `answered` (the caller's to interpret):
    DependencyUnavailableError."""
    try:
        response = client.request(
            method, url, headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kwargs
        )
    except httpx.HTTPError as error:
        raise DependencyUnavailableError(f"{url} unreachable ({type(error).__name__})") from None
    refused = response.status_code in (401, 403) and response.status_code not in answered
    if response.status_code >= 500 or refused:
        raise DependencyUnavailableError(f"{url} answered {response.status_code}")
    return response


def _problem_detail(response: httpx.Response) -> str:
    """The peer's problem detail (RFC 9457: it names fields and rules, never input values), or its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) and detail else f"status {response.status_code}"


class TtlCache:
    """Directory answers change rarely: they are reused for `ttl_s` seconds (a change shows after at most that)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}

    def get(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self._ttl_s:
            value: T = hit[1]
            return value
        value = compute()
        self._entries[key] = (now, value)
        return value


NOW = timedelta(seconds=1)
"""A time asked about this close to the present is now (the caller read its clock just before)."""


class HttpDirectory:
    def __init__(self, client: httpx.Client, token: str, cache: TtlCache) -> None:
        self._client = client
        self._token = token
        self._cache = cache

    def offers(self, org_id: str, service: str) -> bool:
        return service in self._cache.get(("services", org_id), lambda: self._services(org_id))

    def _services(self, org_id: str) -> list[str]:
        response = _call(self._client, "GET", f"/v1/organisations/{org_id}", self._token)
        if response.status_code == 404:
            raise TargetUnknownError("unknown organisation")
        services: list[str] = response.json().get("services", [])
        return services

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage:
        """The agreement covering the pair at `at`. Answers for now are cached (a submission, an information
        release); an answer for another time (a redirect backdated by its `at`) is cached under that time, so that
        neither serves for the other."""
        when = "now" if abs(datetime.now(UTC) - at) < NOW else at.isoformat()
        return self._cache.get(
            ("coverage", from_org, to_org, service, when), lambda: self._coverage(from_org, to_org, service, at)
        )

    def _coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage:
        params = {"from_org": from_org, "to_org": to_org, "service": service, "at": at.isoformat()}
        body = _call(self._client, "GET", "/v1/coverage", self._token, params=params).json()
        clause = body.get("clause_categories")
        on_behalf = bool(body.get("on_behalf"))
        return Coverage(
            body.get("agreement_id"), body.get("kind"), on_behalf, None if clause is None else tuple(clause)
        )


SERVICE_SUB = "service:referral"
SERVICE_TOKEN_TTL = timedelta(minutes=15)


class ServiceIdentity:
    """The referral service's own bearer token (role `service` of `PLATFORM_ORG`: the consent service lets only the
    platform's own services disclose for a worker).

    Production: read from a file an identity agent keeps fresh (read at each use). Development: minted with the
    dev signing key, renewed a minute before it expires.
    """

    def __init__(
        self,
        token_file: Path | None = None,
        dev_key: bytes | None = None,
        audience: str = "rls",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (token_file is None) == (dev_key is None):
            raise ValueError("exactly one of token_file and dev_key")
        self._token_file = token_file
        self._dev_key = dev_key
        self._audience = audience
        self._clock = clock
        self._minted: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        if self._token_file is not None:
            return self._token_file.read_text().strip()
        assert self._dev_key is not None
        with self._lock:
            now = self._clock()
            if self._minted is None or now > self._minted[0]:
                token = mint_dev_token(
                    self._dev_key, PLATFORM_ORG, [SERVICE], SERVICE_SUB, self._audience, SERVICE_TOKEN_TTL
                )
                self._minted = (now + SERVICE_TOKEN_TTL.total_seconds() - 60, token)
            return self._minted[1]


class HttpDisclosureGate:
    """Never cached: every disclosure is decided (and registered) at the moment it happens."""

    def __init__(self, client: httpx.Client, identity: ServiceIdentity, requester_token: str) -> None:
        self._client = client
        self._identity = identity
        self._requester_token = requester_token

    def disclose(self, request: DisclosureRequest) -> DisclosureDecision:
        payload: dict[str, Any] = {
            "subject_id": request.subject_id,
            "discloser_org_id": request.discloser_org_id,
            "recipient_org_id": request.recipient_org_id,
            "purpose": request.purpose,
            "categories": request.categories,
            "at": request.at.isoformat(),
        }
        if request.lang:
            payload["lang"] = request.lang
        if request.recipient_service:
            payload["recipient_service"] = request.recipient_service
        response = _call(
            self._client,
            "POST",
            "/v1/disclosures",
            self._identity.token(),
            headers={"Requester-Token": self._requester_token},
            answered=frozenset({403}),
            json=payload,
        )
        # Its own answers about the request are no outage (asking again unchanged gets the same answer): a 403 is
        # about the requester, another 4xx about the request. A 401 is about the service's own token: 503, above.
        if response.status_code == 403:
            raise DisclosureForbiddenError(f"the consent service refused the requester: {_problem_detail(response)}")
        if 400 <= response.status_code < 500:
            raise DisclosureRejectedError(
                f"the consent service rejected the disclosure request ({response.status_code}): "
                f"{_problem_detail(response)}"
            )
        if response.status_code != 200:
            raise DependencyUnavailableError(f"consent service answered {response.status_code}")
        body = response.json()
        return DisclosureDecision(
            decision_id=body["decision_id"],
            outcome=body["outcome"],
            permitted_categories=body.get("permitted_categories", []),
            denied_categories=body.get("denied_categories", []),
            basis=body.get("basis", []),
            obligations=body.get("obligations", []),
            explanation=body.get("explanation", ""),
            register_entry_id=body.get("register_entry_id"),
        )


class HttpGateways:
    """The process's pooled clients of the agreements and consent services; per request, the gateways acting with the
    caller's token (the directory's answers cached for `directory_cache_s`)."""

    def __init__(self, agreements_url: str, consent_url: str, identity: ServiceIdentity, directory_cache_s: float):
        self._agreements = pooled_client(agreements_url)
        self._consent = pooled_client(consent_url)
        self._identity = identity
        self._directory_cache = TtlCache(directory_cache_s)

    def __call__(self, token: str) -> Gateways:
        return Gateways(
            HttpDirectory(self._agreements, token, self._directory_cache),
            HttpDisclosureGate(self._consent, self._identity, token),
        )

    def close(self) -> None:
        self._agreements.close()
        self._consent.close()
