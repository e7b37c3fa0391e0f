"""Who may ask the consent service what, about whom (findings 1-3 of issue 11), and the matrix from its policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from services.consent.access import POLICY
from tests.access_matrix import granted, mismatches
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT
from tests.consent.test_api import ASK, CONSENT, _events

Auth = Callable[..., dict[str, str]]
THIRD = "tel-aide-org"


def test_a_third_organisation_gets_no_decision_about_two_others(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api()
    api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake"))
    before = _events(api)
    response = api.post("/v1/decisions", json=ASK, headers=auth(THIRD, "intake"))
    assert response.status_code == 403, response.text
    assert "consent_id" not in response.text and "PERMIT" not in response.text
    assert _events(api) == before  # nothing recorded, so nothing published
    for org in (DISCLOSER, RECIPIENT):
        assert api.post("/v1/decisions", json=ASK, headers=auth(org, "clinician")).status_code == 200
    assert api.post("/v1/decisions", json=ASK, headers=auth(RECIPIENT, "auditor")).status_code == 200
    assert api.post("/v1/decisions", json=ASK, headers=auth(THIRD, "auditor")).status_code == 403


def test_only_the_discloser_writes_in_its_register(consent_api: Callable[..., TestClient], auth: Auth) -> None:
    api = consent_api()
    api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake"))
    before = _events(api)
    for headers in (auth(THIRD, "admin"), auth(RECIPIENT, "admin"), auth(RECIPIENT, "clinician")):
        assert api.post("/v1/disclosures", json=ASK, headers=headers).status_code == 403
    assert _events(api) == before
    entry = api.post("/v1/disclosures", json=ASK, headers=auth(DISCLOSER, "clinician", sub="worker-7")).json()
    assert entry["register_entry_id"]
    decision = api.get(f"/v1/decisions/{entry['decision_id']}", headers=auth(DISCLOSER, "auditor")).json()
    assert decision["kind"] == "DISCLOSURE"


def test_the_id_of_a_consent_or_register_entry_is_no_decision_to_anyone(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """Asked as a decision, another aggregate's id answers as nothing does (404), to its holder too. It was a 500
    for a consent or a register entry, and a 404 for nothing: another organisation learnt which ids exist."""
    api = consent_api()
    held = api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake")).json()
    entry = api.post("/v1/disclosures", json=ASK, headers=auth(DISCLOSER, "intake")).json()
    for some_id in (held["id"], entry["register_entry_id"], "00000000-0000-0000-0000-000000000001"):
        for org in (THIRD, DISCLOSER):
            read = api.get(f"/v1/decisions/{some_id}", headers=auth(org, "clinician"))
            rerun = api.post(f"/v1/decisions/{some_id}/reevaluate", headers=auth(org, "auditor"))
            assert (read.status_code, rerun.status_code) == (404, 404), (some_id, org, read.text, rerun.text)
            assert read.json()["type"] == rerun.json()["type"] == "urn:ca.qc.rls:problem:decision-not-found"


def test_a_platform_service_discloses_only_for_a_worker_of_the_recipient(
    consent_api: Callable[..., TestClient], auth: Auth, token: Callable[..., str]
) -> None:
    api = consent_api()
    api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake"))
    service = auth("rls-platform", "service", sub="service:referral")
    alone = api.post("/v1/disclosures", json=ASK, headers=service)
    for_outsider = api.post(
        "/v1/disclosures", json=ASK, headers={**service, "Requester-Token": token(THIRD, "clinician")}
    )
    forged = api.post("/v1/disclosures", json=ASK, headers={**service, "Requester-Token": "not-a-token"})
    assert (alone.status_code, for_outsider.status_code, forged.status_code) == (403, 403, 403)
    asked = api.post(
        "/v1/disclosures",
        json=ASK,
        headers={**service, "Requester-Token": token(RECIPIENT, "clinician", sub="worker-b")},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["register_entry_id"]
    # the requester is recorded: the recipient's organisation, which can read the decision
    decision = api.get(f"/v1/decisions/{asked.json()['decision_id']}", headers=auth(RECIPIENT, "clinician"))
    assert decision.status_code == 200
    assert api.get("/v1/register", headers=service).status_code == 403  # a service writes, it never reads


def test_the_auditors_of_the_organisation_that_asked_for_a_decision_re_run_its_event(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """As they read it and re-evaluate it by id: a decision concerns its requester too (the contract's parties of a
    decision, which the audit's re-check asks with). The event carries every fact it read (here as a network auditor
    reads them): asked by an organisation other than the discloser, none of the discloser's records (a preview)."""
    api = consent_api()
    api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake"))
    asked = api.post("/v1/decisions", json=ASK, headers=auth(THIRD, "network-auditor")).json()
    read = api.get(f"/v1/decisions/{asked['decision_id']}", headers=auth(THIRD, "auditor")).json()
    assert read["facts"]["consents"] == [] and asked["outcome"] == "DENY"
    recorded = api.get(f"/v1/decisions/{asked['decision_id']}", headers=auth(THIRD, "network-auditor")).json()
    event = {"input": recorded["input"], "facts": recorded["facts"]}

    as_requester = api.post(
        "/v1/evaluations", json={**event, "requested_by_org": THIRD}, headers=auth(THIRD, "auditor")
    )
    unnamed = api.post("/v1/evaluations", json=event, headers=auth(THIRD, "auditor"))
    outsider = api.post(
        "/v1/evaluations", json={**event, "requested_by_org": THIRD}, headers=auth("org-outsider", "auditor")
    )

    assert as_requester.status_code == 200, as_requester.text
    assert as_requester.json()["outcome"] == asked["outcome"]
    assert (unnamed.status_code, outsider.status_code) == (403, 403)


