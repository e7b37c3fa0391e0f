"""The consent service over HTTP: consents, decisions, disclosures, the register; auth and problem details."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.consent import inbound
from services.consent.settings import ConsentSettings
from services.contract.codes import OrgKind
from tests.consent.conftest import DISCLOSER, FIRST_VERSION, RECIPIENT, SUBJECT, T0, organisation_event

Auth = Callable[..., dict[str, str]]

CONSENT: dict[str, Any] = {
    "subject_id": SUBJECT,
    "subject_birth_date": "1985-02-03",
    "granted_by": {"role": "SELF"},
    "method": "VERBAL_WITNESSED",
    "purposes": ["REFERRAL"],
    "recipients": [{"org_id": RECIPIENT}, {"org_kind": "CSSS"}],
    "categories": ["IDENTIFICATION", "CONTACT", "REFERRAL_REASON"],
    "valid_from": "2026-11-01",
    "valid_until": "2027-10-31",
}
ASK: dict[str, Any] = {
    "subject_id": SUBJECT,
    "discloser_org_id": DISCLOSER,
    "recipient_org_id": RECIPIENT,
    "purpose": "REFERRAL",
    "categories": ["IDENTIFICATION", "CONTACT", "ASSESSMENT"],
}


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


def _events(api: TestClient) -> int:
    app: Any = api.app
    return int(app.state.application.recorder.max_notification_id() or 0)


def test_consent_decision_disclosure_and_register(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    created = api.post("/v1/consents", json=CONSENT, headers=intake)
    assert created.status_code == 201, created.text
    consent = created.json()
    assert consent["status"] == "ACTIVE" and consent["version"] == 1
    assert consent["valid_until"].startswith("2027-11-01T00:00:00-04:00"), "a date means: through that day"

    decided = api.post("/v1/decisions", json=ASK, headers=intake)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["outcome"] == "PERMIT_PARTIAL"
    assert body["permitted_categories"] == ["IDENTIFICATION", "CONTACT"]
    assert body["denied_categories"] == ["ASSESSMENT"]
    assert body["basis"] == [
        {
            "regime": "LSSSS_17_27_3",
            "route": "A-1",
            "article": "LSSSS art. 19",
            "consent_id": consent["id"],
            "agreement_id": None,
            "status": "VERIFIED",
            "categories": ["IDENTIFICATION", "CONTACT"],
            "discloser_kind": None,
        }
    ]
    assert body["regime"] == "LSSSS_17_27_3" and body["regime_version"].startswith("2026-12-05+")
    assert body["register_entry_id"] is None
    assert "LSSSS art. 19" in body["explanation"] and "évaluation" in body["explanation"]

    disclosed = api.post("/v1/disclosures", json=ASK, headers=intake).json()
    assert disclosed["register_entry_id"]
    register = api.get("/v1/register", params={"subject_id": SUBJECT}, headers=intake).json()
    assert register["items"] == [
        {
            "register_entry_id": disclosed["register_entry_id"],
            "at": "2026-11-25T15:00:00Z",
            "subject_id": SUBJECT,
            "discloser_org_id": DISCLOSER,
            "recipient_org_id": RECIPIENT,
            "categories": ["IDENTIFICATION", "CONTACT"],
            "purpose": "REFERRAL",
            "route": "A-1",
            "article": "LSSSS art. 19",
            "decision_id": disclosed["decision_id"],
            "bases": disclosed["basis"],
            "obligations": [],
            "regime": "LSSSS_17_27_3",
            "regime_superseded": True,
            "reasons": None,
            "reference": f"consent:{consent['id']}",
            "disclosed_by": "test-user",
            "conditions": {},
        }
    ]


def test_register_shows_an_organisation_only_its_own_disclosures_and_network_auditors_everything(
    api: TestClient, auth: Auth, clock: ManualClock
) -> None:
    api.post(
        "/v1/consents",
        json={**CONSENT, "recipients": [{"org_kind": "COMMUNITY_ORGANISATION"}]},
        headers=auth(DISCLOSER, "intake"),
    )
    api.post("/v1/consents", json={**CONSENT, "subject_id": "S-2"}, headers=auth("csss-other", "intake"))
    ids = []
    for n in range(3):
        ask = (
            {**ASK, "recipient_org_id": f"org-{n}", "categories": ["CONTACT"]}
            if n
            else {**ASK, "categories": ["CONTACT"]}
        )
        api.post(
            "/v1/consents",
            json={**CONSENT, "recipients": [{"org_id": ask["recipient_org_id"]}]},
            headers=auth(DISCLOSER, "intake"),
        )
        ids.append(
            api.post("/v1/disclosures", json=ask, headers=auth(DISCLOSER, "clinician")).json()["register_entry_id"]
        )
        clock.advance(timedelta(hours=1))
    other = {**ASK, "subject_id": "S-2", "discloser_org_id": "csss-other", "categories": ["CONTACT"]}
    api.post("/v1/disclosures", json=other, headers=auth("csss-other", "intake"))

    def entries(headers: dict[str, str], **params: Any) -> list[str]:
        response = api.get("/v1/register", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [e["register_entry_id"] for e in response.json()["items"]]

    assert entries(auth(DISCLOSER, "intake")) == ids
    assert len(entries(auth("org-nobody", "intake"))) == 0
    assert entries(auth(DISCLOSER, "auditor")) == ids  # an organisation's auditor reads its register
    assert len(entries(auth("audit-office", "auditor"))) == 0  # not another organisation's
    assert len(entries(auth("ministry", "network-auditor"))) == 4  # the network auditor reads every register
    assert entries(auth(DISCLOSER, "intake"), recipient_org="org-1") == [ids[1]]
    assert entries(auth(DISCLOSER, "intake"), **{"from": "2026-11-25T16:00:00Z", "to": "2026-11-25T17:00:00Z"}) == [
        ids[1]
    ]
    first = api.get("/v1/register", params={"limit": 2}, headers=auth(DISCLOSER, "intake")).json()
    rest = api.get(
        "/v1/register", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(DISCLOSER, "intake")
    ).json()
    assert [e["register_entry_id"] for e in first["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None


def test_withdrawal_stops_later_disclosures_and_keeps_history(api: TestClient, auth: Auth, clock: ManualClock) -> None:
    intake = auth(DISCLOSER, "intake")
    consent = api.post("/v1/consents", json=CONSENT, headers=intake).json()
    clock.advance(timedelta(minutes=5))

    stale = api.post(f"/v1/consents/{consent['id']}/withdraw", json={}, headers={**intake, "If-Match": "7"})
    withdrawn = api.post(
        f"/v1/consents/{consent['id']}/withdraw", json={"reason": "changed mind"}, headers={**intake, "If-Match": "1"}
    )
    again = api.post(f"/v1/consents/{consent['id']}/withdraw", headers=intake)
    listed = api.get("/v1/consents", params={"subject_id": SUBJECT}, headers=auth(DISCLOSER, "auditor")).json()
    earlier = api.post("/v1/decisions", json={**ASK, "at": "2026-11-25T15:01:00Z"}, headers=intake).json()
    now = api.post("/v1/disclosures", json=ASK, headers=intake).json()

    assert stale.status_code == 409 and stale.json()["type"].endswith("version-conflict")
    assert (
        withdrawn.status_code == 200 and withdrawn.json()["status"] == "WITHDRAWN" and withdrawn.headers["ETag"] == "2"
    )
    assert again.status_code == 409 and again.json()["type"].endswith("consent-already-withdrawn")
    assert [(c["id"], c["status"], c["version"]) for c in listed["items"]] == [(consent["id"], "WITHDRAWN", 2)]
    assert earlier["outcome"] == "PERMIT_PARTIAL"
    assert now["outcome"] == "DENY" and now["register_entry_id"] is None
    assert now["reasons"][0]["code"] == "CONSENT_WITHDRAWN" and now["reasons"][0]["consent_id"] == consent["id"]


def test_explanation_in_english_or_french(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    english = api.post("/v1/decisions", json=ASK, headers={**intake, "Accept-Language": "en-CA,fr;q=0.5"}).json()
    french = api.post("/v1/decisions", json=ASK, headers={**intake, "Accept-Language": "fr-CA"}).json()
    chosen = api.post("/v1/decisions", json={**ASK, "lang": "en"}, headers={**intake, "Accept-Language": "fr"}).json()
    default = api.post("/v1/decisions", json=ASK, headers=intake).json()
    assert english["explanation"].startswith("Disclosure refused") and "holds a consent" in english["explanation"]
    assert french["explanation"].startswith("Communication refusée") and "ne détient un" in french["explanation"]
    assert chosen["explanation"] == english["explanation"] and default["explanation"] == french["explanation"]


def test_recorded_decision_can_be_read_and_reevaluated_by_an_auditor(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    api.post("/v1/consents", json=CONSENT, headers=intake)
    decision = api.post("/v1/disclosures", json=ASK, headers=intake).json()

    read = api.get(f"/v1/decisions/{decision['decision_id']}", headers=auth(RECIPIENT, "clinician"))
    hidden = api.get(f"/v1/decisions/{decision['decision_id']}", headers=auth("org-nobody", "clinician"))
    again = api.post(f"/v1/decisions/{decision['decision_id']}/reevaluate", headers=auth(RECIPIENT, "auditor"))

    assert read.status_code == 200 and read.json()["kind"] == "DISCLOSURE"
    assert read.json()["input"]["regime_version"] == decision["regime_version"]
    assert "subject_birth_date" not in str(read.json()["facts"]) and "1985" not in str(read.json()["facts"])
    assert hidden.status_code == 404
    assert again.status_code == 200 and again.json()["same"] is True


def test_idempotency_key_replays_a_disclosure(api: TestClient, auth: Auth) -> None:
    headers = {**auth(DISCLOSER, "intake"), "Idempotency-Key": "ref-42"}
    first = api.post("/v1/disclosures", json=ASK, headers=headers)
    second = api.post("/v1/disclosures", json=ASK, headers=headers)
    conflict = api.post("/v1/disclosures", json={**ASK, "purpose": "JOINT_FOLLOW_UP"}, headers=headers)
    assert first.json()["decision_id"] == second.json()["decision_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert conflict.status_code == 409


def test_restriction_applies_under_the_lrsss(consent_api: Callable[..., TestClient], auth: Auth) -> None:
    api = consent_api(regime="LRSSS")
    intake = auth(DISCLOSER, "intake")
    api.post("/v1/consents", json=CONSENT, headers=intake)
    restriction = api.post(
        "/v1/restrictions",
        json={"subject_id": SUBJECT, "recipients": [{"org_id": RECIPIENT}], "categories": ["CONTACT"]},
        headers=intake,
    )
    decided = api.post("/v1/decisions", json=ASK, headers=intake).json()
    assert restriction.status_code == 201
    assert decided["regime"] == "LRSSS"
    assert decided["permitted_categories"] == ["IDENTIFICATION"]
    assert "SUBJECT_RESTRICTION" in [r["code"] for r in decided["reasons"]]
    assert decided["obligations"] == ["REGISTER_ENTRY"]
    lifted = api.post(f"/v1/restrictions/{restriction.json()['id']}/lift", headers=intake)
    assert lifted.status_code == 200
    assert api.post("/v1/decisions", json=ASK, headers=intake).json()["permitted_categories"] == [
        "IDENTIFICATION",
        "CONTACT",
    ]


ENDPOINTS = [
    ("post", "/v1/consents", CONSENT),
    ("get", "/v1/consents?subject_id=S-1", None),
    ("post", "/v1/consents/00000000-0000-0000-0000-000000000001/withdraw", {}),
    ("post", "/v1/decisions", ASK),
    ("post", "/v1/disclosures", ASK),
    ("get", "/v1/register", None),
    ("get", "/v1/decisions/00000000-0000-0000-0000-000000000001", None),
    ("post", "/v1/decisions/00000000-0000-0000-0000-000000000001/reevaluate", None),
    ("post", "/v1/restrictions", {"subject_id": SUBJECT, "purposes": ["RESEARCH"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_no_token_is_401(api: TestClient, method: str, path: str, body: Any) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


WRONG_ROLES = [
    ("post", "/v1/consents", CONSENT, "auditor"),
    ("post", "/v1/consents/00000000-0000-0000-0000-000000000001/withdraw", {}, "admin"),
    ("get", "/v1/consents?subject_id=S-1", None, "admin"),
    ("post", "/v1/disclosures", ASK, "auditor"),
    ("post", "/v1/decisions/00000000-0000-0000-0000-000000000001/reevaluate", None, "intake"),
    ("post", "/v1/restrictions", {"subject_id": SUBJECT, "purposes": ["RESEARCH"]}, "auditor"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "role"), WRONG_ROLES, ids=[f"{m} {p} as {r}" for m, p, _, r in WRONG_ROLES]
)
def test_wrong_role_is_403(api: TestClient, auth: Auth, method: str, path: str, body: Any, role: str) -> None:
    response = api.request(method, path, json=body, headers=auth(DISCLOSER, role))
    assert response.status_code == 403
    assert response.json()["type"].endswith(":forbidden")
    assert _events(api) == 0


def test_a_third_organisation_cannot_record_someone_elses_disclosure(api: TestClient, auth: Auth) -> None:
    response = api.post("/v1/disclosures", json=ASK, headers=auth("org-nobody", "intake"))
    assert response.status_code == 403 and _events(api) == 0


INVALID_CONSENTS = [
    ("unknown purpose", {"purposes": ["GOSSIP"]}, "purposes.0"),
    ("unknown category", {"categories": ["DIARY"]}, "categories.0"),
    ("unknown method", {"method": "TELEPATHY"}, "method"),
    ("unknown grantor role", {"granted_by": {"role": "NEIGHBOUR"}}, "granted_by.role"),
    ("missing grantor", {"granted_by": None}, "granted_by"),
    ("end before start", {"valid_until": "2026-10-01"}, "valid_until"),
    ("birth date in the future", {"subject_birth_date": "2026-11-26"}, "subject_birth_date"),
    ("bad birth date", {"subject_birth_date": "1985-02-30"}, "subject_birth_date"),
    ("recipient with both forms", {"recipients": [{"org_id": "org-x", "org_kind": "CSSS"}]}, "recipients.0"),
    ("recipient with neither", {"recipients": [{}]}, "recipients.0"),
    ("no categories", {"categories": []}, "categories"),
    ("unknown field", {"diagnosis": "x"}, "<key>"),  # an undeclared key is not echoed: it may be personal
    ("not a date", {"valid_from": "next tuesday"}, "valid_from"),
]


@pytest.mark.parametrize(("case", "change", "field"), INVALID_CONSENTS, ids=[c for c, _, _ in INVALID_CONSENTS])
def test_bad_consent_is_422_naming_the_field_and_stores_nothing(
    api: TestClient, auth: Auth, case: str, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**CONSENT, **change}.items() if v is not None}
    response = api.post("/v1/consents", json=body, headers=auth(DISCLOSER, "intake"))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith(":validation")
    assert field in [e["field"] for e in problem["errors"]]
    assert _events(api) == 0
    assert (
        api.get("/v1/consents", params={"subject_id": SUBJECT}, headers=auth(DISCLOSER, "intake")).json()["items"] == []
    )


INVALID_ASKS = [
    ("unknown purpose", {"purpose": "CURIOSITY"}, "purpose"),
    ("unknown category", {"categories": ["IDENTIFICATION", "SECRETS"]}, "categories.1"),
    ("unknown context", {"context": {"telepathy": True}}, "context.<key>"),
    ("unknown complaint body", {"context": {"complaint_body": "JOURNALIST"}}, "context.complaint_body"),
    ("bad organisation id", {"recipient_org_id": "org b"}, "recipient_org_id"),
    ("no categories", {"categories": []}, "categories"),
    ("disclosure in the future", {"at": "2026-11-25T15:01:00Z"}, "at"),
    ("a bare danger flag", {"purpose": "EMERGENCY", "context": {"danger": True}}, "context.danger_assessment"),
    (
        "a mandate named without its terms",
        {"context": {"mandate_contract_ref": "CT-1"}},
        "context.mandate_contract_ref",
    ),
    ("undertakings without the mandate", {"context": {"undertakings_received": True}}, "context.undertakings_received"),
    ("on behalf without the service", {"purpose": "SERVICE_ON_BEHALF"}, "recipient_service"),
    ("unknown recipient service", {"recipient_service": "MASSAGE"}, "recipient_service"),
    (
        "a recipient role the law does not name",
        {"context": {"danger_assessment": {"recipient_role": "LANDLORD"}}},
        "context.danger_assessment.recipient_role",
    ),
    (
        "a minor's record asked by a spouse",
        {"context": {"minor": {}, "requester_role": "SPOUSE"}},
        "context.requester_role",
    ),
    ("a minor's record asked by no one named", {"context": {"minor": {}}}, "context.requester_role"),
    (
        "a representation stated by a spouse",
        {"context": {"representation": {"mandate_ref": "T-1", "categories": ["HEALTH"]}, "requester_role": "SPOUSE"}},
        "context.requester_role",
    ),
    (
        "a representation stated by no one named",
        {"context": {"representation": {"mandate_ref": "T-1", "categories": ["HEALTH"]}}},
        "context.requester_role",
    ),
    (
        "a representation without its mandate",
        {"context": {"representation": {"categories": ["HEALTH"]}, "requester_role": "TUTOR"}},
        "context.representation.mandate_ref",
    ),
    (
        "a representation requiring nothing",
        {"context": {"representation": {"mandate_ref": "T-1", "categories": []}, "requester_role": "TUTOR"}},
        "context.representation.categories",
    ),
    ("a death to come", {"context": {"subject_deceased_on": "2026-12-01"}}, "context.subject_deceased_on"),
    ("a birth to come", {"subject_birth_date": "2027-01-01"}, "subject_birth_date"),
    ("a justification too long", {"context": {"reasons": "x" * 501}}, "context.reasons"),
]


@pytest.mark.parametrize(("case", "change", "field"), INVALID_ASKS, ids=[c for c, _, _ in INVALID_ASKS])
@pytest.mark.parametrize("path", ["/v1/disclosures", "/v1/decisions"])
def test_bad_disclosure_request_is_422_naming_the_field(
    api: TestClient, auth: Auth, case: str, change: dict[str, Any], field: str, path: str
) -> None:
    if path == "/v1/decisions" and case == "disclosure in the future":
        return  # a decision may be asked about a disclosure to come
    response = api.post(path, json={**ASK, **change}, headers=auth(DISCLOSER, "intake"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert _events(api) == 0


def test_withdrawal_in_the_future_is_422(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    consent = api.post("/v1/consents", json=CONSENT, headers=intake).json()
    response = api.post(f"/v1/consents/{consent['id']}/withdraw", json={"at": "2026-12-01"}, headers=intake)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "at"
    assert api.get(f"/v1/consents/{consent['id']}", headers=intake).json()["version"] == 1


def test_unknown_consent_is_404(api: TestClient, auth: Auth) -> None:
    response = api.post("/v1/consents/00000000-0000-0000-0000-000000000009/withdraw", headers=auth(DISCLOSER, "intake"))
    assert response.status_code == 404 and response.json()["type"].endswith("consent-not-found")


def test_auditor_reevaluates_a_decision_event_from_its_input_and_facts(api: TestClient, auth: Auth) -> None:
    intake, auditor = auth(DISCLOSER, "intake"), auth("audit-office", "network-auditor")
    api.post("/v1/consents", json=CONSENT, headers=intake)
    decision = api.post("/v1/disclosures", json=ASK, headers=intake).json()
    recorded = api.get(f"/v1/decisions/{decision['decision_id']}", headers=auditor).json()
    body = {"input": recorded["input"], "facts": recorded["facts"]}

    again = api.post("/v1/evaluations", json=body, headers={**auditor, "Accept-Language": "en"})
    stale = api.post(
        "/v1/evaluations", json={**body, "input": {**body["input"], "regime_version": "1999-01-01+0"}}, headers=auditor
    )
    forbidden = api.post("/v1/evaluations", json=body, headers=intake)

    assert again.status_code == 200, again.text
    keys = ("outcome", "permitted_categories", "denied_categories", "basis", "obligations", "reasons", "regime_version")
    assert {k: again.json()[k] for k in keys} == {k: decision[k] for k in keys}
    assert stale.status_code == 409 and stale.json()["type"].endswith("rule-table-unavailable")
    assert forbidden.status_code == 403
    assert _events(api) == 3, "the consent, the decision and its register entry: evaluations record nothing"


def test_rule_tables_are_published_as_data(api: TestClient, auth: Auth) -> None:
    tables = api.get("/v1/rules", headers=auth(RECIPIENT, "clinician")).json()
    by_regime = {t["regime"]: t for t in tables if t["applied"]}  # other settings' tables may be known too
    lsss = by_regime["LSSSS_17_27_3"]["table"]
    current = [r["id"] for r in lsss["routes"]]
    assert current[:10] == ["A-1", "A-2", "A-3", "A-5", "A-6/2001", "A-6", "A-7", "A-8", "A-9", "A-10"]
    assert current[10:] == ["A-11", "A-12", "A-13/relatives", "A-13/parent", "A-13/heirs", "A-13/genetic"]
    a3 = next(r for r in lsss["routes"] if r["id"] == "A-3")
    assert a3["article"].startswith("LSSSS art. 108") and a3["status"] == "NEEDS_LEGAL_REVIEW"
    assert a3["discloser_kinds"] == ["CSSS", "ESTABLISHMENT", "REGIONAL_ESTABLISHMENT"]
    assert a3["requires"] == [
        "subject_alive",
        "agreement_is_service_108",
        "agreement_in_force",
        "agreement_in_force_when_disclosed",
        "agreement_on_behalf_of_discloser",
        "service_on_behalf",
    ]
    assert a3["obligations"] == ["MINIMUM_NECESSARY", "REGISTER_ENTRY"] and a3["categories"] == "FROM_AGREEMENT"
    lrsss = [r["id"] for r in by_regime["LRSSS"]["table"]["routes"]]
    assert lrsss[:8] == ["B-1", "B-2", "B-10", "B-5", "B-6", "B-8", "B-9", "B-11"]
    first = {t["version"] for t in tables if t["version"].startswith("2026-11-25+")}
    assert first == set(FIRST_VERSION.values()), "the first tables stay published: their decisions re-evaluate"
    assert {t["version"][:10] for t in tables if not t["applied"]} >= {"2026-11-25", "2026-11-30"}


def test_a_consent_is_known_only_to_the_organisation_that_recorded_it_and_its_auditors(
    api: TestClient, auth: Auth
) -> None:
    consent = api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake")).json()
    outsider = auth("org-elsewhere", "intake", "coordinator")
    assert api.get(f"/v1/consents/{consent['id']}", headers=outsider).status_code == 404
    assert api.get("/v1/consents", params={"subject_id": SUBJECT}, headers=outsider).json()["items"] == []
    assert api.post(f"/v1/consents/{consent['id']}/withdraw", json={}, headers=outsider).status_code == 404
    assert (
        api.post(f"/v1/consents/{consent['id']}/withdraw", json={}, headers=auth("org-x", "auditor")).status_code == 403
    )
    # an unrelated organisation's auditor does not see the consent (nor the birth date on it)
    assert api.get(f"/v1/consents/{consent['id']}", headers=auth("org-x", "auditor")).status_code == 404
    assert (
        api.get("/v1/consents", params={"subject_id": SUBJECT}, headers=auth("org-x", "auditor")).json()["items"] == []
    )
    assert api.get(f"/v1/consents/{consent['id']}", headers=auth(DISCLOSER, "auditor")).status_code == 200
    assert api.get(f"/v1/consents/{consent['id']}", headers=auth("ministry", "network-auditor")).status_code == 200
    assert api.get(f"/v1/consents/{consent['id']}", headers=auth(DISCLOSER, "clinician")).json()["status"] == "ACTIVE"


def _observe(api: TestClient, *events: Any) -> None:
    """What the consent service would consume from `rls.agreements.v1` (the directory's organisations)."""
    application: Any = api.app.state.application  # type: ignore[attr-defined]
    start = int(application.position("test#0") or 0)
    for offset, event in enumerate(events, start=start + 1):
        inbound.handler(application)(event, Tracking("test#0", offset))


def test_the_regime_is_chosen_by_date_unless_the_deployment_pins_one(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    assert ConsentSettings.model_fields["regime"].default == "BY_DATE"
    by_date = consent_api(regime="BY_DATE").post("/v1/decisions", json=ASK, headers=auth(DISCLOSER, "intake"))
    pinned = consent_api().post("/v1/decisions", json=ASK, headers=auth(DISCLOSER, "intake"))
    assert (by_date.json()["regime"], by_date.json()["regime_superseded"]) == ("LRSSS", False)
    assert (pinned.json()["regime"], pinned.json()["regime_superseded"]) == ("LSSSS_17_27_3", True)
    assert "abrogé" in pinned.json()["explanation"]


def test_the_register_entry_keeps_the_justification_the_reference_and_who_disclosed(
    api: TestClient, auth: Auth
) -> None:
    _observe(api, organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=30)))
    mandate = {
        "ref": "CT-2026-17",
        "written": True,
        "term_end": "2027-06-30",
        "for_care": False,
        "clauses_present": True,
        "undertakings_received": True,
    }
    ask = {
        **ASK,
        "purpose": "MANDATE_CONTRACT",
        "context": {"mandate": mandate, "reasons": "payroll audit by the contracted firm"},
    }
    disclosed = api.post("/v1/disclosures", json=ask, headers=auth(DISCLOSER, "intake", sub="worker-0042"))
    assert disclosed.status_code == 200, disclosed.text
    assert disclosed.json()["outcome"] == "PERMIT" and disclosed.json()["basis"][0]["discloser_kind"] == "CSSS"
    [entry] = api.get("/v1/register", params={"subject_id": SUBJECT}, headers=auth(DISCLOSER, "auditor")).json()[
        "items"
    ]
    assert entry["reasons"] == "payroll audit by the contracted firm"
    assert entry["reference"] == "mandate:CT-2026-17" and entry["disclosed_by"] == "worker-0042"
    assert entry["conditions"]["mandate"] == mandate and entry["regime_superseded"] is True
    decision = api.get(f"/v1/decisions/{entry['decision_id']}", headers=auth(DISCLOSER, "auditor")).json()
    assert decision["justification"] == entry["reasons"]
    assert "payroll" not in str(decision["input"]), "the justification never reaches the engine or a topic"


