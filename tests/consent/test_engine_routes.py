"""The current rule tables, route by route: who may disclose under each, then the corrections of consent-rules.md
("Corrections and precisions"), each as a named scenario."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.consent.engine import evaluate
from services.consent.policy import (
    AgeBand,
    ComplaintBody,
    Decision,
    Facts,
    MinorRequest,
    OnBehalfFact,
    ReasonCode,
    RefusalFact,
    Representation,
    RuleStatus,
)
from services.consent.rules import CURRENT, CURRENT_VERSION, INSTITUTIONS
from services.contract.codes import (
    DangerRecipientRole,
    InfoCategory,
    Obligation,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
    RequesterRole,
    ServiceCode,
)
from tests.consent.conftest import (
    RECIPIENT,
    T0,
    agreement_fact,
    consent_fact,
    danger,
    decision_input,
    facts,
    mandate,
    on_behalf_agreement,
)
from tests.consent.test_minors_and_anonymity import VERSION_2026_12_03

I = InfoCategory  # noqa: E741 -- short alias keeps the tables readable
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
ID_CONTACT = (I.IDENTIFICATION, I.CONTACT)
DIED = date(2026, 11, 15)
LRSSS_CONSENT = {"valid_until": T0 + timedelta(days=90), "given_at": T0 - timedelta(days=30)}


@dataclass(frozen=True)
class Case:
    """A request that the route permits when an eligible organisation discloses."""

    regime: Regime
    request: dict[str, Any]
    facts: Facts
    permitted: tuple[InfoCategory, ...] = ID_CONTACT
    obligations: tuple[Obligation, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def deceased(role: RequesterRole, categories: tuple[InfoCategory, ...]) -> dict[str, Any]:
    """The person art. 23 names asks for the record (the only purpose of its rows since 2026-12-01)."""
    return {
        "purpose": Purpose.USER_REQUESTED_TRANSFER,
        "categories": categories,
        "context": {"subject_deceased_on": DIED, "requester_role": role},
    }


def parent_asks(minor: MinorRequest) -> dict[str, Any]:
    """The holder of parental authority asks for the minor's record (art. 21; since 2026-12-01 nothing else)."""
    return {
        "purpose": Purpose.USER_REQUESTED_TRANSFER,
        "context": {"minor": minor, "requester_role": RequesterRole.PARENT},
    }


