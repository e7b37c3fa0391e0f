"""Properties of the decision engine over generated requests and histories (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.consent.engine import evaluate
from services.consent.policy import (
    SENSITIVE,
    AgeBand,
    AgreementFact,
    ComplaintBody,
    ConsentFact,
    Context,
    Decision,
    DecisionInput,
    Facts,
    RestrictionFact,
    from_json,
    to_json,
)
from services.consent.rules import CURRENT_VERSION
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    ConsentMethod,
    GrantorRole,
    InfoCategory,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
)
from tests.consent.conftest import DISCLOSER, RECIPIENT, T0

ORGS = (RECIPIENT, "org-gamma", "org-delta")
offsets = st.integers(min_value=-400, max_value=400).map(lambda days: T0 + timedelta(days=days, hours=days % 7))
past = st.integers(min_value=-400, max_value=30).map(lambda days: T0 + timedelta(days=days, hours=days % 7))
maybe_moment = st.one_of(st.none(), st.none(), offsets)
categories = st.lists(st.sampled_from(list(InfoCategory)), min_size=1, max_size=4, unique=True).map(tuple)


def mostly(common: object, everything: list[object]) -> st.SearchStrategy[object]:
    """Draws `common` about half the time (so that generated histories do permit things), else anything."""
    return st.sampled_from([common] * len(everything) + everything)


purposes = st.lists(mostly(Purpose.REFERRAL, list(Purpose)), min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def consent_facts(draw: st.DrawFn, consent_id: str | None = None) -> ConsentFact:
    valid_from = draw(past)
    band = draw(mostly(AgeBand.ADULT, list(AgeBand)))
    return ConsentFact(
        consent_id=consent_id or draw(st.sampled_from(["c-1", "c-2", "c-3", "c-4"])),
        grantor_role=draw(mostly(GrantorRole.SELF, list(GrantorRole))),
        grantor_scope=draw(st.one_of(st.none(), st.none(), purposes)),
        age_band_at_start=band,
        age_band_at_decision=draw(st.one_of(st.just(band), st.sampled_from(list(AgeBand)))),
        method=draw(st.sampled_from(list(ConsentMethod))),
        purposes=draw(purposes),
        recipient_org_ids=tuple(draw(st.lists(mostly(RECIPIENT, list(ORGS)), max_size=2, unique=True))),
        recipient_kinds=tuple(draw(st.lists(st.sampled_from(list(OrgKind)), max_size=2, unique=True))),
        categories=draw(categories),
        valid_from=valid_from,
        valid_until=draw(st.none() | st.integers(1, 800).map(lambda d: valid_from + timedelta(days=d))),
        withdrawn_at=draw(maybe_moment),
    )


@st.composite
def agreement_facts(draw: st.DrawFn) -> AgreementFact:
    start = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 6, 1)))
    return AgreementFact(
        agreement_id=draw(st.sampled_from(["ag-1", "ag-2"])),
        kind=draw(mostly(AgreementKind.SERVICE_108, list(AgreementKind))),
        status=draw(mostly(AgreementStatus.ACTIVE, list(AgreementStatus))),
        parties=(DISCLOSER, RECIPIENT),
        start=start,
        end=draw(st.none() | st.just(start + timedelta(days=365))),
        information_sharing=draw(st.lists(st.sampled_from(list(InfoCategory)), max_size=5, unique=True).map(tuple)),
        state_since=T0 - timedelta(days=1),
    )


@st.composite
def restriction_facts(draw: st.DrawFn) -> RestrictionFact:
    return RestrictionFact(
        restriction_id=draw(st.sampled_from(["r-1", "r-2"])),
        recipient_org_ids=tuple(draw(st.lists(st.sampled_from(ORGS), max_size=1))),
        recipient_kinds=(),
        purposes=tuple(draw(st.lists(st.sampled_from(list(Purpose)), max_size=1))),
        categories=tuple(draw(st.lists(st.sampled_from(list(InfoCategory)), max_size=2, unique=True))),
        valid_from=draw(offsets),
        lifted_at=draw(maybe_moment),
    )


def _unique(items: list[ConsentFact]) -> tuple[ConsentFact, ...]:
    return tuple({c.consent_id: c for c in items}.values())


@st.composite
def histories(draw: st.DrawFn) -> Facts:
    return Facts(
        recipient_kind=draw(st.none() | st.sampled_from(list(OrgKind))),
        consents=_unique(draw(st.lists(consent_facts(), max_size=4))),
        agreements=tuple({a.agreement_id: a for a in draw(st.lists(agreement_facts(), max_size=2))}.values()),
        restrictions=tuple({r.restriction_id: r for r in draw(st.lists(restriction_facts(), max_size=2))}.values()),
    )


@st.composite
def contexts(draw: st.DrawFn) -> Context:
    return Context(
        danger=draw(st.booleans()),
        court_order_ref=draw(st.none() | st.just("500-17-1")),
        user_request=draw(st.booleans()),
        anonymous=draw(st.sampled_from([False] * 7 + [True])),
        complaint_body=draw(st.none() | st.sampled_from(list(ComplaintBody))),
        mandate_contract_ref=draw(st.none() | st.just("CT-1")),
        undertakings_received=draw(st.booleans()),
        research_authorisation_ref=draw(st.none() | st.just("DSP-1")),
        research_authorisation_until=draw(maybe_moment),
    )


@st.composite
def requests(draw: st.DrawFn) -> DecisionInput:
    regime = draw(st.sampled_from(list(Regime)))
    return DecisionInput(
        subject_id="S-1",
        discloser_org_id=DISCLOSER,
        recipient_org_id=draw(mostly(RECIPIENT, list(ORGS))),
        purpose=draw(mostly(Purpose.REFERRAL, list(Purpose))),
        categories=draw(categories),
        at=draw(st.one_of(st.just(T0), offsets)),
        regime=regime,
        regime_version=CURRENT_VERSION[regime],
        context=draw(contexts()),
    )


@settings(max_examples=250, deadline=None)
@given(requests(), histories())
def test_no_permit_without_a_basis_and_permitted_within_requested(request: DecisionInput, facts: Facts) -> None:
    decision = evaluate(request, facts)

    assert set(decision.permitted_categories) <= set(request.categories)
    assert set(decision.permitted_categories) | set(decision.denied_categories) == set(request.categories)
    assert not set(decision.permitted_categories) & set(decision.denied_categories)
    if decision.outcome == Outcome.DENY:
        assert decision.permitted_categories == () and decision.basis == () and decision.obligations == ()
    else:
        assert decision.basis, "a permit always names its route"
        based = [c for b in decision.basis for c in b.categories]
        assert sorted(based) == sorted(decision.permitted_categories), "each permitted category has exactly one basis"
    if decision.denied_categories:
        assert decision.reasons, "a denial always says why"
    if request.context.anonymous:
        assert decision.outcome == Outcome.DENY


@settings(max_examples=150, deadline=None)
@given(requests(), histories())
def test_sensitive_categories_only_on_a_consent_naming_them(request: DecisionInput, facts: Facts) -> None:
    decision = evaluate(request, facts)
    consents = {c.consent_id: c for c in facts.consents}
    for basis in decision.basis:
        for category in set(basis.categories) & SENSITIVE:
            assert basis.consent_id is not None
            assert category in consents[basis.consent_id].categories


@settings(max_examples=150, deadline=None)
@given(requests(), consent_facts(consent_id="c-w"), histories(), st.integers(min_value=0, max_value=500))
def test_nothing_permitted_under_a_consent_from_its_withdrawal_time(
    request: DecisionInput, consent: ConsentFact, others: Facts, after_days: int
) -> None:
    withdrawn = dataclasses.replace(consent, withdrawn_at=request.at - timedelta(days=after_days))
    facts = dataclasses.replace(others, consents=(*others.consents, withdrawn))

    decision = evaluate(request, facts)

    assert "c-w" not in [b.consent_id for b in decision.basis]


@settings(max_examples=150, deadline=None)
@given(requests(), histories(), st.randoms(use_true_random=False))
def test_same_inputs_and_history_give_the_same_decision(
    request: DecisionInput, facts: Facts, rnd: random.Random
) -> None:
    decision = evaluate(request, facts)

    # Re-evaluation from what a decision event carries (JSON), facts in any order: the same answer.
    recorded_input = from_json(DecisionInput, json.loads(json.dumps(to_json(request))))
    recorded_facts = from_json(Facts, json.loads(json.dumps(to_json(facts))))
    shuffled = dataclasses.replace(
        recorded_facts,
        consents=tuple(rnd.sample(recorded_facts.consents, len(recorded_facts.consents))),
        agreements=tuple(rnd.sample(recorded_facts.agreements, len(recorded_facts.agreements))),
    )
    assert recorded_input == request and recorded_facts == facts
    assert evaluate(recorded_input, shuffled) == decision
    assert from_json(Decision, json.loads(json.dumps(to_json(decision)))) == decision


@settings(max_examples=100, deadline=None)
@given(requests(), histories())
def test_withdrawing_or_removing_a_consent_never_permits_more(request: DecisionInput, facts: Facts) -> None:
    before = evaluate(request, facts)
    fewer = dataclasses.replace(
        facts, consents=tuple(dataclasses.replace(c, withdrawn_at=T0 - timedelta(days=999)) for c in facts.consents)
    )
    after = evaluate(request, fewer)
    assert set(after.permitted_categories) <= set(before.permitted_categories)


def test_datetime_offsets_round_trip_exactly() -> None:
    moment = datetime.fromisoformat("2026-03-08T01:30:00-05:00")
    assert from_json(DecisionInput, to_json(dataclasses.replace(_base(), at=moment))).at == moment


def _base() -> DecisionInput:
    return DecisionInput(
        subject_id="S-1",
        discloser_org_id=DISCLOSER,
        recipient_org_id=RECIPIENT,
        purpose=Purpose.REFERRAL,
        categories=(InfoCategory.IDENTIFICATION,),
        at=T0,
        regime=Regime.LSSSS_17_27_3,
        regime_version=CURRENT_VERSION[Regime.LSSSS_17_27_3],
    )
