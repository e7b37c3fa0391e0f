"""The legal review of 2026-12-04 (rule tables 2026-12-04):

- LRSSS s. 23 gives the holder of parental authority access to the record of a minor under 14 only; from 14 the minor
  decides (consent-rules.md, B-1: "under 14 -> parent/tutor; 14+ -> the minor"). B-11 gave a parent a
  14-17-year-old's record unless the teenager objected and harm was likely; now only the teenager's own consent (B-1)
  does. The LSSSS row (A-11, art. 21) is unchanged.
- Anonymous callers cannot be referred with information (standards.md, Info-Social): the anonymity bar closed the care
  flow (B-2) but not the service-agreement routes of art. 108 (A-3, B-10), which sent an anonymous caller's
  identification to the partner and registered it as lawful.

Decisions recorded under the tables of 2026-12-03 keep naming them and re-evaluate exactly as decided.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent import inbound
from services.consent.application import Actor, Consents, DecisionRequest, RecordedDecision
from services.consent.engine import evaluate
from services.consent.explain import explain
from services.consent.policy import AgeBand, Context, Decision, MinorRequest, ReasonCode
from services.consent.rules import CURRENT, CURRENT_VERSION, build_tables, table_for, version_of
from services.contract.codes import (
    GrantorRole,
    InfoCategory,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
    RequesterRole,
    ServiceCode,
)
from tests.consent.conftest import (
    DISCLOSER,
    RECIPIENT,
    SUBJECT,
    T0,
    agreement_event,
    consent_fact,
    decision_input,
    facts,
    on_behalf_agreement,
    organisation_event,
)
from tests.consent.test_api import _observe

I = InfoCategory  # noqa: E741 -- short alias keeps the cases readable
Auth = Callable[..., dict[str, str]]
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
VERSION_2026_12_03 = {LSSSS: "2026-12-03+2d93041dc9a0", LRSSS: "2026-12-03+88a7cac1c6aa"}
"""The versions decisions recorded under the tables of 2026-12-03 name: they must stay known, with these digests."""
ON_BEHALF = {LSSSS: "A-3", LRSSS: "B-10"}
RECORD = (I.PSYCHOSOCIAL_HISTORY, I.ASSESSMENT, I.HEALTH, I.INTERVENTION_PLAN)
TEEN_CONSENT = {"valid_until": T0 + timedelta(days=90), "given_at": T0 - timedelta(days=30)}


NOT_OBJECTING = MinorRequest(objects=False)


def _parent_asks(minor: MinorRequest = NOT_OBJECTING, **overrides: Any) -> Any:
    """The holder of parental authority asks for the minor's record (purpose USER_REQUESTED_TRANSFER)."""
    context = {"minor": minor, "requester_role": RequesterRole.PARENT}
    return decision_input(
        LRSSS, purpose=Purpose.USER_REQUESTED_TRANSFER, categories=RECORD, context=context, **overrides
    )


def _anonymous_on_behalf(regime: Regime, **overrides: Any) -> Any:
    """An anonymous caller referred to a partner providing CRISIS_24_7 on the discloser's behalf (art. 108)."""
    return decision_input(
        regime,
        purpose=Purpose.SERVICE_ON_BEHALF,
        recipient_service=ServiceCode.CRISIS_24_7,
        categories=(I.IDENTIFICATION, I.REFERRAL_REASON),
        context={"anonymous": True},
        **overrides,
    )


def _reasons(decision: Decision) -> list[tuple[ReasonCode, str | None, str | None]]:
    return [(r.code, r.route, r.detail) for r in decision.reasons]


# --- the tables of 2026-12-03 --------------------------------------------------------------------------------------


def test_the_2026_12_03_tables_keep_their_versions_and_stay_known() -> None:
    tables = build_tables(label="2026-12-03")
    assert {r: version_of(t) for r, t in tables.items()} == VERSION_2026_12_03
    for regime, version in VERSION_2026_12_03.items():
        assert table_for(regime, version) == tables[regime]
        assert not CURRENT_VERSION[regime].startswith("2026-12-03+")