PARENT_OF_MINOR = parent_asks(MinorRequest(False, False, False))
TUTOR_ASKS = {
    "purpose": Purpose.USER_REQUESTED_TRANSFER,
    "context": {"requester_role": RequesterRole.TUTOR, "representation": Representation("T-2026-1", ID_CONTACT)},
}
"""A tutor asks for the record (art. 22), stating the mandate and what exercising it requires."""
DANGER = {"danger_assessment": danger()}
CMDP = {"complaint_body": ComplaintBody.CMDP}
ROUTES: dict[str, Case] = {
    "A-1": Case(LSSSS, {}, facts(consents=(consent_fact(),))),
    "A-2": Case(
        LSSSS,
        {"purpose": Purpose.USER_REQUESTED_TRANSFER, "context": {"user_request": True}},
        facts(recipient_kind=OrgKind.ESTABLISHMENT),
    ),
    "A-3": Case(
        LSSSS,
        {"purpose": Purpose.SERVICE_ON_BEHALF, "recipient_service": ServiceCode.CRISIS_24_7},
        facts(agreements=(on_behalf_agreement(),)),
    ),
    "A-5": Case(LSSSS, {"purpose": Purpose.MANDATE_CONTRACT, "context": {"mandate": mandate()}}, facts()),
    "A-6/2001": Case(
        LSSSS,
        {
            "purpose": Purpose.EMERGENCY,
            "at": datetime(2016, 6, 1, 15, tzinfo=UTC),
            "context": {"danger_assessment": danger()},
        },
        facts(),
    ),
    "A-6": Case(LSSSS, {"purpose": Purpose.EMERGENCY, "context": {"danger_assessment": danger()}}, facts()),
    "A-7": Case(LSSSS, {"purpose": Purpose.LEGAL_ORDER, "context": {"court_order_ref": "500-17-000001-261"}}, facts()),
    "A-8": Case(
        LSSSS,
        {"purpose": Purpose.COMPLAINT_QUALITY, "context": {"complaint_body": ComplaintBody.COMPLAINTS_COMMISSIONER}},
        facts(),
    ),
    "A-9": Case(
        LSSSS,
        {"purpose": Purpose.RESEARCH},
        facts(consents=(consent_fact(purposes=(Purpose.RESEARCH,), valid_until=T0 + timedelta(days=365)),)),
    ),
    "A-10": Case(
        LSSSS,
        {
            "purpose": Purpose.RESEARCH,
            "context": {"research_authorisation_ref": "DSP-2026-4", "research_authorisation_until": T0 + timedelta(1)},
        },
        facts(),
    ),
    "A-11": Case(LSSSS, PARENT_OF_MINOR, facts(subject_age_band=AgeBand.UNDER_14)),
    "A-12": Case(LSSSS, TUTOR_ASKS, facts()),
    "A-13/relatives": Case(LSSSS, deceased(RequesterRole.SPOUSE, (I.CAUSE_OF_DEATH,)), facts(), (I.CAUSE_OF_DEATH,)),
    "A-13/parent": Case(
        LSSSS,
        deceased(RequesterRole.PARENT, (I.IDENTIFICATION, I.HEALTH)),
        facts(subject_age_band_at_death=AgeBand.UNDER_14),
        (I.IDENTIFICATION, I.HEALTH),
    ),
    "A-13/heirs": Case(LSSSS, deceased(RequesterRole.HEIR, ID_CONTACT), facts()),
    "A-13/genetic": Case(LSSSS, deceased(RequesterRole.BLOOD_RELATIVE, (I.HEALTH,)), facts(), (I.HEALTH,)),
    "B-1": Case(LRSSS, {}, facts(consents=(consent_fact(**LRSSS_CONSENT),))),
    "B-2": Case(LRSSS, {}, facts(recipient_kind=OrgKind.ESTABLISHMENT)),
    "B-10": Case(
        LRSSS,
        {"purpose": Purpose.SERVICE_ON_BEHALF, "recipient_service": ServiceCode.CRISIS_24_7},
        facts(agreements=(on_behalf_agreement(),)),
    ),
    "B-5": Case(LRSSS, {"purpose": Purpose.EMERGENCY, "context": {"danger_assessment": danger()}}, facts()),
    "B-6": Case(LRSSS, {"purpose": Purpose.MANDATE_CONTRACT, "context": {"mandate": mandate()}}, facts()),
    "B-8": Case(LRSSS, {"purpose": Purpose.LEGAL_ORDER, "context": {"court_order_ref": "500-17-2"}}, facts()),
    "B-9": Case(
        LRSSS, {"purpose": Purpose.COMPLAINT_QUALITY, "context": {"complaint_body": ComplaintBody.CMDP}}, facts()
    ),
    "B-11": Case(LRSSS, PARENT_OF_MINOR, facts(subject_age_band=AgeBand.UNDER_14)),  # 14-17: test_minors_and_anonymity
    "B-12": Case(LRSSS, TUTOR_ASKS, facts()),
    "B-13/relatives": Case(
        LRSSS, deceased(RequesterRole.DESCENDANT, (I.CAUSE_OF_DEATH,)), facts(), (I.CAUSE_OF_DEATH,)
    ),
    "B-13/parent": Case(
        LRSSS,
        deceased(RequesterRole.PARENT, (I.HEALTH,)),
        facts(subject_age_band_at_death=AgeBand.UNDER_14),
        (I.HEALTH,),
    ),
    "B-13/heirs": Case(LRSSS, deceased(RequesterRole.HEIR, ID_CONTACT), facts()),
    "B-13/genetic": Case(LRSSS, deceased(RequesterRole.BLOOD_RELATIVE, (I.HEALTH,)), facts(), (I.HEALTH,)),
}


def _decide(case: Case, discloser: OrgKind | None) -> Decision:
    return evaluate(
        decision_input(case.regime, **case.request), dataclasses.replace(case.facts, discloser_kind=discloser)
    )


def test_every_route_of_the_current_tables_has_a_case() -> None:
    assert set(ROUTES) == {route.id for table in CURRENT.values() for route in table.routes}