def test_a_written_refusal_keeps_relatives_from_the_cause_of_death(api: TestClient, auth: Auth) -> None:
    _observe(api, organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=30)))
    intake = auth(DISCLOSER, "intake")
    refusal = {"subject_id": SUBJECT, "requester_roles": ["SPOUSE", "DESCENDANT"], "given_on": "2025-02-01"}
    recorded = api.post("/v1/refusals", json=refusal, headers=intake)
    assert recorded.status_code == 201, recorded.text
    ask = {
        **ASK,
        "purpose": "USER_REQUESTED_TRANSFER",
        "categories": ["CAUSE_OF_DEATH"],
        "context": {"subject_deceased_on": "2026-11-20", "requester_role": "SPOUSE"},
    }
    refused = api.post("/v1/decisions", json=ask, headers=intake).json()
    assert refused["outcome"] == "DENY"
    assert ("WRITTEN_REFUSAL_ON_FILE", recorded.json()["id"]) in [(r["code"], r["detail"]) for r in refused["reasons"]]
    ascendant = api.post(
        "/v1/decisions", json={**ask, "context": {**ask["context"], "requester_role": "ASCENDANT"}}, headers=intake
    ).json()
    assert ascendant["outcome"] == "PERMIT" and ascendant["basis"][0]["route"] == "A-13/relatives"

    outsider = auth("org-elsewhere", "intake")
    assert api.get("/v1/refusals", params={"subject_id": SUBJECT}, headers=outsider).json()["items"] == []
    assert api.post(f"/v1/refusals/{recorded.json()['id']}/withdraw", headers=outsider).status_code == 404
    assert len(api.get("/v1/refusals", params={"subject_id": SUBJECT}, headers=intake).json()["items"]) == 1
    withdrawn = api.post(f"/v1/refusals/{recorded.json()['id']}/withdraw", json={"at": "2025-06-01"}, headers=intake)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"].startswith("2025-06-01")
    assert api.post("/v1/decisions", json=ask, headers=intake).json()["outcome"] == "PERMIT"


