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
    DangerAssessment,
    Decision,
    DecisionInput,
    Facts,
    Mandate,
    MinorRequest,
    OnBehalfFact,
    RefusalFact,
    Representation,
    RestrictionFact,
    from_json,
    local_date,
    to_json,
)
from services.consent.rules import CURRENT_VERSION, table_for
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    AtRisk,
    ConsentMethod,
    DangerAct,
    DangerRecipientRole,
    DangerRisk,
    GrantorRole,
    InfoCategory,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
    RequesterRole,
    ServiceCode,
)
from tests.consent.conftest import DISCLOSER, FIRST_VERSION, RECIPIENT, T0

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
        given_at=draw(st.sampled_from([None, valid_from, valid_from - timedelta(days=900)])),
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
        on_behalf=tuple(draw(st.lists(on_behalf_facts(), max_size=2))),
    )


services = st.lists(mostly(ServiceCode.CRISIS_24_7, list(ServiceCode)), min_size=1, max_size=2, unique=True)


@st.composite
def on_behalf_facts(draw: st.DrawFn) -> OnBehalfFact:
    return OnBehalfFact(of_org=draw(st.sampled_from([DISCLOSER, RECIPIENT])), services=tuple(draw(services)))


@st.composite
def refusal_facts(draw: st.DrawFn) -> RefusalFact:
    return RefusalFact(
        refusal_id=draw(st.sampled_from(["f-1", "f-2"])),
        requester_roles=tuple(draw(st.lists(st.sampled_from(list(RequesterRole)), min_size=1, unique=True))),
        given_at=draw(offsets),
        withdrawn_at=draw(maybe_moment),
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
        discloser_kind=draw(mostly(OrgKind.CSSS, [None, *OrgKind])),  # type: ignore[list-item]
        subject_age_band=draw(st.none() | st.sampled_from(list(AgeBand))),
        subject_age_band_at_death=draw(st.none() | st.sampled_from(list(AgeBand))),
        refusals=tuple({r.refusal_id: r for r in draw(st.lists(refusal_facts(), max_size=2))}.values()),
    )


maybe_bool = st.sampled_from([None, True, False, True])


@st.composite
def danger_assessments(draw: st.DrawFn) -> DangerAssessment:
    return DangerAssessment(
        act=draw(st.none() | st.sampled_from(list(DangerAct))),
        risk=draw(st.none() | st.sampled_from(list(DangerRisk))),
        at_risk=draw(st.none() | st.sampled_from(list(AtRisk))),
        urgent=draw(maybe_bool),
        recipient_role=draw(st.none() | st.sampled_from(list(DangerRecipientRole))),
        authorised_by=draw(st.sampled_from([None, "DSP-7"])),
    )


@st.composite
def mandates(draw: st.DrawFn) -> Mandate:
    return Mandate(
        ref="CT-1",
        written=draw(maybe_bool),
        term_end=draw(st.none() | st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 1, 1))),
        for_care=draw(maybe_bool),
        clauses_present=draw(maybe_bool),
        undertakings_received=draw(maybe_bool),
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
        danger_assessment=draw(st.none() | danger_assessments()),
        mandate=draw(st.none() | mandates()),
        subject_deceased_on=draw(st.none() | st.none() | offsets.map(local_date)),
        requester_role=draw(st.none() | st.sampled_from(list(RequesterRole))),
        minor=draw(st.none() | st.builds(MinorRequest, maybe_bool, maybe_bool, maybe_bool)),
        representation=draw(
            st.none() | st.builds(Representation, st.none() | st.just("500-14-1"), categories | st.just(()))
        ),
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
        regime_version=draw(st.sampled_from([CURRENT_VERSION[regime]] * 3 + [FIRST_VERSION[regime]])),
        context=draw(contexts()),
        recipient_service=draw(st.none() | st.sampled_from(list(ServiceCode))),
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


@settings(max_examples=250, deadline=None)
@given(requests(), histories())
def test_anonymity_closes_what_rests_on_the_persons_own_will_and_nothing_else(
    request: DecisionInput, facts: Facts
) -> None:
    table = table_for(request.regime, request.regime_version)
    decision = evaluate(
        dataclasses.replace(request, context=dataclasses.replace(request.context, anonymous=True)), facts
    )
    [bar] = [b for b in table.bars if b.test == "anonymous"]
    for basis in decision.basis:
        assert bar.closes is not None and basis.route not in bar.closes  # the first tables closed everything
        assert basis.consent_id is None


@settings(max_examples=250, deadline=None)
@given(requests(), histories())
def test_a_route_reserved_to_institutions_never_serves_another_discloser(request: DecisionInput, facts: Facts) -> None:
    table = table_for(request.regime, request.regime_version)
    for basis in evaluate(request, facts).basis:
        kinds = table.route(basis.route).discloser_kinds
        assert not kinds or facts.discloser_kind in kinds
        assert basis.discloser_kind == facts.discloser_kind


@settings(max_examples=250, deadline=None)
@given(requests(), histories())
def test_nothing_rests_on_a_consent_after_the_death(request: DecisionInput, facts: Facts) -> None:
    """(A service agreement's route, which the generated requests seldom satisfy, ends with the person too:
    `test_services_on_the_disclosers_behalf_end_with_the_person`.)"""
    deceased_on = local_date(request.at) - timedelta(days=1)
    dead = dataclasses.replace(request, context=dataclasses.replace(request.context, subject_deceased_on=deceased_on))
    decision = evaluate(dead, facts)
    if request.regime_version == CURRENT_VERSION[request.regime]:
        assert all(b.consent_id is None for b in decision.basis)


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