@pytest.mark.parametrize("discloser", list(OrgKind), ids=[k.value for k in OrgKind])
@pytest.mark.parametrize("route_id", list(ROUTES))
def test_who_may_disclose_under_each_route(route_id: str, discloser: OrgKind) -> None:
    """Only consent and court orders serve any discloser; every other route is an institution's power or duty."""
    case = ROUTES[route_id]
    route = CURRENT[case.regime].route(route_id)
    decision = _decide(case, discloser)

    if not route.discloser_kinds or discloser in route.discloser_kinds:
        assert [b.route for b in decision.basis] == [route_id]
        assert decision.permitted_categories == case.permitted
        assert decision.basis[0].discloser_kind == discloser
    else:
        assert route_id not in [b.route for b in decision.basis]
        refusal = [r for r in decision.reasons if r.route == route_id]
        assert [(r.code, r.detail) for r in refusal] == [(ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE, discloser)]


def test_consent_and_court_orders_serve_any_discloser_the_rest_only_institutions() -> None:
    open_to_all = {r.id for t in CURRENT.values() for r in t.routes if not r.discloser_kinds}
    assert open_to_all == {"A-1", "A-7", "A-9", "B-1", "B-8"}
    assert {r.discloser_kinds for t in CURRENT.values() for r in t.routes if r.discloser_kinds} == {INSTITUTIONS}


@pytest.mark.parametrize("route_id", [r for r, c in ROUTES.items() if CURRENT[c.regime].route(r).discloser_kinds])
def test_a_discloser_missing_from_the_directory_uses_no_institution_route(route_id: str) -> None:
    decision = _decide(ROUTES[route_id], None)
    assert route_id not in [b.route for b in decision.basis]
    assert ReasonCode.DISCLOSER_KIND_UNKNOWN in [r.code for r in decision.reasons if r.route == route_id]


# --- the corrections, scenario by scenario ----------------------------------------------------------------------

ON_BEHALF = {"purpose": Purpose.SERVICE_ON_BEHALF, "recipient_service": ServiceCode.CRISIS_24_7}
CLAUSE_ASK = (I.IDENTIFICATION, I.REFERRAL_REASON, I.ASSESSMENT)


def codes(decision: Decision) -> list[ReasonCode]:
    return [r.code for r in decision.reasons]


def test_1_a_community_organisation_under_108_is_denied() -> None:
    decision = evaluate(
        decision_input(**ON_BEHALF),
        facts(discloser_kind=OrgKind.COMMUNITY_ORGANISATION, agreements=(on_behalf_agreement(),)),
    )
    assert decision.outcome == Outcome.DENY
    assert (ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE, "A-3") in [(r.code, r.route) for r in decision.reasons]


def test_1_a_community_organisation_cannot_make_an_art_24_transfer() -> None:
    decision = evaluate(
        decision_input(purpose=Purpose.USER_REQUESTED_TRANSFER, context={"user_request": True}),
        facts(discloser_kind=OrgKind.COMMUNITY_ORGANISATION, recipient_kind=OrgKind.CSSS),
    )
    assert decision.outcome == Outcome.DENY and ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE in codes(decision)


def test_2_art_108_in_the_other_direction_is_denied() -> None:
    """The recipient is the institution on whose behalf services are provided: nothing flows back under 108."""
    reversed_ = on_behalf_agreement(on_behalf=(OnBehalfFact(RECIPIENT, (ServiceCode.CRISIS_24_7,)),))
    decision = evaluate(decision_input(**ON_BEHALF), facts(agreements=(reversed_,)))
    assert decision.outcome == Outcome.DENY
    assert [(r.code, r.detail) for r in decision.reasons if r.route == "A-3"] == [
        (ReasonCode.AGREEMENT_NOT_ON_BEHALF, "OTHER_DIRECTION")
    ]


def test_2_art_108_for_a_service_not_declared_on_behalf_is_denied() -> None:
    decision = evaluate(
        decision_input(**{**ON_BEHALF, "recipient_service": ServiceCode.COMMUNITY_SERVICE}),
        facts(agreements=(on_behalf_agreement(),)),
    )
    assert decision.outcome == Outcome.DENY
    assert [(r.code, r.detail) for r in decision.reasons if r.route == "A-3"] == [
        (ReasonCode.SERVICE_NOT_ON_BEHALF, ServiceCode.COMMUNITY_SERVICE)
    ]


