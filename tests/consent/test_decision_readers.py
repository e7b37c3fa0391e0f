"""What a caller reads of a decision: the person's consents, restrictions and written refusals that another
organisation holds are among its facts (the engine needs them) but not readable through it. Anyone may ask for a
decision naming itself discloser; what it reads back (the answer, `GET /v1/decisions/{id}`) names only the records
it may read itself (`GET /v1/consents/{id}` ...), the others only by who holds them. Network auditors read every fact.
Only the discloser's own written refusals and restrictions count (art. 23, LRSSS ss. 7-8: they are about the record
of the establishment asked). A decision the recipient asks for itself reads none of the discloser's records
(test_decision_previews.py): the recipient reads them, redacted, in the discloser's decisions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.auth import Principal
from services.common.clock import ManualClock
from services.consent.access import age_source, age_unreadable
from services.consent.application import Consents
from services.consent.policy import AgeBand
from services.contract.codes import OrgKind
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT, T0, organisation_event
from tests.consent.test_api import ASK, CONSENT, _observe
from tests.consent.test_application import WORKER, request, terms

Auth = Callable[..., dict[str, str]]

HOLDER = "org-holder"
"""An organisation that recorded something about the person and has no part in the decisions below."""
STRANGER = "org-stranger"
"""An organisation naming itself discloser, that may not read the recipient's consents. From the tables of 2026-12-03
a consent the recipient holds counts for it only when the consent names it among its disclosers: the consents below
that must count do (a stranger they do not name gets nothing of them, not even among the facts)."""

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

    asked = api.post("/v1/decisions", json=SPOUSE_ASKS, headers=auth(DISCLOSER, "intake"))

    assert asked.status_code == 200 and asked.json()["outcome"] == "DENY", asked.text
    as_recipient = _read(api, asked.json()["decision_id"], recipient)
    refused = [r for r in as_recipient["reasons"] if r["code"] == "WRITTEN_REFUSAL_ON_FILE"]
    assert refused and all(r["detail"] is None for r in refused)
    assert "()" not in as_recipient["explanation"]
    assert as_recipient["facts"]["refusals"] == [{"redacted": True, "held_by": "DISCLOSER"}]
    assert refusal_id not in str(as_recipient)
    as_discloser = _read(api, asked.json()["decision_id"], auth(DISCLOSER, "intake"))
    assert [r["refusal_id"] for r in as_discloser["facts"]["refusals"]] == [refusal_id]
    assert ("WRITTEN_REFUSAL_ON_FILE", refusal_id) in [(r["code"], r["detail"]) for r in as_discloser["reasons"]]


def test_a_stranger_naming_itself_discloser_learns_nothing_of_the_recipients_consent(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """The recipient gathered a consent by a curator (the person is under curatorship), naming no discloser; an
    organisation with nothing to do with the person names itself discloser. Before 2026-12-03 the consent counted
    for it (a PERMIT naming the consent told it that the person is the recipient's client, and registered its
    disclosures); now it gets the answer it would get had no consent existed, and the consent is no fact at all."""
    api = consent_api()
    stranger = auth(STRANGER, "intake")
    ask = {**ASK, "discloser_org_id": STRANGER, "categories": ["IDENTIFICATION"]}
    before = {path: api.post(path, json=ask, headers=stranger).json() for path in ("/v1/decisions", "/v1/disclosures")}
    holder = auth(RECIPIENT, "intake")
    recorded = api.post("/v1/consents", json={**CURATOR_CONSENT, "categories": ["IDENTIFICATION"]}, headers=holder)
    assert recorded.status_code == 201, recorded.text
    consent_id = recorded.json()["id"]

    for path, none_on_file in before.items():
        asked = api.post(path, json=ask, headers=stranger)

        assert asked.status_code == 200, asked.text
        answer = asked.json()
        assert answer["outcome"] == "DENY" and answer["register_entry_id"] is None
        same = ("outcome", "permitted_categories", "denied_categories", "basis", "reasons", "explanation")
        assert {k: answer[k] for k in same} == {k: none_on_file[k] for k in same}, "as if none existed"
        assert "CURATOR" not in asked.text and consent_id not in asked.text
        for reader in (stranger, holder, auth("org-network", "network-auditor")):
            assert _read(api, answer["decision_id"], reader)["facts"]["consents"] == []
    named = api.post("/v1/consents", json={**CURATOR_CONSENT, "disclosers": [STRANGER]}, headers=holder).json()
    assert named["disclosers"] == [STRANGER] and named["recorded_by_org"] == RECIPIENT
    asked = api.post("/v1/decisions", json={**ask, "categories": ["HEALTH"]}, headers=stranger).json()
    assert asked["outcome"] == "PERMIT", "a consent naming the discloser counts for it"
    seen = _read(api, asked["decision_id"], stranger)
    assert seen["facts"]["consents"] == [{"redacted": True, "held_by": "RECIPIENT"}], "which still may not read it"
    assert "CURATOR" not in str(seen["facts"]) and named["id"] not in str(seen["facts"])


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
        "disclosers": [STRANGER],
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


def test_the_disclosers_restriction_bars_and_the_recipient_reads_only_that_it_counted(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """Another organisation's restriction binds its own record: it is no fact of the discloser's decision."""
    api = consent_api(regime="LRSSS")
    intake = auth(DISCLOSER, "intake")
    assert api.post("/v1/consents", json={**CONSENT, "categories": ["HEALTH"]}, headers=intake).status_code == 201
    restriction = {"subject_id": SUBJECT, "recipients": [{"org_id": RECIPIENT}], "categories": ["HEALTH"]}
    restriction_id = api.post("/v1/restrictions", json=restriction, headers=intake).json()["id"]
    elsewhere = api.post("/v1/restrictions", json=restriction, headers=auth(HOLDER, "intake")).json()["id"]

    asked = api.post("/v1/decisions", json={**ASK, "categories": ["HEALTH"]}, headers=intake)

    assert asked.json()["outcome"] == "DENY", asked.text
    assert ("SUBJECT_RESTRICTION", restriction_id) in [(r["code"], r["detail"]) for r in asked.json()["reasons"]]
    seen = _read(api, asked.json()["decision_id"], auth(RECIPIENT, "intake"))
    assert ("SUBJECT_RESTRICTION", None) in [(r["code"], r["detail"]) for r in seen["reasons"]]
    assert seen["facts"]["restrictions"] == [{"redacted": True, "held_by": "DISCLOSER"}]
    assert restriction_id not in str(seen)
    network = _read(api, asked.json()["decision_id"], auth("org-network", "network-auditor"))
    assert [r["restriction_id"] for r in network["facts"]["restrictions"]] == [restriction_id]
    assert elsewhere not in str(network)


# --- the person's age, read from a consent's birth date -------------------------------------------------------------

CHILD_CONSENT = {
    **CONSENT,
    "granted_by": {"role": "PARENT"},
    "subject_birth_date": "2016-05-01",
    "recipients": [{"org_id": RECIPIENT}],
    "disclosers": [STRANGER],
}
"""The recipient's consent for a child of 10, gathered for `STRANGER`: its birth date gives the decisions' age band
when none is given."""
PARENT_ASKS: dict[str, Any] = {
    **ASK,
    "discloser_org_id": STRANGER,
    "purpose": "USER_REQUESTED_TRANSFER",
    "categories": ["HEALTH"],
    "context": {"minor": {}, "requester_role": "PARENT"},
}
"""A parent's request for a minor's record stating nothing (art. 21): under 14 the youth-protection intervention
must be stated, from 14 the minor's objection."""


