"""A decision asked by another organisation than its discloser is a preview: it reads none of the discloser's
consents, restrictions and refusals, so it tells nothing of whether the person is the discloser's client. A
restriction binds the record of the organisation it was lodged with, as a written refusal does: another
organisation's counts for no discloser. The discloser's own decisions, and the disclosures a platform service makes
for it on a recipient's worker's request, read them all.

From the privacy review of 2026-12 (the reproductions below): an organisation with no tie to a person, naming itself
recipient and another organisation discloser, learnt from `POST /v1/decisions` whether that organisation holds a
refusal, a restriction or a consent about the person; naming itself discloser, whether any organisation recorded a
restriction about them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.auth import PLATFORM_ORG
from services.contract.codes import OrgKind
from tests.consent.conftest import T0, organisation_event
from tests.consent.test_api import CONSENT, _observe

Auth = Callable[..., dict[str, str]]
App = Callable[..., TestClient]

HOLDER = "csss-holder"
"""The person's establishment: it holds records about its client."""
STRANGER = "org-stranger"
"""An organisation with no tie to the person."""
CLIENT, NOBODY = "S-000777", "S-000888"
"""The holder's client, and a person nobody recorded anything about."""

SPOUSE_ASKS = {
    "discloser_org_id": HOLDER,
    "recipient_org_id": STRANGER,
    "purpose": "USER_REQUESTED_TRANSFER",
    "categories": ["CAUSE_OF_DEATH"],
    "context": {"subject_deceased_on": "2026-11-20", "requester_role": "SPOUSE"},
}
"""The spouse of a deceased person asks the cause of death (a written refusal on file bars it, art. 23)."""
HEALTH_ASKED = {
    "discloser_org_id": HOLDER,
    "recipient_org_id": STRANGER,
    "purpose": "REFERRAL",
    "categories": ["HEALTH"],
}
ANSWER = ("outcome", "permitted_categories", "denied_categories", "basis", "reasons", "explanation", "obligations")
LANES = pytest.mark.parametrize("lane", [True, False], ids=["lane", "route"])