def test_2_an_agreement_without_on_behalf_carries_nothing() -> None:
    decision = evaluate(decision_input(**ON_BEHALF), facts(agreements=(agreement_fact(),)))
    assert decision.outcome == Outcome.DENY
    assert (ReasonCode.AGREEMENT_NOT_ON_BEHALF, "NOT_DECLARED") in [(r.code, r.detail) for r in decision.reasons]


def test_2_art_108_for_a_declared_service_releases_the_clause_categories_pending_legal_review() -> None:
    decision = evaluate(decision_input(**ON_BEHALF, categories=CLAUSE_ASK), facts(agreements=(on_behalf_agreement(),)))
    assert decision.outcome == Outcome.PERMIT_PARTIAL
    assert decision.permitted_categories == (I.IDENTIFICATION, I.REFERRAL_REASON)
    assert decision.denied_categories == (I.ASSESSMENT,)
    [basis] = decision.basis
    assert (basis.route, basis.agreement_id, basis.status) == ("A-3", "ag-1", RuleStatus.NEEDS_LEGAL_REVIEW)
    assert decision.obligations == (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY)


def test_2_a_collaboration_agreement_never_carries_information() -> None:
    collaboration = agreement_fact(kind="COLLABORATION", information_sharing=(), on_behalf=())
    decision = evaluate(decision_input(**ON_BEHALF), facts(agreements=(collaboration,)))
    assert decision.outcome == Outcome.DENY and ReasonCode.COLLABORATION_AGREEMENT_ONLY in codes(decision)


def test_3_danger_on_an_ordinary_referral_is_denied() -> None:
    """A housing organisation receiving a referral is not exposed to the danger, and the purpose is not EMERGENCY."""
    decision = evaluate(decision_input(context={"danger_assessment": danger()}), facts())
    assert decision.outcome == Outcome.DENY
    assert (ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE, "A-6", Purpose.REFERRAL) in [
        (r.code, r.route, r.detail) for r in decision.reasons
    ]


@pytest.mark.parametrize(
    ("missing", "change"),
    [
        ("act", {"act": None}),
        ("risk", {"risk": None}),
        ("at_risk", {"at_risk": None}),
        ("urgent", {"urgent": False}),
        ("recipient_role", {"recipient_role": None}),
        ("authorised_by", {"authorised_by": None}),
    ],
)
def test_3_each_danger_condition_not_stated_denies_and_is_named(missing: str, change: dict[str, Any]) -> None:
    request = decision_input(purpose=Purpose.EMERGENCY, context={"danger_assessment": danger(**change)})
    decision = evaluate(request, facts())
    assert decision.outcome == Outcome.DENY
    assert [(r.code, r.detail) for r in decision.reasons if r.route == "A-6"] == [
        (ReasonCode.DANGER_CONDITION_NOT_MET, missing)
    ]


def test_3_before_the_2017_amendment_the_imminent_danger_text_applies() -> None:
    asked = {"purpose": Purpose.EMERGENCY, "context": {"danger_assessment": danger()}}
    before = evaluate(decision_input(at=datetime(2017, 5, 29, 15, tzinfo=UTC), **asked), facts())
    after = evaluate(decision_input(at=datetime(2017, 5, 30, 15, tzinfo=UTC), **asked), facts())
    assert [b.article for b in before.basis] == ["LSSSS art. 19.0.1 (2001 text)"]
    assert before.basis[0].status == RuleStatus.NEEDS_LEGAL_REVIEW, "the amendment date is still to verify"
    assert [b.article for b in after.basis] == ["LSSSS art. 19.0.1 (2017 text)"]