def test_a_parents_request_uses_the_birth_date_given_and_records_only_the_age_band(api: TestClient, auth: Auth) -> None:
    _observe(api, organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=30)))
    minor = {"youth_protection_intervention": True, "objects": False, "harm_likely": True}
    ask = {
        **ASK,
        "purpose": "USER_REQUESTED_TRANSFER",
        "subject_id": "S-MINOR-1",
        "context": {"minor": minor, "requester_role": "PARENT"},
    }
    under_14 = api.post(
        "/v1/decisions", json={**ask, "subject_birth_date": "2013-06-01"}, headers=auth(DISCLOSER, "intake")
    )
    at_14 = api.post(
        "/v1/decisions", json={**ask, "subject_birth_date": "2012-11-25"}, headers=auth(DISCLOSER, "intake")
    )
    assert under_14.json()["outcome"] == "DENY" and at_14.json()["outcome"] == "PERMIT"
    recorded = api.get(f"/v1/decisions/{at_14.json()['decision_id']}", headers=auth(DISCLOSER, "auditor")).json()
    assert recorded["facts"]["subject_age_band"] == "MINOR_14_TO_17"
    assert "2012-11-25" not in str(recorded), "the birth date is not recorded with the decision"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"context": {"anonymous": 1}}, "context.anonymous"),
        ({"context": {"user_request": 0}}, "context.user_request"),
        ({"context": {"danger_assessment": {"urgent": 1}}}, "context.danger_assessment.urgent"),
        ({"context": {"minor": {"objects": "yes"}}}, "context.minor.objects"),
        ({"at": 1764082800}, "at"),
    ],
)
def test_booleans_are_json_booleans_and_moments_iso_text(
    api: TestClient, auth: Auth, change: dict[str, Any], field: str
) -> None:
    """What the OpenAPI says (boolean, date-time) is all the service reads: no 0/1, no Unix time."""
    response = api.post("/v1/decisions", json={**ASK, **change}, headers=auth(DISCLOSER, "intake"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_dates_past_the_calendars_end_are_refused_naming_the_field(api: TestClient, auth: Auth) -> None:
    """An end given as a date means the start of the next day: on 9999-12-31 there is none (it was a 500)."""
    headers = auth(DISCLOSER, "intake")
    for path, body, field in (
        (
            "/v1/decisions",
            {**ASK, "context": {"research_authorisation_until": "9999-12-31"}},
            "research_authorisation_until",
        ),
        ("/v1/disclosures", {**ASK, "at": "9999-12-31T12:00:00-05:00"}, "at"),
        ("/v1/consents", {**CONSENT, "valid_until": "9999-12-31"}, "valid_until"),
    ):
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.text