def test_the_2026_12_03_tables_decide_both_cases_as_they_did() -> None:
    """What the review found, kept for the decisions recorded under them."""
    parent = evaluate(
        _parent_asks(regime_version=VERSION_2026_12_03[LRSSS]), facts(subject_age_band=AgeBand.MINOR_14_TO_17)
    )
    assert parent.outcome == Outcome.PERMIT and [b.route for b in parent.basis] == ["B-11"]
    for regime, route in ON_BEHALF.items():
        asked = _anonymous_on_behalf(regime, regime_version=VERSION_2026_12_03[regime])
        decision = evaluate(asked, facts(agreements=(on_behalf_agreement(),)))
        assert decision.outcome == Outcome.PERMIT and [b.route for b in decision.basis] == [route], regime


# --- B-11: a parent, a minor under 14 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minor",
    [MinorRequest(objects=False), MinorRequest(objects=True, harm_likely=False), MinorRequest(False, False, False)],
    ids=["not objecting", "objecting, no harm", "nothing found"],
)
def test_an_lrsss_parent_does_not_get_a_14_to_17_year_olds_record(minor: MinorRequest) -> None:
    decision = evaluate(_parent_asks(minor), facts(subject_age_band=AgeBand.MINOR_14_TO_17))
    assert decision.outcome == Outcome.DENY and decision.basis == ()
    assert _reasons(decision) == [
        (ReasonCode.NO_CONSENT, "B-1", None),  # the minor's own consent is what would serve
        (ReasonCode.SUBJECT_NOT_UNDER_14, "B-11", AgeBand.MINOR_14_TO_17),
    ]


@pytest.mark.parametrize(
    ("band", "minor", "outcome", "reason"),
    [
        (AgeBand.UNDER_14, MinorRequest(False, None, None), Outcome.PERMIT, None),
        (AgeBand.UNDER_14, MinorRequest(True, None, False), Outcome.PERMIT, None),
        (AgeBand.UNDER_14, MinorRequest(True, None, True), Outcome.DENY, ReasonCode.MINOR_ACCESS_REFUSED),
        (AgeBand.UNDER_14, MinorRequest(None, None, None), Outcome.DENY, ReasonCode.MINOR_CONDITION_NOT_STATED),
        (AgeBand.ADULT, MinorRequest(False, False, False), Outcome.DENY, ReasonCode.SUBJECT_NOT_MINOR),
        (None, MinorRequest(False, False, False), Outcome.DENY, ReasonCode.SUBJECT_AGE_UNKNOWN),
    ],
)
def test_under_14_an_lrsss_parents_request_is_decided_as_before(
    band: AgeBand | None, minor: MinorRequest, outcome: Outcome, reason: ReasonCode | None
) -> None:
    decision = evaluate(_parent_asks(minor), facts(subject_age_band=band))
    assert decision.outcome == outcome
    assert [r.code for r in decision.reasons if r.route == "B-11"] == ([reason] if reason else [])
    if outcome == Outcome.PERMIT:
        assert [b.route for b in decision.basis] == ["B-11"]


def test_from_14_the_teenagers_own_consent_gives_the_parent_the_record() -> None:
    """B-1: the minor of 14 or older consents themselves; a parent's consent for them no longer counts."""
    teen = consent_fact(
        grantor_role=GrantorRole.SELF,
        age_band_at_start=AgeBand.MINOR_14_TO_17,
        age_band_at_decision=AgeBand.MINOR_14_TO_17,
        age_band_when_given=AgeBand.MINOR_14_TO_17,
        purposes=(Purpose.USER_REQUESTED_TRANSFER,),
        categories=RECORD,
        **TEEN_CONSENT,
    )
    band = AgeBand.MINOR_14_TO_17
    consented = evaluate(_parent_asks(), facts(subject_age_band=band, consents=(teen,)))
    assert consented.outcome == Outcome.PERMIT
    assert [(b.route, b.consent_id) for b in consented.basis] == [("B-1", "c-1")]
    by_the_parent = dataclasses.replace(teen, grantor_role=GrantorRole.PARENT)
    refused = evaluate(_parent_asks(), facts(subject_age_band=band, consents=(by_the_parent,)))
    assert refused.outcome == Outcome.DENY
    assert (ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE, "B-1", "PARENT:MINOR_14_TO_17") in _reasons(refused)


