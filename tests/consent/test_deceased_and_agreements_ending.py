"""The legal review of 2026-12-05 (rule tables 2026-12-05):
- art. 23 (A-13, B-13): heirs receive what their rights as heirs require, never the cause of death (the relatives'
  row gives it, with its written-refusal check); a written refusal bars the rows of the relationships it names;
- art. 108 (A-3, B-10): services on the institution's behalf end with the person, and an agreement that ends between a
  disclosure's `at` and its recording no longer carries it (as a consent withdrawn in between, 2026-12-03);
- the parties' kinds are read at both moments too: a kind that changed in between is not known.
The tables of 2026-12-04 stay, unchanged, for the decisions recorded under them.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent import inbound
from services.consent.application import Actor, Consents, DecisionRequest, RecordedDecision, RefusalTerms
from services.consent.engine import evaluate
from services.consent.explain import explain
from services.consent.policy import Context, Decision, DecisionInput, ReasonCode, RefusalFact
from services.consent.rules import CURRENT_VERSION, build_tables, table_for, version_of
from services.consent.views import RegisterQuery
from services.contract.codes import (
    AgreementStatus,
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
    decision_input,
    facts,
    on_behalf_agreement,
    organisation_event,
)
from tests.consent.test_engine_routes import DIED, ROUTES, deceased

I = InfoCategory  # noqa: E741 -- short alias keeps the cases readable
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
VERSION_2026_12_04 = {LSSSS: "2026-12-04+58559a888904", LRSSS: "2026-12-04+7d72af6cc031"}
"""The versions decisions recorded under the tables of 2026-12-04 name: they must stay known, with these digests."""
ON_BEHALF = {LSSSS: "A-3", LRSSS: "B-10"}
ASKED = (I.CAUSE_OF_DEATH, I.PSYCHOSOCIAL_HISTORY, I.RISK_ASSESSMENT)
REFUSAL = RefusalFact("rf-1", (RequesterRole.SPOUSE, RequesterRole.HEIR), T0 - timedelta(days=400), None)
"""The deceased refused in writing, long before dying, that the spouse and the heirs be informed."""
WITHDRAWN_IN_LIFE = T0 - timedelta(days=100)
"""Before `DIED`: a refusal withdrawn then no longer stood at the death."""
ART_23_ROWS = [route_id for route_id in ROUTES if route_id.split("/")[0] in ("A-13", "B-13")]
DISCLOSED = {"at": T0 - timedelta(minutes=3), "disclosed_at": T0}
"""A disclosure dated 3 minutes back (accepted: up to 5) and recorded now."""


def _asks(regime: Regime, role: RequesterRole, **overrides: Any) -> DecisionInput:
    """Someone art. 23 names asks for the record of the person who died on `DIED`."""
    return decision_input(regime, **deceased(role, ASKED), **overrides)


def _on_behalf(regime: Regime, **overrides: Any) -> DecisionInput:
    """A referral to a partner providing CRISIS_24_7 on the discloser's behalf (art. 108)."""
    return decision_input(
        regime,
        purpose=Purpose.SERVICE_ON_BEHALF,
        recipient_service=ServiceCode.CRISIS_24_7,
        categories=(I.IDENTIFICATION, I.REFERRAL_REASON),
        **overrides,
    )


def _reasons(decision: Decision, route: str) -> list[tuple[ReasonCode, str | None]]:
    return [(r.code, r.detail) for r in decision.reasons if r.route == route]


TERMINATED = on_behalf_agreement(status=AgreementStatus.TERMINATED, state_since=T0 - timedelta(minutes=1))
"""The agreement of `on_behalf_agreement()`, terminated a minute ago."""


# --- the tables of 2026-12-04 ----------------------------------------------------------------------------------------


