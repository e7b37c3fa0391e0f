"""Only the platform's own services (role `service` of organisation `rls-platform`) disclose on a worker's behalf
(`Requester-Token`), through the lane as through the routes. Role `service` is an establishment's too (its telephony
system reports Info-Social calls to the standards service): with it and one of its workers' tokens, an establishment
learnt whether another organisation holds a refusal about a person, and wrote in that organisation's register."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.auth import PLATFORM_ORG
from services.contract.codes import OrgKind
from tests.consent.conftest import T0, organisation_event
from tests.consent.test_api import _events, _observe

Auth = Callable[..., dict[str, str]]
HOLDER, PHONE_ORG = "csss-holder", "csss-tel"
"""The organisation holding the person's refusal; an establishment whose telephony system has role `service`."""
CLIENT, NOBODY = "S-000777", "S-000888"
"""The holder's client (a spouse's access refused in writing), and a person it knows nothing about."""
SPOUSE_ASKS = {
    "discloser_org_id": HOLDER,
    "recipient_org_id": PHONE_ORG,
    "purpose": "USER_REQUESTED_TRANSFER",
    "categories": ["CAUSE_OF_DEATH"],
    "context": {"subject_deceased_on": "2026-11-20", "requester_role": "SPOUSE"},
}


@pytest.fixture(params=[True, False], ids=["lane", "routes"])
def api(request: pytest.FixtureRequest, consent_app: Callable[..., TestClient], auth: Auth) -> TestClient:
    """The consent service (with its decision lane, or its routes only), the holder registered and holding a refusal
    of the spouse's access to its client's record."""
    service = consent_app(request.param)
    _observe(service, organisation_event(HOLDER, OrgKind.CSSS, T0 - timedelta(days=30)))
    refusal = {"subject_id": CLIENT, "requester_roles": ["SPOUSE"], "given_on": "2025-02-01"}
    made = service.post("/v1/refusals", json=refusal, headers=auth(HOLDER, "intake"))
    assert made.status_code == 201, made.text
    return service


def _refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("Requester-Token: only a platform service")
    assert "outcome" not in response.json()


def test_an_establishments_service_principal_discloses_nothing_for_its_workers(
    api: TestClient, auth: Auth, token: Callable[..., str]
) -> None:
    before = _events(api)
    phone = {**auth(PHONE_ORG, "service", sub="phone-system"), "Requester-Token": token(PHONE_ORG, "intake", sub="w1")}
    for subject in (CLIENT, NOBODY):
        _refused(api.post("/v1/disclosures", json={**SPOUSE_ASKS, "subject_id": subject}, headers=phone))
    assert _events(api) == before, "nothing decided, nothing entered"
    for subject in (CLIENT, NOBODY):
        register = api.get("/v1/register", params={"subject_id": subject}, headers=auth(HOLDER, "coordinator"))
        assert register.json()["items"] == []


def test_an_organisations_own_service_principal_does_not_disclose_for_it(api: TestClient, auth: Auth) -> None:
    """Nor as a member of the discloser: a `service` principal discloses only for a worker, and only the platform's."""
    before = _events(api)
    _refused(api.post("/v1/disclosures", json={**SPOUSE_ASKS, "subject_id": NOBODY}, headers=auth(HOLDER, "service")))
    assert _events(api) == before


def test_a_worker_presenting_a_requester_token_is_refused(
    api: TestClient, auth: Auth, token: Callable[..., str]
) -> None:
    """A member of the discloser discloses as itself; another worker's token beside its own was ignored before."""
    on_behalf = {**auth(HOLDER, "intake"), "Requester-Token": token(PHONE_ORG, "intake")}
    _refused(api.post("/v1/disclosures", json={**SPOUSE_ASKS, "subject_id": NOBODY}, headers=on_behalf))
    alone = api.post("/v1/disclosures", json={**SPOUSE_ASKS, "subject_id": NOBODY}, headers=auth(HOLDER, "intake"))
    assert alone.status_code == 200, alone.text


def test_the_platforms_service_discloses_for_the_recipients_worker(
    api: TestClient, auth: Auth, token: Callable[..., str]
) -> None:
    """The disclosure the establishment's phone system was refused, asked by the referral service for the same
    worker: the holder's answer, its refusal counted."""
    referral = {**auth(PLATFORM_ORG, "service", sub="service:referral"), "Requester-Token": token(PHONE_ORG, "intake")}
    disclosed = api.post("/v1/disclosures", json={**SPOUSE_ASKS, "subject_id": CLIENT}, headers=referral)
    assert disclosed.status_code == 200, disclosed.text
    assert disclosed.json()["outcome"] == "DENY"
    assert "WRITTEN_REFUSAL_ON_FILE" in [r["code"] for r in disclosed.json()["reasons"]]