def test_4_an_anonymous_caller_at_risk_helped_under_19_0_1_with_the_necessary_categories() -> None:
    request = decision_input(
        purpose=Purpose.EMERGENCY,
        categories=(I.IDENTIFICATION, I.CONTACT, I.RISK_ASSESSMENT, I.PSYCHOSOCIAL_HISTORY),
        context={"anonymous": True, "danger_assessment": danger(recipient_role=DangerRecipientRole.HELPER)},
    )
    decision = evaluate(request, facts(consents=(consent_fact(purposes=(Purpose.EMERGENCY,)),)))
    assert decision.outcome == Outcome.PERMIT_PARTIAL
    assert decision.permitted_categories == (I.IDENTIFICATION, I.CONTACT, I.RISK_ASSESSMENT)
    assert [b.route for b in decision.basis] == ["A-6"] and decision.basis[0].consent_id is None
    assert decision.obligations == (
        Obligation.NOTE_IN_RECORD,
        Obligation.MINIMUM_NECESSARY,
        Obligation.AUTHORISED_DISCLOSER_ONLY,
    )
    [anonymity] = [r for r in decision.reasons if r.code == ReasonCode.ANONYMOUS_NO_CONSENT]
    assert anonymity.categories == (I.PSYCHOSOCIAL_HISTORY,), "anonymity explains only what stayed denied"


def test_4_an_anonymous_person_referred_gets_nothing_even_with_a_consent_on_file() -> None:
    for regime, kind in ((LSSSS, OrgKind.COMMUNITY_ORGANISATION), (LRSSS, OrgKind.ESTABLISHMENT)):
        consent = consent_fact(**LRSSS_CONSENT)
        request = decision_input(regime, context={"anonymous": True})
        decision = evaluate(request, facts(recipient_kind=kind, consents=(consent,)))
        assert decision.outcome == Outcome.DENY, regime
        assert codes(decision) == [ReasonCode.ANONYMOUS_NO_CONSENT], regime


def test_4_a_court_order_still_reaches_an_anonymous_persons_record() -> None:
    request = decision_input(purpose=Purpose.LEGAL_ORDER, context={"anonymous": True, "court_order_ref": "500-1"})
    assert evaluate(request, facts()).outcome == Outcome.PERMIT


@pytest.mark.parametrize(
    ("missing", "change"),
    [
        ("written", {"written": False}),
        ("term_end", {"term_end": None}),
        ("term_end_passed", {"term_end": date(2026, 11, 24)}),
        ("for_care", {"for_care": True}),
        ("clauses_present", {"clauses_present": None}),
        ("undertakings_received", {"undertakings_received": False}),
    ],
)
def test_5_a_mandate_missing_an_element_is_denied(missing: str, change: dict[str, Any]) -> None:
    for regime, route in ((LSSSS, "A-5"), (LRSSS, "B-6")):
        request = decision_input(regime, purpose=Purpose.MANDATE_CONTRACT, context={"mandate": mandate(**change)})
        decision = evaluate(request, facts())
        assert decision.outcome == Outcome.DENY
        assert [(r.code, r.detail) for r in decision.reasons if r.route == route] == [
            (ReasonCode.MANDATE_CONDITION_NOT_MET, missing)
        ]


def test_5_a_mandate_for_care_is_denied() -> None:
    request = decision_input(purpose=Purpose.MANDATE_CONTRACT, context={"mandate": mandate(for_care=True)})
    decision = evaluate(request, facts())
    assert decision.outcome == Outcome.DENY
    assert (ReasonCode.MANDATE_CONDITION_NOT_MET, "for_care") in [(r.code, r.detail) for r in decision.reasons]


def test_6_the_deceased_persons_consent_no_longer_releases_anything() -> None:
    request = decision_input(context={"subject_deceased_on": DIED})
    before = evaluate(
        dataclasses.replace(request, at=datetime(2026, 11, 14, 15, tzinfo=UTC)), facts(consents=(consent_fact(),))
    )
    after = evaluate(request, facts(consents=(consent_fact(),)))
    assert before.outcome == Outcome.PERMIT
    assert after.outcome == Outcome.DENY
    assert [(r.code, r.detail) for r in after.reasons] == [(ReasonCode.SUBJECT_DECEASED, "2026-11-15")]


def test_6_a_spouse_learns_the_cause_of_death_only() -> None:
    request = decision_input(**deceased(RequesterRole.SPOUSE, (I.CAUSE_OF_DEATH, I.HEALTH, I.ASSESSMENT)))
    decision = evaluate(request, facts())
    assert decision.outcome == Outcome.PERMIT_PARTIAL
    assert decision.permitted_categories == (I.CAUSE_OF_DEATH,)
    assert [b.route for b in decision.basis] == ["A-13/relatives"]