def test_the_2026_12_04_tables_keep_their_versions_and_stay_known() -> None:
    tables = build_tables(label="2026-12-04")
    assert {r: version_of(t) for r, t in tables.items()} == VERSION_2026_12_04
    for regime, version in VERSION_2026_12_04.items():
        assert table_for(regime, version) == tables[regime]
        assert CURRENT_VERSION[regime].startswith("2026-12-05+")


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_the_2026_12_04_tables_decide_the_reviews_cases_as_they_did(regime: Regime) -> None:
    """What the review found, kept for the decisions recorded under them."""
    version = VERSION_2026_12_04[regime]
    heir = evaluate(_asks(regime, RequesterRole.HEIR, regime_version=version), facts(refusals=(REFUSAL,)))
    assert heir.outcome == Outcome.PERMIT and I.CAUSE_OF_DEATH in heir.permitted_categories
    after_death = evaluate(
        _on_behalf(regime, regime_version=version, context={"subject_deceased_on": DIED}),
        facts(agreements=(on_behalf_agreement(),)),
    )
    assert [b.route for b in after_death.basis] == [ON_BEHALF[regime]]
    ended = evaluate(
        _on_behalf(regime, regime_version=version, **DISCLOSED),
        facts(agreements=(on_behalf_agreement(),), agreements_when_disclosed=(TERMINATED,)),
    )
    assert [b.route for b in ended.basis] == [ON_BEHALF[regime]]


# --- art. 23: heirs and written refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_heirs_never_receive_the_cause_of_death(regime: Regime) -> None:
    decision = evaluate(_asks(regime, RequesterRole.HEIR), facts())
    assert decision.outcome == Outcome.PERMIT_PARTIAL
    assert decision.permitted_categories == (I.RISK_ASSESSMENT, I.PSYCHOSOCIAL_HISTORY), "their rights as heirs"
    assert decision.denied_categories == (I.CAUSE_OF_DEATH,)
    heirs = f"{'A-13' if regime == LSSSS else 'B-13'}/heirs"
    assert [(r.code, r.categories) for r in decision.reasons if r.route == heirs] == [
        (ReasonCode.CATEGORY_NOT_COVERED, (I.CAUSE_OF_DEATH,))
    ]


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_a_spouse_refused_in_writing_gets_nothing_by_asking_as_heir(regime: Regime) -> None:
    """The review's case: the refusal names the spouse and the heirs; the spouse, who is the heir, asks as HEIR."""
    for role in (RequesterRole.SPOUSE, RequesterRole.HEIR):
        decision = evaluate(_asks(regime, role), facts(refusals=(REFUSAL,), recipient_kind=OrgKind.CSSS))
        assert decision.outcome == Outcome.DENY and decision.basis == (), role
        assert (ReasonCode.WRITTEN_REFUSAL_ON_FILE, "rf-1") in [(r.code, r.detail) for r in decision.reasons], role


@pytest.mark.parametrize("route_id", ART_23_ROWS)
def test_a_written_refusal_bars_the_rows_of_the_relationships_it_names(route_id: str) -> None:
    """Each art. 23 row (relatives, parent, heirs, blood relatives) reads a refusal naming its role, and only it."""
    case = ROUTES[route_id]
    asked = decision_input(case.regime, **case.request)
    role = asked.context.requester_role
    assert role is not None
    naming = dataclasses.replace(REFUSAL, requester_roles=(role,))
    refused = evaluate(asked, dataclasses.replace(case.facts, refusals=(naming,)))
    assert refused.outcome == Outcome.DENY
    assert _reasons(refused, route_id) == [(ReasonCode.WRITTEN_REFUSAL_ON_FILE, "rf-1")]
    others = dataclasses.replace(REFUSAL, requester_roles=tuple(r for r in RequesterRole if r != role))
    withdrawn_in_life = dataclasses.replace(naming, withdrawn_at=WITHDRAWN_IN_LIFE)
    for refusals in ((others,), (withdrawn_in_life,)):
        decision = evaluate(asked, dataclasses.replace(case.facts, refusals=refusals))
        assert [b.route for b in decision.basis] == [route_id] and decision.permitted_categories == case.permitted


# --- art. 108: while the person lives, and while the agreement is in force -------------------------------------------


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_services_on_the_disclosers_behalf_end_with_the_person(regime: Regime) -> None:
    agreement = facts(agreements=(on_behalf_agreement(),))
    dead = evaluate(_on_behalf(regime, context={"subject_deceased_on": DIED}), agreement)
    assert dead.outcome == Outcome.DENY and dead.basis == ()
    assert _reasons(dead, ON_BEHALF[regime]) == [(ReasonCode.SUBJECT_DECEASED, DIED.isoformat())]
    alive = evaluate(_on_behalf(regime, context={"subject_deceased_on": T0.date() + timedelta(days=1)}), agreement)
    assert [b.route for b in alive.basis] == [ON_BEHALF[regime]], "the day before the death"


