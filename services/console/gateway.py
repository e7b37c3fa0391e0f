"""The services' REST APIs, called with the signed-in user's own token: the console has no authority of its own.

Errors come back as `ApiProblemError` (the service's RFC 9457 problem document) or `ServiceUnavailableError`; the pages
turn them into messages. Logs name the service, method, path (ids only) and status: never a query, a body or a
token (they may carry personal information)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

TYPE_PREFIX = "urn:ca.qc.rls:problem:"


@dataclass
class ApiProblemError(Exception):
    """A service refused: its problem document (`slug` is the stable part of `type`)."""

    service: str
    status: int
    slug: str
    title: str
    detail: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.service} answered {self.status} {self.slug}"

    def field_errors(self) -> dict[str, dict[str, Any]]:
        """The first error per offending field (`errors[].field`, or `field` at the top)."""
        named = {str(e.get("field")): e for e in reversed(self.errors) if e.get("field")}
        top = self.body.get("field")
        if isinstance(top, str) and top not in named:
            named[top] = {"field": top, "message": self.detail or self.title, "type": self.slug}
        return named


class ServiceUnavailableError(Exception):
    """A service did not answer (down, or too slow)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service did not answer")
        self.service = service


def _problem(service: str, response: httpx.Response) -> ApiProblemError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    slug = str(body.get("type", "")).removeprefix(TYPE_PREFIX) or "http-error"
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    return ApiProblemError(
        service=service,
        status=response.status_code,
        slug=slug,
        title=str(body.get("title") or response.reason_phrase),
        detail=body.get("detail"),
        errors=list(errors or []),
        body=body,
    )


@dataclass(frozen=True)
class Answer:
    """A successful answer: the JSON body (or text) and the headers that matter (ETag)."""

    body: Any
    etag: str | None = None


@dataclass(frozen=True)
class Gateway:
    """One user's view of the platform: every call carries their bearer token and their language."""

    clients: Mapping[str, httpx.AsyncClient]
    token: str
    lang: str

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        text: bool = False,
    ) -> Answer:
        sent = {"Authorization": f"Bearer {self.token}", "Accept-Language": self.lang, **(headers or {})}
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.clients[service].request(method, path, params=query, json=json, headers=sent)
        except httpx.HTTPError as error:
            log.warning("%s %s on %s: %s", method, service, path, type(error).__name__)
            raise ServiceUnavailableError(service) from None
        if response.status_code >= 500 and response.status_code != 503:
            log.warning("%s %s on %s answered %s", method, service, path, response.status_code)
        if response.status_code >= 400:
            raise _problem(service, response)
        body = response.text if text else (response.json() if response.content else None)
        return Answer(body, response.headers.get("ETag"))

    async def get(self, service: str, path: str, /, **params: Any) -> Any:
        return (await self.call(service, "GET", path, params=params)).body

    async def post(self, service: str, path: str, json: Any, headers: Mapping[str, str] | None = None) -> Any:
        return (await self.call(service, "POST", path, json=json, headers=headers)).body