def test_the_lssss_art_21_row_is_unchanged() -> None:
    """Art. 21 gives a parent the record of a minor of 14 or older unless the minor objects and harm is likely."""
    asked = dataclasses.replace(_parent_asks(), regime=LSSSS, regime_version=CURRENT_VERSION[LSSSS])
    decision = evaluate(asked, facts(subject_age_band=AgeBand.MINOR_14_TO_17))
    assert decision.outcome == Outcome.PERMIT and [b.route for b in decision.basis] == ["A-11"]
    assert "subject_under_14" not in CURRENT[LSSSS].route("A-11").requires


def test_the_refusal_is_explained_in_french_and_english() -> None:
    decision = evaluate(_parent_asks(), facts(subject_age_band=AgeBand.MINOR_14_TO_17))
    assert (
        "LRSSS s. 23 (minor under 14; to verify) : le mineur a 14 ans ou plus (MINOR_14_TO_17) : dès 14 ans, le "
        in (explain(decision))
    )
    assert "a parent receives their record only with the minor's own consent" in explain(decision, "en")


# --- art. 108: never for an anonymous caller -----------------------------------------------------------------------


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_an_anonymous_caller_is_not_referred_under_a_service_agreement(regime: Regime) -> None:
    decision = evaluate(_anonymous_on_behalf(regime), facts(agreements=(on_behalf_agreement(),)))
    assert decision.outcome == Outcome.DENY and decision.basis == ()
    assert _reasons(decision) == [(ReasonCode.ANONYMOUS_NO_CONSENT, "ANON", None)]
    identified = dataclasses.replace(_anonymous_on_behalf(regime), context=Context())
    allowed = evaluate(identified, facts(agreements=(on_behalf_agreement(),)))
    assert [b.route for b in allowed.basis] == [ON_BEHALF[regime]], "an identified person still is"


# --- over HTTP: the review's reproductions -------------------------------------------------------------------------

ASK_ANONYMOUS: dict[str, Any] = {
    "subject_id": SUBJECT,
    "discloser_org_id": DISCLOSER,
    "recipient_org_id": RECIPIENT,
    "purpose": "SERVICE_ON_BEHALF",
    "recipient_service": "CRISIS_24_7",
    "categories": ["IDENTIFICATION", "REFERRAL_REASON"],
    "context": {"anonymous": True},
}
ASK_PARENT: dict[str, Any] = {
    "subject_id": SUBJECT,
    "discloser_org_id": DISCLOSER,
    "recipient_org_id": RECIPIENT,
    "purpose": "USER_REQUESTED_TRANSFER",
    "subject_birth_date": "2010-03-01",  # 16 on T0
    "categories": ["PSYCHOSOCIAL_HISTORY", "ASSESSMENT", "HEALTH", "INTERVENTION_PLAN"],
    "context": {"requester_role": "PARENT", "minor": {"objects": False}},
}


@pytest.mark.parametrize("regime", ["LSSSS_17_27_3", "BY_DATE"])
def test_an_anonymous_callers_referral_on_the_disclosers_behalf_is_refused_and_not_registered(
    consent_api: Callable[..., TestClient], auth: Auth, regime: str
) -> None:
    api = consent_api(regime=regime)
    _observe(
        api,
        organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
        organisation_event(RECIPIENT, OrgKind.ESTABLISHMENT, T0 - timedelta(days=90)),
        agreement_event("activated", T0 - timedelta(days=30)),
    )
    intake = auth(DISCLOSER, "intake")
    body = api.post("/v1/disclosures", json=ASK_ANONYMOUS, headers=intake).json()
    assert (body["outcome"], body["permitted_categories"], body["register_entry_id"]) == ("DENY", [], None)
    assert [(r["code"], r["route"]) for r in body["reasons"]] == [("ANONYMOUS_NO_CONSENT", "ANON")]
    assert api.get("/v1/register", headers=auth(DISCLOSER, "auditor")).json()["items"] == []