def test_the_age_band_of_a_consent_the_reader_cannot_read_is_not_shown(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """From the review of 2026-12-02: a stranger naming itself discloser, the recipient's consent redacted, read the
    person's age band derived from that consent's birth date (the recipient's client is under 14)."""
    api = consent_api()
    holder = auth(RECIPIENT, "intake")
    made = api.post("/v1/consents", json=CHILD_CONSENT, headers=holder)
    assert made.status_code == 201, made.text
    stranger = auth(STRANGER, "intake")

    asked = api.post("/v1/decisions", json={**ASK, "discloser_org_id": STRANGER}, headers=stranger)

    assert asked.status_code == 200, asked.text
    seen = _read(api, asked.json()["decision_id"], stranger)
    assert seen["facts"]["consents"] == [{"redacted": True, "held_by": "RECIPIENT"}]
    assert seen["facts"]["subject_age_band"] is None, "derived from the redacted consent's birth date"
    assert seen["facts"]["subject_age_from"] is None and made.json()["id"] not in str(seen["facts"])
    for reader in (holder, auth("org-network", "network-auditor")):  # the stored decision keeps it
        facts = _read(api, asked.json()["decision_id"], reader)["facts"]
        assert (facts["subject_age_band"], facts["subject_age_from"]) == ("UNDER_14", made.json()["id"])


def test_the_age_band_from_the_birth_date_the_request_gave_is_shown(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api()
    assert api.post("/v1/consents", json=CHILD_CONSENT, headers=auth(RECIPIENT, "intake")).status_code == 201
    stranger = auth(STRANGER, "intake")
    ask = {**ASK, "discloser_org_id": STRANGER, "subject_birth_date": "2016-05-01"}

    asked = api.post("/v1/decisions", json=ask, headers=stranger)

    facts = _read(api, asked.json()["decision_id"], stranger)["facts"]
    assert facts["consents"] == [{"redacted": True, "held_by": "RECIPIENT"}]
    assert (facts["subject_age_band"], facts["subject_age_from"]) == ("UNDER_14", "REQUEST")


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/disclosures"])
@pytest.mark.parametrize("lane", [True, False], ids=["lane", "route"])
def test_the_reasons_the_hidden_age_band_decided_give_no_detail(
    consent_app: Callable[[bool], TestClient], auth: Auth, lane: bool, path: str
) -> None:
    """The ground asked of a minor's parent tells the band: `youth_protection_intervention` is asked under 14."""
    api = consent_app(lane)
    _institutions(api, STRANGER, RECIPIENT)
    holder = auth(RECIPIENT, "intake")
    assert api.post("/v1/consents", json=CHILD_CONSENT, headers=holder).status_code == 201

    answers = {
        lang: api.post(path, json={**PARENT_ASKS, "lang": lang}, headers=auth(STRANGER, "intake"))
        for lang in ("fr", "en")
    }

    for lang, asked in answers.items():
        assert asked.status_code == 200 and asked.json()["outcome"] == "DENY", asked.text
        minor = [r for r in asked.json()["reasons"] if r["code"] == "MINOR_CONDITION_NOT_STATED"]
        assert minor and all(r["detail"] is None for r in minor), minor
        explanation = asked.json()["explanation"]
        assert "youth_protection" not in asked.text and not re.search(r": ?[;.]", explanation), explanation
        assert ("pour le mineur" if lang == "fr" else "about the minor") in explanation
        seen = _read(api, asked.json()["decision_id"], auth(STRANGER, "intake"))
        assert "youth_protection" not in str(seen["reasons"]) + seen["explanation"]
        assert seen["facts"]["subject_age_band"] is None
        as_holder = _read(api, asked.json()["decision_id"], holder)
        assert ("MINOR_CONDITION_NOT_STATED", "youth_protection_intervention") in [
            (r["code"], r["detail"]) for r in as_holder["reasons"]
        ]


def test_in_a_decision_recorded_before_the_source_was_kept_only_a_reader_of_both_parties_sees_the_age(
    consents: Consents,
) -> None:
    """Decisions of 2026-12-01 name no source of their bands: the birth date of a consent the discloser or the
    recipient held, or one the request gave. Hidden from all but who reads both parties' consents."""
    consents.record_consent(terms(subject_birth_date=date(2016, 5, 1), grantor_role="PARENT"), WORKER)
    recorded, _ = consents.decide(request(), WORKER)
    assert recorded.facts.subject_age_band == AgeBand.UNDER_14
    old = dataclasses.replace(recorded, facts=dataclasses.replace(recorded.facts, subject_age_from=None))

    def reader(org: str, role: str) -> Principal:
        return Principal(sub="u", org=org, roles=frozenset({role}))

    assert age_unreadable(reader(DISCLOSER, "intake"), old, {})
    assert age_unreadable(reader(RECIPIENT, "auditor"), old, {})
    assert not age_unreadable(reader("org-network", "network-auditor"), old, {})
    assert not age_unreadable(reader(DISCLOSER, "intake"), recorded, consents.holders(age_source(recorded)))
