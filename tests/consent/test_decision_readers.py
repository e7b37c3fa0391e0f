"""What a caller reads of a decision: the person's consents, restrictions and written refusals that another
organisation holds are among its facts (the engine needs them) but not readable through it. Anyone may ask for a
decision naming itself discloser; what it reads back (the answer, `GET /v1/decisions/{id}`) names only the records
it may read itself (`GET /v1/consents/{id}` ...), the others only by who holds them. Network auditors read every fact.
Only the discloser's own written refusals count (art. 23: the refusal is about the record of the establishment asked).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.consent.lane import DecisionLane
from services.consent.main import build_app
from services.consent.settings import ConsentSettings
from services.contract.codes import OrgKind
from tests.consent.conftest import DISCLOSER, PINNED, RECIPIENT, SUBJECT, T0, organisation_event
from tests.consent.test_api import ASK, CONSENT, _observe

Auth = Callable[..., dict[str, str]]

HOLDER = "org-holder"
"""An organisation that recorded something about the person and has no part in the decisions below."""
STRANGER = "org-stranger"
"""An organisation with nothing to do with the person, naming itself discloser."""

REFUSAL = {"subject_id": SUBJECT, "requester_roles": ["SPOUSE"], "given_on": "2025-02-01"}
SPOUSE_ASKS = {
    **ASK,
    "purpose": "USER_REQUESTED_TRANSFER",
    "categories": ["CAUSE_OF_DEATH"],
    "context": {"subject_deceased_on": "2026-11-20", "requester_role": "SPOUSE"},
}
CURATOR_CONSENT = {
    **CONSENT,
    "granted_by": {"role": "CURATOR", "scope": ["REFERRAL"]},
    "method": "WRITTEN",
    "recipients": [{"org_id": RECIPIENT}],
    "categories": ["HEALTH", "PSYCHOSOCIAL_HISTORY"],
}


def _institutions(api: TestClient, *orgs: str) -> None:
    _observe(api, *(organisation_event(org, OrgKind.CSSS, T0 - timedelta(days=30)) for org in orgs))


def _read(api: TestClient, decision_id: str, headers: dict[str, str]) -> dict[str, Any]:
    read = api.get(f"/v1/decisions/{decision_id}", headers=headers)
    assert read.status_code == 200, read.text
    body: dict[str, Any] = read.json()
    return body


def test_a_refusal_another_organisation_holds_is_no_fact_of_a_decision(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api()
    _institutions(api, DISCLOSER)
    refusal = api.post("/v1/refusals", json=REFUSAL, headers=auth(HOLDER, "intake"))
    assert refusal.status_code == 201, refusal.text
    intake = auth(DISCLOSER, "intake")
    assert api.get(f"/v1/refusals/{refusal.json()['id']}", headers=intake).status_code == 404

    referral = api.post("/v1/decisions", json=ASK, headers=intake).json()
    spouse = api.post("/v1/decisions", json=SPOUSE_ASKS, headers=intake)

    assert spouse.status_code == 200 and spouse.json()["outcome"] == "PERMIT", "the discloser's record has none"
    for answer in (referral, spouse.json()):
        as_network = _read(api, answer["decision_id"], auth("org-network", "network-auditor"))
        assert as_network["facts"]["refusals"] == [], "not even among the stored facts"
        assert refusal.json()["id"] not in str(_read(api, answer["decision_id"], intake))
    assert refusal.json()["id"] not in spouse.text


def test_the_disclosers_own_refusal_bars_and_the_recipient_reads_only_that_it_counted(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api()
    _institutions(api, DISCLOSER)
    refusal_id = api.post("/v1/refusals", json=REFUSAL, headers=auth(DISCLOSER, "intake")).json()["id"]
    recipient = auth(RECIPIENT, "intake")

    asked = api.post("/v1/decisions", json=SPOUSE_ASKS, headers=recipient)

    assert asked.status_code == 200 and asked.json()["outcome"] == "DENY", asked.text
    refused = [r for r in asked.json()["reasons"] if r["code"] == "WRITTEN_REFUSAL_ON_FILE"]
    assert refused and all(r["detail"] is None for r in refused)
    assert refusal_id not in asked.text and "()" not in asked.json()["explanation"]
    as_recipient = _read(api, asked.json()["decision_id"], recipient)
    assert as_recipient["facts"]["refusals"] == [{"redacted": True, "held_by": "DISCLOSER"}]
    assert refusal_id not in str(as_recipient)
    as_discloser = _read(api, asked.json()["decision_id"], auth(DISCLOSER, "intake"))
    assert [r["refusal_id"] for r in as_discloser["facts"]["refusals"]] == [refusal_id]
    assert ("WRITTEN_REFUSAL_ON_FILE", refusal_id) in [(r["code"], r["detail"]) for r in as_discloser["reasons"]]


def test_a_stranger_naming_itself_discloser_reads_nothing_of_the_recipients_consent(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """The recipient gathered a consent by a curator (the person is under curatorship); an organisation with nothing
    to do with the person names itself discloser: the decision's facts tell it only that the recipient holds one."""
    api = consent_api()
    holder = auth(RECIPIENT, "intake")
    consent_id = api.post("/v1/consents", json=CURATOR_CONSENT, headers=holder).json()["id"]
    stranger = auth(STRANGER, "intake")
    assert api.get(f"/v1/consents/{consent_id}", headers=stranger).status_code == 404

    asked = api.post("/v1/decisions", json={**ASK, "discloser_org_id": STRANGER}, headers=stranger)

    assert asked.status_code == 200, asked.text
    assert "CURATOR" not in asked.text and consent_id not in asked.text
    seen = _read(api, asked.json()["decision_id"], stranger)
    assert seen["facts"]["consents"] == [{"redacted": True, "held_by": "RECIPIENT"}]
    assert "CURATOR" not in str(seen) and consent_id not in str(seen)
    assert _read(api, asked.json()["decision_id"], auth(STRANGER, "auditor"))["facts"] == seen["facts"]
    for reader in (holder, auth("org-network", "network-auditor")):
        [consent] = _read(api, asked.json()["decision_id"], reader)["facts"]["consents"]
        assert consent["consent_id"] == consent_id and consent["grantor_role"] == "CURATOR"


