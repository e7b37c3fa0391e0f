"""HTTP adapters of the ports: the agreements and consent services' public v1 APIs.

They act with the caller's own bearer token (token relay): the other services apply their own authorisation to
the person who asked, and nothing here holds a privileged credential.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from services.referral.ports import (
    Coverage,
    DependencyUnavailableError,
    DisclosureDecision,
    DisclosureRequest,
    TargetUnknownError,
)

TIMEOUT_S = 5.0


def _call(client: httpx.Client, method: str, url: str, **kwargs: object) -> httpx.Response:
    try:
        response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as error:
        raise DependencyUnavailableError(f"{url.split('?')[0]} unreachable ({type(error).__name__})") from None
    if response.status_code >= 500 or response.status_code in (401, 403):
        raise DependencyUnavailableError(f"{url.split('?')[0]} answered {response.status_code}")
    return response


class HttpDirectory:
    def __init__(self, base_url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            base_url=base_url, timeout=TIMEOUT_S, transport=transport, headers={"Authorization": f"Bearer {token}"}
        )

    def offers(self, org_id: str, service: str) -> bool:
        response = _call(self._client, "GET", f"/v1/organisations/{org_id}")
        if response.status_code == 404:
            raise TargetUnknownError("unknown organisation")
        services: list[str] = response.json().get("services", [])
        return service in services

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage:
        params = {"from_org": from_org, "to_org": to_org, "service": service, "at": at.isoformat()}
        body = _call(self._client, "GET", "/v1/coverage", params=params).json()
        return Coverage(body.get("agreement_id"), body.get("kind"))


class HttpDisclosureGate:
    def __init__(self, base_url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            base_url=base_url, timeout=TIMEOUT_S, transport=transport, headers={"Authorization": f"Bearer {token}"}
        )

    def disclose(self, request: DisclosureRequest) -> DisclosureDecision:
        payload = {
            "subject_id": request.subject_id,
            "discloser_org_id": request.discloser_org_id,
            "recipient_org_id": request.recipient_org_id,
            "purpose": request.purpose,
            "categories": request.categories,
            "at": request.at.isoformat(),
        }
        if request.lang:
            payload["lang"] = request.lang
        response = _call(self._client, "POST", "/v1/disclosures", json=payload)
        if response.status_code != 200:
            raise DependencyUnavailableError(f"consent service refused the request ({response.status_code})")
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
