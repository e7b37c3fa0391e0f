"""Decisions recorded under the rule tables of 2026-11-30 re-evaluate exactly as they were decided.

The legal review of 2026-12-01 corrected those tables (art. 21 without its parent, art. 23 for any purpose, art. 24
after death, the art. 108 citation): the current tables (2026-12-01) are the same tables with those rows changed.
The tables of 2026-11-30 stay built (`build_tables(label="2026-11-30")`) and known under every legal setting, with
the versions decisions name; what they permitted, an auditor must still find they permitted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent import inbound
from services.consent.application import Actor, Consents, DecisionRequest
from services.consent.domain import ConsentTermsInvalidError
from services.consent.engine import evaluate
from services.consent.policy import AgeBand, Context, Decision, LegalSettings, MinorRequest, ReasonCode
from services.consent.rules import CURRENT_VERSION, LABEL, build_tables, table_for, version_of
from services.contract.codes import InfoCategory, OrgKind, Outcome, Purpose, Regime, RequesterRole
from tests.consent.conftest import (
    DISCLOSER,
    RECIPIENT,
    SUBJECT,
    T0,
    decision_input,
    facts,
    open_consents,
    organisation_event,
)

I = InfoCategory  # noqa: E741 -- short alias keeps the cases readable
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
ALL = tuple(InfoCategory)
DIED = date(2026, 11, 15)

VERSION_2026_11_30 = {
    LSSSS: "2026-11-30+9ee6fa846375",
    LRSSS: "2026-11-30+381b6cbf4fa4",
}
"""The versions decisions recorded from 2026-11-30 to the correction name: they must stay known, with these digests."""

MINOR = {"minor": MinorRequest(youth_protection_intervention=False, objects=None, harm_likely=None)}
CASES: list[tuple[str, Regime, dict[str, Any], dict[str, Any], str, ReasonCode]] = [
    (
        "1: a minor's record, nobody asking, referred to a community organisation",
        LSSSS,
        {"purpose": Purpose.REFERRAL, "categories": ALL, "context": MINOR},
        {"subject_age_band": AgeBand.UNDER_14, "recipient_kind": OrgKind.COMMUNITY_ORGANISATION},
        "A-11",
        ReasonCode.NO_CONSENT,  # A-11 is not even considered without a parent asking: only a consent could serve
    ),
    (
        "1: the same under the LRSSS",
        LRSSS,
        {"purpose": Purpose.REFERRAL, "categories": ALL, "context": MINOR},
        {"subject_age_band": AgeBand.UNDER_14, "recipient_kind": OrgKind.COMMUNITY_ORGANISATION},
        "B-11",
        ReasonCode.NO_CONSENT,
    ),
    (
        "2: an heir's request used for research",
        LSSSS,
        {
            "purpose": Purpose.RESEARCH,
            "categories": (I.HEALTH, I.PSYCHOSOCIAL_HISTORY, I.ASSESSMENT),
            "context": {"subject_deceased_on": DIED, "requester_role": RequesterRole.HEIR},
        },
        {},
        "A-13/heirs",
        ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE,
    ),
    (
        "3: the user's own transfer request, after death, with the cause of death",
        LSSSS,
        {
            "purpose": Purpose.USER_REQUESTED_TRANSFER,
            "categories": (I.IDENTIFICATION, I.HEALTH, I.CAUSE_OF_DEATH),
            "context": {"user_request": True, "subject_deceased_on": DIED},
        },
        {"recipient_kind": OrgKind.PROFESSIONAL},
        "A-2",
        ReasonCode.SUBJECT_DECEASED,
    ),
]


def _decide(version: dict[Regime, str], regime: Regime, request: dict[str, Any], known: dict[str, Any]) -> Decision:
    return evaluate(decision_input(regime, regime_version=version[regime], **request), facts(**known))


def test_the_2026_11_30_tables_keep_their_versions_under_every_legal_setting() -> None:
    assert {r: version_of(t) for r, t in build_tables(label="2026-11-30").items()} == VERSION_2026_11_30
    for regime, version in VERSION_2026_11_30.items():
        assert table_for(regime, version).label == "2026-11-30"
        assert CURRENT_VERSION[regime].startswith(f"{LABEL}+")
    legal = LegalSettings(danger_amendment=date(2017, 6, 9), disabled_routes=frozenset({"A-11", "B-10"}))
    with Consents(env=persistence_env("memory://"), clock=ManualClock(T0), legal=legal) as app:
        for regime, table in build_tables(legal, label="2026-11-30").items():
            assert table_for(regime, version_of(table)) == table, "known to a deployment with these settings"
            assert app.versions[regime] == version_of(build_tables(legal)[regime])
            assert app.versions[regime] != version_of(table)


@pytest.mark.parametrize(("case", "regime", "request_", "known", "route", "reason"), CASES, ids=[c[0] for c in CASES])
def test_what_the_2026_11_30_tables_permitted_they_still_permit_and_the_current_tables_deny(
    case: str, regime: Regime, request_: dict[str, Any], known: dict[str, Any], route: str, reason: ReasonCode
) -> None:
    then = _decide(VERSION_2026_11_30, regime, request_, known)
    assert then.outcome in (Outcome.PERMIT, Outcome.PERMIT_PARTIAL)
    assert [b.route for b in then.basis] == [route]
    now = _decide(CURRENT_VERSION, regime, request_, known)
    assert now.outcome == Outcome.DENY
    assert reason in [r.code for r in now.reasons]


def test_the_2026_11_30_tables_released_the_cause_of_death_of_a_living_minor() -> None:
    """Frozen as it was: a bare `minor` context opened every category but the sensitive ones, cause of death
    included (the current table releases a living person's general categories only, and only to a parent)."""
    then = _decide(
        VERSION_2026_11_30,
        LSSSS,
        {"categories": (I.CAUSE_OF_DEATH,), "context": MINOR},
        {"subject_age_band": AgeBand.UNDER_14},
    )
    assert then.outcome == Outcome.PERMIT and then.permitted_categories == (I.CAUSE_OF_DEATH,)


@pytest.fixture
def store(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'consent.db'}"


@pytest.fixture
def recorded_2026_11_30(store: str) -> Iterator[tuple[str, Any]]:
    """A service as it ran on 2026-11-30 (its tables the current ones) records a parent's request about a minor,
    sent for a referral: the tables of that day permitted it."""
    with open_consents(store) as app:
        app.versions = dict(VERSION_2026_11_30)
        handle = inbound.handler(app)
        handle(organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=9)), Tracking("a#0", 1))
        handle(
            organisation_event(RECIPIENT, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=9)), Tracking("a#0", 2)
        )
        request = DecisionRequest(
            subject_id=SUBJECT,
            discloser_org_id=DISCLOSER,
            recipient_org_id=RECIPIENT,
            purpose=Purpose.REFERRAL,
            categories=(I.IDENTIFICATION, I.REFERRAL_REASON, I.HEALTH),
            subject_birth_date=date(2015, 3, 1),
            context=Context(
                minor=MinorRequest(youth_protection_intervention=False), requester_role=RequesterRole.PARENT
            ),
        )
        answer, _ = app.disclose(request, Actor("worker-1", DISCLOSER))
        yield store, (answer, request)


def test_a_decision_recorded_under_the_2026_11_30_table_reevaluates_identically(
    recorded_2026_11_30: tuple[str, Any],
) -> None:
    store, (answer, request) = recorded_2026_11_30
    assert answer.decision.outcome == Outcome.PERMIT and [b.route for b in answer.decision.basis] == ["A-11"]
    with open_consents(store) as app:
        recorded, again = app.reevaluate(answer.decision_id)
        assert recorded.input.regime_version == VERSION_2026_11_30[LSSSS]
        assert again == recorded.decision == answer.decision
        today = dataclasses.replace(recorded.input, regime_version=app.versions[LSSSS])
        now = evaluate(today, recorded.facts)
        assert now.outcome == Outcome.DENY, "the current table: a parent asks for the record, not for a referral"
        assert (ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE, "A-11") in [(r.code, r.route) for r in now.reasons]
        bare = dataclasses.replace(request, context=Context(minor=MinorRequest(youth_protection_intervention=False)))
        with pytest.raises(ConsentTermsInvalidError, match="requester_role"):
            app.disclose(bare, Actor("worker-1", DISCLOSER))