def test_an_lrsss_parent_asking_for_a_16_year_olds_record_is_refused(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api(regime="BY_DATE")  # 2026: the LRSSS applies
    _observe(
        api,
        organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
        organisation_event(RECIPIENT, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90)),
    )
    intake = {**auth(DISCLOSER, "intake"), "Accept-Language": "en"}
    for context in ({"objects": False}, {"objects": True, "harm_likely": False}):
        ask = {**ASK_PARENT, "context": {**ASK_PARENT["context"], "minor": context}}
        body = api.post("/v1/disclosures", json=ask, headers=intake).json()
        assert (body["regime"], body["outcome"], body["register_entry_id"]) == ("LRSSS", "DENY", None)
        assert [(r["code"], r["route"], r["detail"]) for r in body["reasons"]] == [
            ("NO_CONSENT", "B-1", None),
            ("SUBJECT_NOT_UNDER_14", "B-11", "MINOR_14_TO_17"),
        ]
        assert "from 14 the minor decides" in body["explanation"]


# --- decisions recorded under the tables of 2026-12-03 --------------------------------------------------------------


def _consents(store: str, regime_setting: str) -> Consents:
    return Consents(env=persistence_env(store), clock=ManualClock(T0), regime_setting=regime_setting)


def _requests() -> list[DecisionRequest]:
    """The review's two disclosures: an anonymous caller on the discloser's behalf, a parent asking for a 16-year-old's
    record."""
    anonymous = DecisionRequest(
        SUBJECT,
        DISCLOSER,
        RECIPIENT,
        Purpose.SERVICE_ON_BEHALF,
        (I.IDENTIFICATION, I.REFERRAL_REASON),
        context=Context(anonymous=True),
        recipient_service=ServiceCode.CRISIS_24_7,
    )
    parent = DecisionRequest(
        SUBJECT,
        DISCLOSER,
        RECIPIENT,
        Purpose.USER_REQUESTED_TRANSFER,
        RECORD,
        context=Context(requester_role=RequesterRole.PARENT, minor=MinorRequest(objects=False)),
        subject_birth_date=date(2010, 3, 1),
    )
    return [anonymous, parent]


@pytest.fixture(params=["LSSSS_17_27_3", "BY_DATE"])
def recorded_2026_12_03(request: pytest.FixtureRequest, tmp_path: Any) -> tuple[str, str, list[RecordedDecision]]:
    """A service as it ran under the tables of 2026-12-03 makes both disclosures (the LSSSS pinned, or the LRSSS by
    date)."""
    store = f"sqlite:///{tmp_path / 'consent.db'}"
    with _consents(store, request.param) as app:
        app.versions = dict(VERSION_2026_12_03)
        handle = inbound.handler(app)
        observed = (
            organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
            organisation_event(RECIPIENT, OrgKind.ESTABLISHMENT, T0 - timedelta(days=90)),
            agreement_event("activated", T0 - timedelta(days=30)),
        )
        for offset, event in enumerate(observed, start=1):
            handle(event, Tracking("agreements#0", offset))
        answers = [app.disclose(r, Actor("worker-1", DISCLOSER))[0] for r in _requests()]
    return request.param, store, answers


def test_decisions_recorded_under_the_2026_12_03_tables_reevaluate_identically(
    recorded_2026_12_03: tuple[str, str, list[RecordedDecision]],
) -> None:
    setting, store, answers = recorded_2026_12_03
    regime = LSSSS if setting == "LSSSS_17_27_3" else LRSSS
    assert [(a.decision.outcome, a.register_entry_id is not None) for a in answers] == [(Outcome.PERMIT, True)] * 2
    with _consents(store, setting) as app:
        for answer in answers:
            recorded, again = app.reevaluate(answer.decision_id)
            assert recorded.input.regime_version == VERSION_2026_12_03[regime]
            assert again == recorded.decision == answer.decision
        now = [app.decide(r, Actor("worker-1", DISCLOSER))[0].decision for r in _requests()]
    assert all(d.regime_version == CURRENT_VERSION[regime] for d in now)
    assert now[0].outcome == Outcome.DENY, "the anonymous caller, in both regimes"
    assert now[1].outcome == (Outcome.PERMIT if regime == LSSSS else Outcome.DENY), "art. 21 is unchanged"