def _alike(api: TestClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """Asks the same about the holder's client and about nobody's: the answers and the facts the caller reads back
    are the same. Returns the answer about the client."""
    answers = {s: api.post("/v1/decisions", json={**body, "subject_id": s}, headers=headers) for s in (CLIENT, NOBODY)}
    for asked in answers.values():
        assert asked.status_code == 200, asked.text
    client, nobody = (answers[s].json() for s in (CLIENT, NOBODY))
    assert {k: client[k] for k in ANSWER} == {k: nobody[k] for k in ANSWER}, "the answer tells of the holder's records"
    read = {s: api.get(f"/v1/decisions/{a.json()['decision_id']}", headers=headers) for s, a in answers.items()}
    assert read[CLIENT].json()["facts"] == read[NOBODY].json()["facts"]
    return client


def _record(api: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    made = api.post(path, json={**body, "subject_id": CLIENT}, headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@LANES
def test_a_recipients_decision_tells_nothing_of_the_disclosers_refusal(
    consent_app: App, auth: Auth, lane: bool
) -> None:
    api = consent_app(lane)
    _observe(api, organisation_event(HOLDER, OrgKind.CSSS, T0 - timedelta(days=30)))
    refusal = {"requester_roles": ["SPOUSE"], "given_on": "2025-02-01"}
    refusal_id = _record(api, "/v1/refusals", refusal, auth(HOLDER, "intake"))

    preview = _alike(api, SPOUSE_ASKS, auth(STRANGER, "intake"))

    assert preview["outcome"] == "PERMIT" and refusal_id not in str(preview)
    held = api.post("/v1/decisions", json={**SPOUSE_ASKS, "subject_id": CLIENT}, headers=auth(HOLDER, "intake"))
    assert held.json()["outcome"] == "DENY", "the discloser's own answer reads its refusal"
    assert ("WRITTEN_REFUSAL_ON_FILE", refusal_id) in [(r["code"], r["detail"]) for r in held.json()["reasons"]]


@LANES
def test_a_recipients_decision_tells_nothing_of_the_disclosers_restriction(
    consent_app: App, auth: Auth, lane: bool
) -> None:
    api = consent_app(lane, regime="LRSSS")
    _observe(
        api,
        organisation_event(HOLDER, OrgKind.CSSS, T0 - timedelta(days=30)),
        organisation_event(STRANGER, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=30)),
    )
    restriction = {"recipients": [{"org_kind": "COMMUNITY_ORGANISATION"}], "categories": ["HEALTH"]}
    _record(api, "/v1/restrictions", restriction, auth(HOLDER, "intake"))

    preview = _alike(api, HEALTH_ASKED, auth(STRANGER, "intake"))

    assert "SUBJECT_RESTRICTION" not in [r["code"] for r in preview["reasons"]]
    held = api.post("/v1/decisions", json={**HEALTH_ASKED, "subject_id": CLIENT}, headers=auth(HOLDER, "intake"))
    assert "SUBJECT_RESTRICTION" in [r["code"] for r in held.json()["reasons"]], "it bars the discloser's answer"


@LANES
def test_a_recipients_decision_tells_nothing_of_the_disclosers_consent(
    consent_app: App, auth: Auth, lane: bool
) -> None:
    """The holder's consent names a kind of recipient: any organisation of that kind naming itself recipient learnt
    that it exists, and its id."""
    api = consent_app(lane)
    same_kind = "csss-stranger"
    _observe(
        api,
        organisation_event(HOLDER, OrgKind.CSSS, T0 - timedelta(days=30)),
        organisation_event(same_kind, OrgKind.CSSS, T0 - timedelta(days=30)),
    )
    consent_id = _record(api, "/v1/consents", CONSENT, auth(HOLDER, "intake"))
    body = {**HEALTH_ASKED, "recipient_org_id": same_kind, "categories": ["IDENTIFICATION"]}

    preview = _alike(api, body, auth(same_kind, "intake"))

    assert preview["outcome"] == "DENY" and consent_id not in str(preview)
    held = api.post("/v1/decisions", json={**body, "subject_id": CLIENT}, headers=auth(HOLDER, "intake")).json()
    assert held["outcome"] == "PERMIT" and [b["consent_id"] for b in held["basis"]] == [consent_id]


@LANES
def test_another_organisations_restriction_binds_no_discloser(consent_app: App, auth: Auth, lane: bool) -> None:
    """A stranger names itself discloser to a recipient nobody registered: a restriction naming kinds of recipient,
    recorded by the holder, barred it (one concerns a recipient of unknown kind), telling the stranger it exists. A
    restriction binds the record of the organisation it was lodged with: it is no fact of another's decision."""
    api = consent_app(lane, regime="LRSSS")
    _observe(api, organisation_event(STRANGER, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=30)))
    restriction = {"recipients": [{"org_kind": "PROFESSIONAL"}], "categories": ["HEALTH"]}
    _record(api, "/v1/restrictions", restriction, auth(HOLDER, "intake"))
    body = {**HEALTH_ASKED, "discloser_org_id": STRANGER, "recipient_org_id": "org-unregistered"}

    asked = _alike(api, body, auth(STRANGER, "intake"))

    read = api.get(f"/v1/decisions/{asked['decision_id']}", headers=auth("org-network", "network-auditor")).json()
    assert read["facts"]["restrictions"] == [], "not even among the stored facts"


def test_a_disclosure_for_a_recipients_worker_reads_the_disclosers_records(
    consent_api: App, auth: Auth, token: Callable[..., str]
) -> None:
    """The referral service disclosing for the discloser, on the request of the recipient's worker: the discloser's
    answer, its refusal counted (shown to the worker only as the discloser's). The worker's own decision is a
    preview."""
    api = consent_api()
    _observe(api, organisation_event(HOLDER, OrgKind.CSSS, T0 - timedelta(days=30)))
    refusal_id = _record(
        api, "/v1/refusals", {"requester_roles": ["SPOUSE"], "given_on": "2025-02-01"}, auth(HOLDER, "intake")
    )
    body = {**SPOUSE_ASKS, "subject_id": CLIENT}
    worker = auth(STRANGER, "clinician", sub="worker-x")
    on_request = {**auth(PLATFORM_ORG, "service"), "Requester-Token": token(STRANGER, "clinician", sub="worker-x")}

    disclosed = api.post("/v1/disclosures", json=body, headers=on_request)
    preview = api.post("/v1/decisions", json=body, headers=worker)

    assert disclosed.status_code == 200, disclosed.text
    assert disclosed.json()["outcome"] == "DENY" and disclosed.json()["register_entry_id"] is None
    assert ("WRITTEN_REFUSAL_ON_FILE", None) in [(r["code"], r["detail"]) for r in disclosed.json()["reasons"]]
    read = api.get(f"/v1/decisions/{disclosed.json()['decision_id']}", headers=worker).json()
    assert read["facts"]["refusals"] == [{"redacted": True, "held_by": "DISCLOSER"}] and refusal_id not in str(read)
    assert preview.json()["outcome"] == "PERMIT", "not the discloser's answer"