def test_6_unless_the_deceased_refused_it_in_writing() -> None:
    refusal = RefusalFact("f-1", (RequesterRole.SPOUSE,), datetime(2025, 3, 1, tzinfo=UTC), None)
    withdrawn = dataclasses.replace(refusal, refusal_id="f-2", withdrawn_at=datetime(2025, 4, 1, tzinfo=UTC))
    ask = decision_input(**deceased(RequesterRole.SPOUSE, (I.CAUSE_OF_DEATH,)))
    refused = evaluate(ask, facts(refusals=(refusal,)))
    assert refused.outcome == Outcome.DENY
    assert (ReasonCode.WRITTEN_REFUSAL_ON_FILE, "f-1") in [(r.code, r.detail) for r in refused.reasons]
    assert evaluate(ask, facts(refusals=(withdrawn,))).outcome == Outcome.PERMIT, "withdrawn in life: no refusal"
    other_role = dataclasses.replace(refusal, requester_roles=(RequesterRole.DESCENDANT,))
    assert evaluate(ask, facts(refusals=(other_role,))).outcome == Outcome.PERMIT


def test_6_a_parent_of_a_child_who_died_under_14_gets_nothing_psychosocial() -> None:
    asked = (I.IDENTIFICATION, I.HEALTH, I.CAUSE_OF_DEATH, I.ASSESSMENT, I.PSYCHOSOCIAL_HISTORY, I.REFERRAL_REASON)
    request = decision_input(**deceased(RequesterRole.PARENT, asked))
    decision = evaluate(request, facts(subject_age_band_at_death=AgeBand.UNDER_14))
    assert decision.permitted_categories == (I.IDENTIFICATION, I.HEALTH, I.CAUSE_OF_DEATH)
    assert set(decision.denied_categories) == {I.ASSESSMENT, I.PSYCHOSOCIAL_HISTORY, I.REFERRAL_REASON}
    older = evaluate(request, facts(subject_age_band_at_death=AgeBand.MINOR_14_TO_17))
    assert older.outcome == Outcome.DENY and ReasonCode.NOT_UNDER_14_AT_DEATH in codes(older)
    unknown = evaluate(request, facts())
    assert unknown.outcome == Outcome.DENY and ReasonCode.SUBJECT_AGE_UNKNOWN in codes(unknown)


def test_6_relatives_get_nothing_while_the_person_lives() -> None:
    request = decision_input(**deceased(RequesterRole.SPOUSE, (I.CAUSE_OF_DEATH,)))
    alive = dataclasses.replace(request, at=datetime(2026, 11, 14, 15, tzinfo=UTC))
    decision = evaluate(alive, facts())
    assert decision.outcome == Outcome.DENY
    assert [r.code for r in decision.reasons if r.route == "A-13/relatives"] == [ReasonCode.SUBJECT_NOT_DECEASED]


MINOR = MinorRequest
ART_21 = ((LSSSS, CURRENT_VERSION[LSSSS]), (LRSSS, VERSION_2026_12_03[LRSSS]))
"""Where a parent's request follows art. 21 (a minor of 14 or older refused only on their objection and likely harm):
the LSSSS, and the LRSSS tables up to 2026-12-03."""