def test_the_death_is_explained_for_the_service_agreement_in_french_and_english() -> None:
    dead = evaluate(
        _on_behalf(LSSSS, context={"subject_deceased_on": DIED}), facts(agreements=(on_behalf_agreement(),))
    )
    assert "la personne est décédée (2026-11-15) : ce qui la servait de son vivant" in explain(dead)
    assert "services provided on an institution's behalf) no longer releases anything" in explain(dead, "en")


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_an_agreement_terminated_before_the_disclosure_is_recorded_carries_nothing(regime: Regime) -> None:
    disclosure = _on_behalf(regime, **DISCLOSED)
    ended = evaluate(disclosure, facts(agreements=(on_behalf_agreement(),), agreements_when_disclosed=(TERMINATED,)))
    assert ended.outcome == Outcome.DENY and ended.basis == ()
    assert _reasons(ended, ON_BEHALF[regime]) == [(ReasonCode.AGREEMENT_NOT_IN_FORCE, AgreementStatus.TERMINATED)]
    in_force = facts(agreements=(on_behalf_agreement(),), agreements_when_disclosed=(on_behalf_agreement(),))
    assert [b.route for b in evaluate(disclosure, in_force).basis] == [ON_BEHALF[regime]]
    unknown = evaluate(disclosure, facts(agreements=(on_behalf_agreement(),)))
    assert _reasons(unknown, ON_BEHALF[regime]) == [(ReasonCode.AGREEMENT_NOT_IN_FORCE, None)], "not shown in force"
    as_of_then = dataclasses.replace(disclosure, disclosed_at=None)  # a decision: judged at `at` alone
    decided = evaluate(as_of_then, facts(agreements=(on_behalf_agreement(),), agreements_when_disclosed=(TERMINATED,)))
    assert [b.route for b in decided.basis] == [ON_BEHALF[regime]]


# --- through the service: what the facts of a disclosure read --------------------------------------------------------


def _consents(store: str = "memory://") -> Consents:
    """The service as it runs by default (BY_DATE: the LRSSS in 2026)."""
    return Consents(env=persistence_env(store), clock=ManualClock(T0), regime_setting="BY_DATE")


def _observe(app: Consents, *later: Any) -> None:
    """A CSSS and a community organisation, under a service agreement since 30 days, then `later` events."""
    observed = (
        organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
        organisation_event(RECIPIENT, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90)),
        agreement_event("activated", T0 - timedelta(days=30)),
        *later,
    )
    for offset, event in enumerate(observed, start=1):
        inbound.handler(app)(event, Tracking("rls.agreements.v1#0", offset))


TERMINATION = agreement_event("terminated", T0 - timedelta(minutes=1), status=AgreementStatus.TERMINATED)
ASK_ON_BEHALF = DecisionRequest(
    SUBJECT,
    DISCLOSER,
    RECIPIENT,
    Purpose.SERVICE_ON_BEHALF,
    (I.IDENTIFICATION, I.REFERRAL_REASON),
    at=T0 - timedelta(minutes=3),
    recipient_service=ServiceCode.CRISIS_24_7,
)
WORKER = Actor("w-1", DISCLOSER)


def test_a_disclosure_after_the_agreement_was_terminated_is_refused_and_not_registered() -> None:
    """The review's reproduction: terminated a minute ago, a disclosure dated 3 minutes back."""
    with _consents() as app:
        _observe(app, TERMINATION)
        recorded, _ = app.disclose(ASK_ON_BEHALF, WORKER)
        assert (recorded.decision.outcome, recorded.register_entry_id) == (Outcome.DENY, None)
        assert _reasons(recorded.decision, "B-10") == [(ReasonCode.AGREEMENT_NOT_IN_FORCE, AgreementStatus.TERMINATED)]
        assert [a.status for a in recorded.facts.agreements] == [AgreementStatus.ACTIVE]
        assert [a.status for a in recorded.facts.agreements_when_disclosed] == [AgreementStatus.TERMINATED]
        assert app.register_entries(RegisterQuery())[0] == []
        assert app.reevaluate(recorded.decision_id)[1] == recorded.decision
        then, _ = app.decide(ASK_ON_BEHALF, WORKER)  # "was it permitted then?": yes, and nothing leaves
        assert then.decision.outcome == Outcome.PERMIT and then.facts.agreements_when_disclosed == ()


