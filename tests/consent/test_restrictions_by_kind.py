"""A restriction naming kinds of recipient (LRSSS s. 7, rule B-3) bars a recipient whose kind the directory does not
(yet) know: nothing says it is not of a restricted kind, and the default is deny. The restriction stays among the
decision's facts, so that re-evaluating it gives the same answer; decisions recorded before this rule (their
restriction facts without `bars_unknown_kind`) re-evaluate as they were decided."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from eventsourcing.persistence import Tracking

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent import inbound
from services.consent.application import Actor, Consents, RestrictionTerms
from services.consent.engine import evaluate
from services.consent.policy import Facts, ReasonCode, from_json, to_json
from services.contract.codes import InfoCategory, OrgKind, Outcome, Regime
from tests.consent.conftest import (
    DISCLOSER,
    RECIPIENT,
    SUBJECT,
    T0,
    consent_fact,
    decision_input,
    facts,
    organisation_event,
    restriction_fact,
)
from tests.consent.test_application import WORKER, request, terms

HEALTH = (InfoCategory.HEALTH,)
RESTRICTS_COMMUNITY = RestrictionTerms(
    subject_id=SUBJECT,
    recipient_org_ids=(),
    recipient_kinds=(OrgKind.COMMUNITY_ORGANISATION.value,),
    purposes=(),
    categories=(InfoCategory.HEALTH.value,),
    valid_from=T0 - timedelta(days=5),
)


@pytest.fixture
def lrsss(store_url: str) -> Iterator[Callable[[OrgKind | None], Consents]]:
    """`lrsss(recipient_kind)`: the service under the LRSSS, the discloser a CSSS, the recipient of that kind in the
    directory (None: not in it), a consent naming the recipient for HEALTH and a restriction of HEALTH to community
    organisations, lodged with the discloser (a restriction binds the record of the organisation holding it)."""
    apps: list[Consents] = []

    def make(recipient_kind: OrgKind | None) -> Consents:
        app = Consents(env=persistence_env(store_url), clock=ManualClock(T0), regime_setting="LRSSS")
        apps.append(app)
        events = [organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=900))]
        if recipient_kind is not None:
            events.append(organisation_event(RECIPIENT, recipient_kind, T0 - timedelta(days=900)))
        for offset, event in enumerate(events, start=1):
            inbound.handler(app)(event, Tracking("rls.agreements.v1#0", offset))
        app.record_consent(terms(categories=("IDENTIFICATION", "HEALTH"), valid_until=T0 + timedelta(days=90)), WORKER)
        app.record_restriction(RESTRICTS_COMMUNITY, Actor(sub="worker-3", org=DISCLOSER))
        return app

    yield make
    for app in apps:
        app.close()


def test_a_restriction_by_kind_bars_a_recipient_of_that_kind(lrsss: Callable[[OrgKind | None], Consents]) -> None:
    recorded, _ = lrsss(OrgKind.COMMUNITY_ORGANISATION).disclose(request(categories=HEALTH), WORKER)
    assert recorded.decision.outcome == Outcome.DENY


def test_a_restriction_by_kind_bars_a_recipient_whose_kind_is_unknown(
    lrsss: Callable[[OrgKind | None], Consents],
) -> None:
    app = lrsss(None)
    recorded, _ = app.disclose(request(categories=HEALTH), WORKER)
    assert recorded.facts.recipient_kind is None
    [restriction] = recorded.facts.restrictions
    assert restriction.recipient_kinds == (OrgKind.COMMUNITY_ORGANISATION,) and restriction.bars_unknown_kind
    assert app.holders([restriction.restriction_id, "unknown"]) == {restriction.restriction_id: DISCLOSER}
    assert recorded.decision.outcome == Outcome.DENY and recorded.register_entry_id is None
    assert ReasonCode.SUBJECT_RESTRICTION in [r.code for r in recorded.decision.reasons]
    again, reevaluated = app.reevaluate(recorded.decision_id)
    assert reevaluated == again.decision == recorded.decision
    unrestricted, _ = app.decide(request(categories=(InfoCategory.IDENTIFICATION,)), WORKER)
    assert unrestricted.decision.outcome == Outcome.PERMIT, "only what the restriction describes is denied"


def test_a_restriction_by_kind_leaves_a_recipient_of_another_kind_alone(
    lrsss: Callable[[OrgKind | None], Consents],
) -> None:
    recorded, _ = lrsss(OrgKind.ESTABLISHMENT).disclose(request(categories=HEALTH), WORKER)
    assert recorded.facts.restrictions == () and recorded.decision.outcome == Outcome.PERMIT


def test_a_decision_recorded_before_the_rule_reevaluates_as_decided() -> None:
    """Its restriction facts carry no `bars_unknown_kind`: the engine reads them as they were read then."""
    restriction = restriction_fact(recipient_org_ids=(), recipient_kinds=(OrgKind.COMMUNITY_ORGANISATION,))
    known = facts(
        recipient_kind=None,
        consents=(
            consent_fact(categories=HEALTH, valid_until=T0 + timedelta(days=90), given_at=T0 - timedelta(days=30)),
        ),
        restrictions=(restriction,),
    )
    stored = to_json(known)
    del stored["restrictions"][0]["bars_unknown_kind"]
    ask = decision_input(Regime.LRSSS, categories=HEALTH)
    assert evaluate(ask, from_json(Facts, stored)).outcome == Outcome.PERMIT
    now = dataclasses.replace(known, restrictions=(dataclasses.replace(restriction, bars_unknown_kind=True),))
    assert evaluate(ask, now).outcome == Outcome.DENY