@pytest.mark.parametrize(
    ("band", "minor", "outcome", "reason"),
    [
        (AgeBand.UNDER_14, MINOR(False, None, None), Outcome.PERMIT, None),
        (AgeBand.UNDER_14, MINOR(True, None, False), Outcome.PERMIT, None),
        (AgeBand.UNDER_14, MINOR(True, True, True), Outcome.DENY, ReasonCode.MINOR_ACCESS_REFUSED),
        (AgeBand.UNDER_14, MINOR(None, None, None), Outcome.DENY, ReasonCode.MINOR_CONDITION_NOT_STATED),
        (AgeBand.MINOR_14_TO_17, MINOR(True, False, True), Outcome.PERMIT, None),
        (AgeBand.MINOR_14_TO_17, MINOR(None, True, True), Outcome.DENY, ReasonCode.MINOR_ACCESS_REFUSED),
        (AgeBand.MINOR_14_TO_17, MINOR(None, True, None), Outcome.DENY, ReasonCode.MINOR_CONDITION_NOT_STATED),
        (AgeBand.ADULT, MINOR(False, False, False), Outcome.DENY, ReasonCode.SUBJECT_NOT_MINOR),
        (None, MINOR(False, False, False), Outcome.DENY, ReasonCode.SUBJECT_AGE_UNKNOWN),
    ],
)
def test_7_a_parents_request_about_a_minor_follows_art_21(
    band: AgeBand | None, minor: MinorRequest, outcome: Outcome, reason: ReasonCode | None
) -> None:
    """The LSSSS today, and the LRSSS row (B-11) as the tables of 2026-12-03 carried art. 21 into it (from 2026-12-04
    it serves a parent only under 14: test_minors_and_anonymity)."""
    for regime, version in ART_21:
        asked = decision_input(regime, regime_version=version, **parent_asks(minor))
        decision = evaluate(asked, facts(subject_age_band=band))
        assert decision.outcome == outcome, regime
        if reason is not None:
            assert reason in codes(decision)


def test_7_the_14th_birthday_in_both_regimes() -> None:
    """Under 14 a youth-protection intervention with likely harm refuses the parent; from the 14th birthday (Québec
    date) only the minor's objection does, and a parent's consent given for a child no longer serves."""
    minor = MinorRequest(youth_protection_intervention=True, objects=False, harm_likely=True)
    parent_consent = consent_fact(
        grantor_role="PARENT", age_band_at_start=AgeBand.UNDER_14, age_band_at_decision=AgeBand.MINOR_14_TO_17
    )
    for regime, version in ART_21:
        asked = decision_input(regime, regime_version=version, **parent_asks(minor))
        before = evaluate(asked, facts(subject_age_band=AgeBand.UNDER_14))
        birthday = evaluate(asked, facts(subject_age_band=AgeBand.MINOR_14_TO_17))
        assert before.outcome == Outcome.DENY and ReasonCode.MINOR_ACCESS_REFUSED in codes(before), regime
        assert birthday.outcome == Outcome.PERMIT, regime
        lapsed = evaluate(
            decision_input(regime), facts(consents=(dataclasses.replace(parent_consent, **LRSSS_CONSENT),))
        )
        assert lapsed.outcome == Outcome.DENY and ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE in codes(lapsed), regime


def test_7_only_a_parent_asking_for_the_record_opens_art_21() -> None:
    """Legal review of 2026-12-01: art. 21 is the holder of parental authority asking for a minor's record, not a
    way to refer a minor's record to anyone; and a living person's record holds no cause of death."""
    minor = MinorRequest(False, False, False)
    for regime, route in ((LSSSS, "A-11"), (LRSSS, "B-11")):
        band = facts(subject_age_band=AgeBand.UNDER_14, recipient_kind=OrgKind.COMMUNITY_ORGANISATION)
        asked = evaluate(decision_input(regime, **parent_asks(minor), categories=(I.IDENTIFICATION, I.HEALTH)), band)
        assert asked.outcome == Outcome.PERMIT and [b.route for b in asked.basis] == [route], regime
        nobody = evaluate(decision_input(regime, purpose=Purpose.REFERRAL, context={"minor": minor}), band)
        assert nobody.outcome == Outcome.DENY and route not in {r.route for r in nobody.reasons}, "not considered"
        referral = evaluate(decision_input(regime, **{**parent_asks(minor), "purpose": Purpose.REFERRAL}), band)
        assert referral.outcome == Outcome.DENY
        assert (ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE, route) in [(r.code, r.route) for r in referral.reasons]
        for role in (RequesterRole.HEIR, RequesterRole.SPOUSE):
            other = {**parent_asks(minor), "context": {"minor": minor, "requester_role": role}}
            assert evaluate(decision_input(regime, **other), band).outcome == Outcome.DENY, role
        death = evaluate(decision_input(regime, **parent_asks(minor), categories=(I.CAUSE_OF_DEATH,)), band)
        assert death.outcome == Outcome.DENY
        assert (ReasonCode.CATEGORY_NOT_COVERED, route) in [(r.code, r.route) for r in death.reasons]


