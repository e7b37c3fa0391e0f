"""The review of 2026-12-03: who discloses on a consent, until when, and for how long an LRSSS consent runs.

- A disclosure may name an `at` up to five minutes back; the information leaves when it is recorded. A withdrawal
  stops every later disclosure (consent-rules.md, "Who may consent"): the consent must hold at both moments. A
  decision asked as of a past moment discloses nothing and is judged at `at` alone.
- A consent authorises communication from someone: the organisation that recorded it, or those it names
  (`disclosers`). A consent the recipient recorded naming no discloser no longer counts for whoever names itself
  discloser, and such a discloser gets the answer it would get had the consent not existed.
- LRSSS s. 6: a consent valid only as long as needed; one "until 9998-12-31" is open-ended in all but name.
The tables of 2026-12-02 keep deciding as they decided.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.consent.engine import evaluate
from services.consent.policy import LegalSettings, ReasonCode
from services.consent.rules import CURRENT_VERSION, build_tables, version_of
from services.contract.codes import Outcome, Regime
from tests.consent.conftest import RECIPIENT, T0, consent_fact, decision_input, facts
from tests.consent.test_api import ASK, CONSENT
from tests.consent.test_who_may_consent import VERSION_2026_12_02

Auth = Callable[..., dict[str, str]]
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
LRSSS_AT = datetime(2026, 11, 25, 15, tzinfo=UTC)


def _reasons(decision: object) -> list[tuple[ReasonCode, str | None]]:
    return [(r.code, r.detail) for r in decision.reasons]  # type: ignore[attr-defined]


# --- the consent holds when the disclosure is recorded ------------------------------------------------------------


def test_a_disclosure_dated_before_a_withdrawal_but_recorded_after_it_is_denied(
    consent_api: Callable[..., TestClient], auth: Auth, clock: ManualClock
) -> None:
    api = consent_api()
    intake = auth(ASK["discloser_org_id"], "intake")
    consent = api.post("/v1/consents", json=CONSENT, headers=intake).json()
    clock.advance(timedelta(minutes=2))
    withdrawn = api.post(f"/v1/consents/{consent['id']}/withdraw", json={}, headers=intake)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "WITHDRAWN"
    clock.advance(timedelta(seconds=30))
    four_minutes_back = (clock() - timedelta(minutes=4)).isoformat()

    disclosed = api.post("/v1/disclosures", json={**ASK, "at": four_minutes_back}, headers=intake).json()

    assert disclosed["outcome"] == "DENY" and disclosed["register_entry_id"] is None
    assert "CONSENT_WITHDRAWN" in [r["code"] for r in disclosed["reasons"]]
    assert api.get("/v1/register", headers=auth(ASK["discloser_org_id"], "auditor")).json()["items"] == []
    asked = api.post("/v1/decisions", json={**ASK, "at": four_minutes_back}, headers=intake).json()
    assert asked["outcome"] == "PERMIT_PARTIAL", "a decision as of a past moment discloses nothing: judged then"


def test_a_disclosure_dated_before_the_consent_ended_but_recorded_after_it_is_denied(
    consent_api: Callable[..., TestClient], auth: Auth, clock: ManualClock
) -> None:
    api = consent_api()
    intake = auth(ASK["discloser_org_id"], "intake")
    consent = api.post("/v1/consents", json={**CONSENT, "valid_until": "2026-11-25"}, headers=intake).json()
    clock.advance(timedelta(hours=14, minutes=2))  # 2026-11-26 00:02 in Québec: ended two minutes ago
    assert api.get(f"/v1/consents/{consent['id']}", headers=intake).json()["status"] == "EXPIRED"

    disclosed = api.post("/v1/disclosures", json={**ASK, "at": "2026-11-25T23:59:00"}, headers=intake).json()

    assert disclosed["outcome"] == "DENY" and disclosed["register_entry_id"] is None
    assert "CONSENT_EXPIRED" in [r["code"] for r in disclosed["reasons"]]


def test_the_moment_a_disclosure_was_recorded_is_an_input_and_older_tables_ignore_it() -> None:
    withdrawn = consent_fact(withdrawn_at=T0 + timedelta(minutes=1))
    disclosure = decision_input(LSSSS, at=T0, disclosed_at=T0 + timedelta(minutes=3))
    now = evaluate(disclosure, facts(consents=(withdrawn,)))
    assert now.outcome == Outcome.DENY
    assert (ReasonCode.CONSENT_WITHDRAWN, (T0 + timedelta(minutes=1)).isoformat()) in _reasons(now)
    then = dataclasses.replace(disclosure, regime_version=VERSION_2026_12_02[LSSSS])
    assert evaluate(then, facts(consents=(withdrawn,))).outcome == Outcome.PERMIT, "as the 2026-12-02 tables did"
    decision = dataclasses.replace(disclosure, disclosed_at=None)
    assert evaluate(decision, facts(consents=(withdrawn,))).outcome == Outcome.PERMIT


def test_a_restriction_recorded_before_the_disclosure_is_recorded_bars_it(
    consent_api: Callable[..., TestClient], auth: Auth, clock: ManualClock
) -> None:
    api = consent_api(regime="LRSSS")
    intake = auth(ASK["discloser_org_id"], "intake")
    consent = {**CONSENT, "method": "WRITTEN", "valid_from": "2026-11-25", "categories": ["IDENTIFICATION"]}
    assert api.post("/v1/consents", json=consent, headers=intake).status_code == 201
    clock.advance(timedelta(minutes=3))
    restriction = {"subject_id": CONSENT["subject_id"], "recipients": [{"org_id": RECIPIENT}]}
    assert api.post("/v1/restrictions", json=restriction, headers=intake).status_code == 201
    back = (clock() - timedelta(minutes=4)).isoformat()

    disclosed = api.post(
        "/v1/disclosures", json={**ASK, "categories": ["IDENTIFICATION"], "at": back}, headers=intake
    ).json()

    assert disclosed["outcome"] == "DENY" and disclosed["register_entry_id"] is None
    assert "SUBJECT_RESTRICTION" in [r["code"] for r in disclosed["reasons"]]


# --- a consent authorises communication from its holder or the disclosers it names ---------------------------------


def test_a_consent_the_recipient_holds_counts_only_for_the_disclosers_it_names() -> None:
    held_by_recipient = consent_fact(recorded_by_org=RECIPIENT)
    stranger = decision_input(LSSSS, discloser_org_id="org-zeta")
    none_on_file = evaluate(stranger, facts())
    now = evaluate(stranger, facts(consents=(held_by_recipient,)))
    assert now == none_on_file and now.outcome == Outcome.DENY, "the same answer as if it did not exist"
    assert _reasons(now) == [(ReasonCode.NO_CONSENT, None)]
    then = evaluate(
        dataclasses.replace(stranger, regime_version=VERSION_2026_12_02[LSSSS]), facts(consents=(held_by_recipient,))
    )
    assert then.outcome == Outcome.PERMIT and then.basis[0].consent_id == "c-1", "the 2026-12-02 tables allowed it"
    named = dataclasses.replace(held_by_recipient, discloser_org_ids=("org-zeta",))
    assert evaluate(stranger, facts(consents=(named,))).outcome == Outcome.PERMIT
    unknown_holder = dataclasses.replace(held_by_recipient, recorded_by_org=None)  # a fact recorded before 2026-12-03
    assert evaluate(stranger, facts(consents=(unknown_holder,))) == none_on_file


def test_an_unrelated_organisation_learns_nothing_of_the_recipients_consent(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """The reviewer's reproduction: org-zeta names itself discloser of a person who is org-beta's client."""
    api = consent_api()
    held = api.post(
        "/v1/consents", json={**CONSENT, "recipients": [{"org_id": RECIPIENT}]}, headers=auth(RECIPIENT, "intake")
    )
    assert held.status_code == 201 and held.json()["disclosers"] == []
    zeta = auth("org-zeta", "intake")
    ask = {**ASK, "discloser_org_id": "org-zeta", "categories": ["IDENTIFICATION"]}

    decided = api.post("/v1/decisions", json=ask, headers=zeta).json()
    disclosed = api.post("/v1/disclosures", json=ask, headers=zeta).json()

    for answer in (decided, disclosed):
        assert answer["outcome"] == "DENY" and answer["basis"] == []
        assert [(r["code"], r["consent_id"]) for r in answer["reasons"]] == [("NO_CONSENT", None)]
    assert disclosed["register_entry_id"] is None


# --- an LRSSS consent runs at most the time the deployment sets -----------------------------------------------------


def test_an_lrsss_consent_valid_for_seven_thousand_years_does_not_count() -> None:
    given = LRSSS_AT - timedelta(days=1)
    far = consent_fact(given_at=given, valid_from=given, valid_until=datetime(9999, 1, 1, 5, tzinfo=UTC))
    now = evaluate(decision_input(LRSSS, at=LRSSS_AT), facts(consents=(far,)))
    assert now.outcome == Outcome.DENY
    assert (ReasonCode.CONSENT_TOO_LONG, "2028-11-25T00:00:00-05:00") in _reasons(now), "two years, through that day"
    then = dataclasses.replace(decision_input(LRSSS, at=LRSSS_AT), regime_version=VERSION_2026_12_02[LRSSS])
    assert evaluate(then, facts(consents=(far,))).outcome == Outcome.PERMIT, "as the 2026-12-02 tables did"
    two_years = dataclasses.replace(far, valid_until=datetime(2028, 11, 25, 5, tzinfo=UTC))
    assert evaluate(decision_input(LRSSS, at=LRSSS_AT), facts(consents=(two_years,))).outcome == Outcome.PERMIT
    a_day_more = dataclasses.replace(far, valid_until=datetime(2028, 11, 26, 5, tzinfo=UTC))
    assert evaluate(decision_input(LRSSS, at=LRSSS_AT), facts(consents=(a_day_more,))).outcome == Outcome.DENY


def test_the_longest_lrsss_consent_is_a_legal_setting_in_the_tables_version(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    shorter = build_tables(LegalSettings(lrsss_consent_max_months=12))
    assert version_of(shorter[LRSSS]) != CURRENT_VERSION[LRSSS]
    assert version_of(shorter[LSSSS]) == CURRENT_VERSION[LSSSS], "the LSSSS sets no such limit"
    assert shorter[LRSSS].route("B-1").consent_max_months == 12
    api = consent_api(regime="BY_DATE", lrsss_consent_max_months=12)
    intake = auth(ASK["discloser_org_id"], "intake")
    consent = {**CONSENT, "method": "WRITTEN", "valid_from": "2026-11-25", "valid_until": "2028-11-25"}
    assert api.post("/v1/consents", json=consent, headers=intake).status_code == 201
    asked = api.post("/v1/decisions", json={**ASK, "categories": ["IDENTIFICATION"]}, headers=intake).json()
    assert asked["regime"] == "LRSSS" and asked["outcome"] == "DENY"
    assert "CONSENT_TOO_LONG" in [r["code"] for r in asked["reasons"]]