@pytest.fixture
def consent_app(
    service_settings: Callable[..., Any], client_for: Callable[[FastAPI], TestClient], clock: ManualClock
) -> Callable[[bool], TestClient]:
    """`consent_app(lane)`: the service with its decision lane, or answering through its routes only."""

    def make(lane: bool) -> TestClient:
        app = build_app(service_settings(ConsentSettings, regime=PINNED), clock=clock)
        if not lane:
            app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not DecisionLane]
        return client_for(app)

    return make


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/disclosures"])
@pytest.mark.parametrize("lane", [True, False], ids=["lane", "route"])
def test_the_reasons_about_a_consent_the_caller_cannot_read_give_no_detail(
    consent_app: Callable[[bool], TestClient], auth: Auth, clock: ManualClock, lane: bool, path: str
) -> None:
    """A parent's consent for a child of 13 no longer counts once the child is 14 (the child consents alone): the
    reason's detail names the grantor's role."""
    api = consent_app(lane)
    child = {
        **CONSENT,
        "granted_by": {"role": "PARENT"},
        "subject_birth_date": "2012-12-01",
        "categories": ["IDENTIFICATION"],
    }
    holder = auth(RECIPIENT, "intake")
    recorded = api.post("/v1/consents", json={**child, "recipients": [{"org_id": RECIPIENT}]}, headers=holder)
    assert recorded.status_code == 201, recorded.text
    consent_id = recorded.json()["id"]
    clock.advance(timedelta(days=7))  # the child is 14 now
    ask = {**ASK, "discloser_org_id": STRANGER, "categories": ["IDENTIFICATION"]}

    asked = api.post(path, json=ask, headers=auth(STRANGER, "intake"))

    assert asked.status_code == 200 and asked.json()["outcome"] == "DENY", asked.text
    codes = [(r["code"], r["consent_id"], r["detail"]) for r in asked.json()["reasons"]]
    assert ("GRANTOR_NOT_ENTITLED_FOR_AGE", None, None) in codes
    assert "PARENT" not in asked.text and consent_id not in asked.text
    as_holder = _read(api, asked.json()["decision_id"], holder)
    assert [
        (code, detail.split(":")[0])
        for code, held, detail in ((r["code"], r["consent_id"], r["detail"]) for r in as_holder["reasons"])
        if held == consent_id
    ] == [("GRANTOR_NOT_ENTITLED_FOR_AGE", "PARENT")]


def test_a_restriction_another_organisation_recorded_bars_without_being_shown(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api(regime="LRSSS")
    intake = auth(DISCLOSER, "intake")
    assert api.post("/v1/consents", json={**CONSENT, "categories": ["HEALTH"]}, headers=intake).status_code == 201
    restriction = {"subject_id": SUBJECT, "recipients": [{"org_id": RECIPIENT}], "categories": ["HEALTH"]}
    restriction_id = api.post("/v1/restrictions", json=restriction, headers=auth(HOLDER, "intake")).json()["id"]

    asked = api.post("/v1/decisions", json={**ASK, "categories": ["HEALTH"]}, headers=intake)

    assert asked.json()["outcome"] == "DENY", asked.text
    assert ("SUBJECT_RESTRICTION", None) in [(r["code"], r["detail"]) for r in asked.json()["reasons"]]
    assert restriction_id not in asked.text
    seen = _read(api, asked.json()["decision_id"], intake)
    assert seen["facts"]["restrictions"] == [{"redacted": True, "held_by": "OTHER_ORGANISATION"}]
    assert seen["facts"]["consents"][0]["categories"] == ["HEALTH"], "the discloser's own consent in full"
    network = _read(api, asked.json()["decision_id"], auth("org-network", "network-auditor"))
    assert [r["restriction_id"] for r in network["facts"]["restrictions"]] == [restriction_id]