def test_a_disclosure_dated_ahead_of_the_clock_reads_the_agreement_as_it_stands_at_its_at() -> None:
    """A disclosure's `at` may be a little ahead of the service's clock (`CLOCK_SKEW`): the agreements are read up to
    the later of `at` and the recording, so a termination dated in between (the agreements service's clock a few
    seconds ahead) is not dropped from both readings — it was, and the disclosure was permitted and registered."""
    termination = agreement_event("terminated", T0 + timedelta(seconds=10), status=AgreementStatus.TERMINATED)
    ahead = dataclasses.replace(ASK_ON_BEHALF, at=T0 + timedelta(seconds=20))
    with _consents() as app:
        _observe(app, termination)
        recorded, _ = app.disclose(ahead, WORKER)
        decided, _ = app.decide(ahead, WORKER)
    assert (recorded.decision.outcome, recorded.register_entry_id) == (Outcome.DENY, None)
    assert [a.status for a in recorded.facts.agreements] == [AgreementStatus.TERMINATED]
    assert decided.decision.outcome == Outcome.DENY


def test_a_disclosers_kind_that_changed_before_the_disclosure_is_recorded_is_not_known() -> None:
    """The CSSS became a community organisation a minute ago: an institution's route is not the one it discloses
    under when the information leaves."""
    with _consents() as app:
        _observe(app, organisation_event(DISCLOSER, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(minutes=1)))
        recorded, _ = app.disclose(ASK_ON_BEHALF, WORKER)
        assert recorded.decision.outcome == Outcome.DENY and recorded.facts.discloser_kind is None
        assert _reasons(recorded.decision, "B-10") == [(ReasonCode.DISCLOSER_KIND_UNKNOWN, None)]
        then, _ = app.decide(ASK_ON_BEHALF, WORKER)
        assert then.decision.outcome == Outcome.PERMIT and then.facts.discloser_kind == OrgKind.CSSS


# --- decisions recorded under the tables of 2026-12-04 ---------------------------------------------------------------


def _requests() -> list[DecisionRequest]:
    """The review's three disclosures: the agreement terminated in between; a deceased person's record under it; the
    spouse refused in writing asking as heir (the LRSSS applies: B-10, B-13)."""
    dead = dataclasses.replace(ASK_ON_BEHALF, context=Context(subject_deceased_on=DIED))
    heir = DecisionRequest(
        SUBJECT,
        DISCLOSER,
        RECIPIENT,
        Purpose.USER_REQUESTED_TRANSFER,
        ASKED,
        context=Context(subject_deceased_on=DIED, requester_role=RequesterRole.HEIR),
    )
    return [ASK_ON_BEHALF, dead, heir]


@pytest.fixture
def recorded_2026_12_04(tmp_path: Any) -> tuple[str, list[RecordedDecision]]:
    """A service as it ran under the tables of 2026-12-04 makes the three disclosures."""
    store = f"sqlite:///{tmp_path / 'consent.db'}"
    with _consents(store) as app:
        app.versions = dict(VERSION_2026_12_04)
        _observe(app, TERMINATION)
        app.record_refusal(RefusalTerms(SUBJECT, ("SPOUSE", "HEIR"), T0 - timedelta(days=400), "DOC-1"), WORKER)
        answers = [app.disclose(r, WORKER)[0] for r in _requests()]
    return store, answers


def test_decisions_recorded_under_the_2026_12_04_tables_reevaluate_identically(
    recorded_2026_12_04: tuple[str, list[RecordedDecision]],
) -> None:
    store, answers = recorded_2026_12_04
    assert [(a.decision.outcome, a.register_entry_id is not None) for a in answers] == [(Outcome.PERMIT, True)] * 3
    with _consents(store) as app:
        for answer in answers:
            recorded, again = app.reevaluate(answer.decision_id)
            assert recorded.input.regime_version == VERSION_2026_12_04[LRSSS]
            assert again == recorded.decision == answer.decision
        now = [app.disclose(r, WORKER)[0].decision for r in _requests()]
    assert all(d.regime_version == CURRENT_VERSION[LRSSS] for d in now)
    assert [d.outcome for d in now] == [Outcome.DENY] * 3