def test_the_authorisation_matrix_follows_the_policy(
    consent_api: Callable[..., TestClient], auth: Auth, token: Callable[..., str]
) -> None:
    api = consent_api()
    consent = api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake")).json()
    restriction = api.post(
        "/v1/restrictions", json={"subject_id": SUBJECT, "purposes": ["RESEARCH"]}, headers=auth(DISCLOSER, "intake")
    ).json()
    refusal = api.post(
        "/v1/refusals",
        json={"subject_id": SUBJECT, "requester_roles": ["SPOUSE"], "given_on": "2026-11-01"},
        headers=auth(DISCLOSER, "intake"),
    ).json()
    entry = api.post("/v1/disclosures", json=ASK, headers=auth(DISCLOSER, "intake")).json()
    recorded = api.get(f"/v1/decisions/{entry['decision_id']}", headers=auth(DISCLOSER, "intake")).json()
    holder = {"holder": DISCLOSER}
    decision = {"discloser": DISCLOSER, "recipient": RECIPIENT, "requester": DISCLOSER}
    evaluation = {"input": recorded["input"], "facts": recorded["facts"], "requested_by_org": THIRD}

    def headers(org: str, role: str) -> dict[str, str]:
        extra = {"Requester-Token": token(RECIPIENT, "clinician")} if role == "service" else {}
        return {**auth(org, role), **extra}

    def call(method: str, path: str, org: str, role: str, **kwargs: Any) -> Any:
        return api.request(method, path, headers=headers(org, role), **kwargs)

    def listed(path: str, item_id: str) -> Callable[[str, str], bool]:
        def probe(org: str, role: str) -> bool:
            response = call("GET", path, org, role)
            return granted(response, {200}) and item_id in response.text

        return probe

    cases: list[tuple[str, dict[str, Any], Callable[[str, str], bool]]] = [
        (
            "decide",
            {"discloser": DISCLOSER, "recipient": RECIPIENT},
            lambda o, r: granted(call("POST", "/v1/decisions", o, r, json=ASK), {200}),
        ),
        (
            "disclose",
            {"discloser": DISCLOSER},
            lambda o, r: granted(call("POST", "/v1/disclosures", o, r, json=ASK), {200}),
        ),
        ("get_consent", holder, lambda o, r: granted(call("GET", f"/v1/consents/{consent['id']}", o, r), {200})),
        ("list_consents", holder, listed(f"/v1/consents?subject_id={SUBJECT}", consent["id"])),
        ("list_restrictions", holder, listed(f"/v1/restrictions?subject_id={SUBJECT}", restriction["id"])),
        (
            "get_restriction",
            holder,
            lambda o, r: granted(call("GET", f"/v1/restrictions/{restriction['id']}", o, r), {200}),
        ),
        ("list_refusals", holder, listed(f"/v1/refusals?subject_id={SUBJECT}", refusal["id"])),
        ("get_refusal", holder, lambda o, r: granted(call("GET", f"/v1/refusals/{refusal['id']}", o, r), {200})),
        (
            "withdraw_consent",
            holder,
            lambda o, r: granted(  # a stale If-Match: 409 once admitted, and nothing withdrawn
                api.post(
                    f"/v1/consents/{consent['id']}/withdraw", json={}, headers={**headers(o, r), "If-Match": "99"}
                ),
                {409},
            ),
        ),
        (
            "get_decision",
            decision,
            lambda o, r: granted(call("GET", f"/v1/decisions/{entry['decision_id']}", o, r), {200}),
        ),
        (
            "reevaluate",
            decision,
            lambda o, r: granted(call("POST", f"/v1/decisions/{entry['decision_id']}/reevaluate", o, r), {200}),
        ),
        (
            "evaluate_recorded",
            {"discloser": DISCLOSER, "recipient": RECIPIENT, "requester": THIRD},
            lambda o, r: granted(call("POST", "/v1/evaluations", o, r, json=evaluation), {200}),
        ),
        ("register", {"discloser": DISCLOSER}, listed("/v1/register", entry["register_entry_id"])),
    ]
    found = [m for operation, parties, probe in cases for m in mismatches(POLICY, operation, parties, probe)]
    assert found == []
