"""Record information through the HTTP gateway to the consent service: the real consent service in process (what it
registers), and its answers as the referral service passes them on (a fake consent API: httpx MockTransport)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.auth import load_dev_key
from services.common.clock import ManualClock
from services.consent.main import build_app as build_consent
from services.consent.settings import ConsentSettings
from services.referral.gateways import HttpDisclosureGate, ServiceIdentity, pooled_client
from services.referral.ports import Gateways
from tests.helpers import demo_consent
from tests.referral.conftest import T0, ReferralService, body
from tests.referral.fakes import FakeDirectory

Auth = Callable[..., dict[str, str]]
SENDER, RECEIVER = "csss-a", "org-b"


def information(service: ReferralService, auth: Auth, rid: str, query: str = "") -> httpx.Response:
    return service.client.get(f"/v1/referrals/{rid}/information{query}", headers=auth(RECEIVER, "clinician"))


def submit(service: ReferralService, auth: Auth, **overrides: Any) -> str:
    response = service.client.post("/v1/referrals", json=body(**overrides), headers=auth(SENDER, "intake"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_the_register_holds_only_disclosures_that_happen(
    service: ReferralService,
    auth: Auth,
    service_settings: Callable[..., Any],
    dev_key_file: Path,
    client_for: Callable[..., TestClient],
) -> None:
    """A consent covers health information; the referral holds contact details only: asking for health information
    releases nothing and registers nothing (the consent service was asked for it, and registered it, before)."""
    consent = client_for(build_consent(service_settings(ConsentSettings), clock=ManualClock(T0)))
    identity = ServiceIdentity(dev_key=load_dev_key(dev_key_file))
    directory = FakeDirectory()
    service.app.state.gateways = lambda token: Gateways(directory, HttpDisclosureGate(consent, identity, token))
    valid_from = (T0 - timedelta(days=1)).isoformat()
    granted = consent.post(
        "/v1/consents",
        json=demo_consent("S-0001", RECEIVER, ("CONTACT", "HEALTH"), valid_from=valid_from)
        | {"valid_until": (T0 + timedelta(days=30)).isoformat()},
        headers=auth(SENDER, "intake"),
    )
    assert granted.status_code == 201, granted.text
    contact_only = submit(service, auth, information={"CONTACT": "555-0100"})
    bare = submit(service, auth, subject_id="S-0002")

    def register() -> list[dict[str, Any]]:
        answer = consent.get("/v1/register", params={"subject_id": "S-0001"}, headers=auth(SENDER, "auditor"))
        assert answer.status_code == 200, answer.text
        entries: list[dict[str, Any]] = answer.json()["items"]
        return entries

    not_held = information(service, auth, contact_only, "?categories=HEALTH")
    assert register() == [], "no disclosure of health information was made: none is registered"
    assert not_held.status_code == 200 and not_held.json()["decision_id"] is None
    nothing = information(service, auth, bare)
    assert nothing.status_code == 200, "nothing to ask for is no outage of the consent service"
    assert nothing.json()["information"] == {} and nothing.json()["decision_id"] is None

    released = information(service, auth, contact_only, "?categories=HEALTH,CONTACT")
    assert released.status_code == 200, released.text
    assert released.json()["information"] == {"CONTACT": "555-0100"}
    [entry] = register()
    assert entry["categories"] == ["CONTACT"] and entry["decision_id"] == released.json()["decision_id"]


def problem(status: int, slug: str, detail: str) -> httpx.Response:
    document = {"type": f"urn:ca.qc.rls:problem:{slug}", "title": slug, "status": status, "detail": detail}
    return httpx.Response(status, json=document, headers={"Content-Type": "application/problem+json"})


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    ("answer", "status", "slug"),
    [
        (lambda r: problem(403, "forbidden", "the requester must be a worker of the recipient"), 403, "forbidden"),
        (
            lambda r: problem(422, "validation", "at: a disclosure cannot be dated in the future"),
            422,
            "disclosure-rejected",
        ),
        (lambda r: problem(409, "idempotency-key-reused", "used for another request"), 422, "disclosure-rejected"),
        (lambda r: problem(401, "unauthenticated", "token expired"), 503, "dependency-unavailable"),
        (lambda r: problem(500, "internal", "Internal error"), 503, "dependency-unavailable"),
        (lambda r: httpx.Response(502, text="bad gateway"), 503, "dependency-unavailable"),
        (unreachable, 503, "dependency-unavailable"),
    ],
)
def test_the_consent_services_answers_about_the_request_are_no_outage(
    service: ReferralService,
    auth: Auth,
    dev_key_file: Path,
    answer: Callable[[httpx.Request], httpx.Response],
    status: int,
    slug: str,
) -> None:
    """Its 403 (about the requester) and other 4xx (about the request) are the referral service's 4xx: asking again
    unchanged gets the same answer. Its 401 (about the service's own token), 5xx and silence are a 503: retry."""
    consent = pooled_client("http://consent.test", transport=httpx.MockTransport(answer))
    identity = ServiceIdentity(dev_key=load_dev_key(dev_key_file))
    directory = FakeDirectory()
    service.app.state.gateways = lambda token: Gateways(directory, HttpDisclosureGate(consent, identity, token))
    rid = submit(service, auth, information={"CONTACT": "555-0100"})
    response = information(service, auth, rid)
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(f":{slug}")
    if status < 500:
        assert "consent service" in response.json()["detail"]
    assert "555-0100" not in response.text