@pytest.mark.parametrize("purpose", [p for p in Purpose if p != Purpose.USER_REQUESTED_TRANSFER])
def test_6_art_23_serves_the_persons_it_names_and_no_other_purpose(purpose: Purpose) -> None:
    for regime, prefix in ((LSSSS, "A-13"), (LRSSS, "B-13")):
        request = {**deceased(RequesterRole.HEIR, (I.HEALTH, I.ASSESSMENT)), "purpose": purpose}
        decision = evaluate(decision_input(regime, **request), facts(recipient_kind=OrgKind.COMMUNITY_ORGANISATION))
        assert f"{prefix}/heirs" not in [b.route for b in decision.basis], (regime, purpose)
        heirs = [r.code for r in decision.reasons if r.route == f"{prefix}/heirs"]
        assert heirs == [ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE], (regime, purpose)


def test_art_24_the_users_own_request_ends_with_the_user_and_never_releases_a_cause_of_death() -> None:
    ask = {
        "purpose": Purpose.USER_REQUESTED_TRANSFER,
        "categories": (I.IDENTIFICATION, I.HEALTH, I.CAUSE_OF_DEATH),
        "context": {"user_request": True},
    }
    professional = facts(recipient_kind=OrgKind.PROFESSIONAL)
    living = evaluate(decision_input(**ask), professional)
    assert living.outcome == Outcome.PERMIT_PARTIAL
    assert living.permitted_categories == (I.IDENTIFICATION, I.HEALTH) and living.denied_categories == (
        I.CAUSE_OF_DEATH,
    )
    after = evaluate(
        decision_input(**{**ask, "context": {"user_request": True, "subject_deceased_on": DIED}}), professional
    )
    assert after.outcome == Outcome.DENY
    assert (ReasonCode.SUBJECT_DECEASED, "A-2") in [(r.code, r.route) for r in after.reasons]


def test_8_an_open_ended_2019_verbal_consent_does_not_serve_under_the_lrsss() -> None:
    old = consent_fact(
        method="VERBAL_WITNESSED",
        valid_from=datetime(2019, 4, 1, tzinfo=UTC),
        given_at=datetime(2019, 4, 1, tzinfo=UTC),
    )
    decision = evaluate(decision_input(LRSSS, at=datetime(2025, 5, 1, 15, tzinfo=UTC)), facts(consents=(old,)))
    assert decision.outcome == Outcome.DENY
    assert ReasonCode.CONSENT_WITHOUT_END in codes(decision)
    with_end = dataclasses.replace(old, valid_until=datetime(2026, 1, 1, tzinfo=UTC))
    carried = evaluate(decision_input(LRSSS, at=datetime(2025, 5, 1, 15, tzinfo=UTC)), facts(consents=(with_end,)))
    assert carried.outcome == Outcome.DENY
    assert ReasonCode.CONSENT_GIVEN_UNDER_PREVIOUS_REGIME in codes(carried)


def test_8_the_same_consent_still_serves_under_the_lssss_before_the_switch() -> None:
    old = consent_fact(valid_from=datetime(2019, 4, 1, tzinfo=UTC), given_at=datetime(2019, 4, 1, tzinfo=UTC))
    decision = evaluate(decision_input(LSSSS, at=datetime(2024, 5, 1, 15, tzinfo=UTC)), facts(consents=(old,)))
    assert decision.outcome == Outcome.PERMIT and not decision.regime_superseded


def test_9_a_pinned_lssss_after_the_switch_says_it_is_superseded() -> None:
    at_switch = datetime(2024, 7, 1, 4, 0, tzinfo=UTC)  # 2024-07-01 00:00 in Québec
    consent = consent_fact(valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    lrsss_consent = dataclasses.replace(consent, valid_until=at_switch + timedelta(days=30), given_at=at_switch)
    before = evaluate(decision_input(LSSSS, at=at_switch - timedelta(minutes=1)), facts(consents=(consent,)))
    after = evaluate(decision_input(LSSSS, at=at_switch), facts(consents=(consent,)))
    lrsss = evaluate(decision_input(LRSSS, at=at_switch), facts(consents=(lrsss_consent,)))
    assert (before.regime_superseded, after.regime_superseded, lrsss.regime_superseded) == (False, True, False)
    assert after.outcome == Outcome.PERMIT, "a deployment may keep the LSSSS as its policy of record"
