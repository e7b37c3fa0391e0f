"""The rule tables first published (2026-11-25) still decide exactly as they did: one case per route that permits,
one per reason that denies. Every decision recorded under them re-evaluates to the same answer, so these cases
are those tables' behaviour, frozen — including what the current tables correct (a bare danger flag, anonymity
closing every route, art. 108 without its direction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest

from services.consent.engine import evaluate
from services.consent.policy import AgeBand, ComplaintBody, DecisionInput, Facts, ReasonCode, RuleStatus
from services.consent.rule_history import FIRST_LRSSS, FIRST_LSSSS
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    ConsentMethod,
    GrantorRole,
    InfoCategory,
    Obligation,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
)
from tests.consent.conftest import (
    FIRST_VERSION,
    RECIPIENT,
    T0,
    agreement_fact,
    consent_fact,
    facts,
    restriction_fact,
)
from tests.consent.conftest import decision_input as current_input

I = InfoCategory  # noqa: E741 -- short alias keeps the tables readable
LSSSS_REGIME = Regime.LSSSS_17_27_3
LSSSS, LRSSS = FIRST_LSSSS, FIRST_LRSSS


def decision_input(regime: Regime = LSSSS_REGIME, **overrides: Any) -> DecisionInput:
    return current_input(regime, regime_version=FIRST_VERSION[regime], **overrides)


@dataclass(frozen=True)
class Permit:
    name: str
    route: str
    request: dict[str, Any]
    facts: Facts
    permitted: tuple[InfoCategory, ...]
    obligations: tuple[Obligation, ...] = ()
    outcome: Outcome = Outcome.PERMIT
    status: RuleStatus = RuleStatus.VERIFIED
    regime: Regime = LSSSS_REGIME
    basis_ref: dict[str, str] = field(default_factory=dict)


PERMITS = [
    Permit(
        "consent of the person (14 or older) to a named recipient",
        "A-1",
        {},
        facts(consents=(consent_fact(),)),
        (I.IDENTIFICATION, I.CONTACT),
        basis_ref={"consent_id": "c-1"},
    ),
    Permit(
        "consent naming a kind of organisation",
        "A-1",
        {},
        facts(consents=(consent_fact(recipient_org_ids=(), recipient_kinds=(OrgKind.COMMUNITY_ORGANISATION,)),)),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "consent of the person at 14",
        "A-1",
        {},
        facts(
            consents=(
                consent_fact(age_band_at_start=AgeBand.MINOR_14_TO_17, age_band_at_decision=AgeBand.MINOR_14_TO_17),
            )
        ),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "parent's consent for a child under 14",
        "A-1",
        {},
        facts(
            consents=(
                consent_fact(
                    grantor_role=GrantorRole.PARENT,
                    age_band_at_start=AgeBand.UNDER_14,
                    age_band_at_decision=AgeBand.UNDER_14,
                ),
            )
        ),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "tutor's consent for a child under 14",
        "A-1",
        {},
        facts(
            consents=(
                consent_fact(
                    grantor_role=GrantorRole.TUTOR,
                    age_band_at_start=AgeBand.UNDER_14,
                    age_band_at_decision=AgeBand.UNDER_14,
                ),
            )
        ),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    *[
        Permit(
            f"{role.value.lower()}'s consent for an inapt adult",
            "A-1",
            {},
            facts(consents=(consent_fact(grantor_role=role),)),
            (I.IDENTIFICATION, I.CONTACT),
        )
        for role in (GrantorRole.TUTOR, GrantorRole.CURATOR, GrantorRole.MANDATARY, GrantorRole.CARE_SUBSTITUTE)
    ],
    Permit(
        "mandatary within the mandate's purposes",
        "A-1",
        {},
        facts(consents=(consent_fact(grantor_role=GrantorRole.MANDATARY, grantor_scope=(Purpose.REFERRAL,)),)),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "youth protection released by a consent naming it",
        "A-1",
        {"categories": (I.IDENTIFICATION, I.YOUTH_PROTECTION)},
        facts(consents=(consent_fact(categories=(I.IDENTIFICATION, I.YOUTH_PROTECTION)),)),
        (I.IDENTIFICATION, I.YOUTH_PROTECTION),
    ),
    Permit(
        "consent partly covering the categories: the rest is listed as denied",
        "A-1",
        {"categories": (I.IDENTIFICATION, I.ASSESSMENT)},
        facts(consents=(consent_fact(),)),
        (I.IDENTIFICATION,),
        outcome=Outcome.PERMIT_PARTIAL,
    ),
    Permit(
        "consent still valid until its withdrawal time",
        "A-1",
        {},
        facts(consents=(consent_fact(withdrawn_at=T0 + timedelta(seconds=1)),)),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "user's request to transfer to an establishment (art. 24)",
        "A-2",
        {"purpose": Purpose.USER_REQUESTED_TRANSFER, "context": {"user_request": True}},
        facts(recipient_kind=OrgKind.ESTABLISHMENT),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.NOTE_IN_RECORD,),
    ),
    Permit(
        "user's request to transfer to a professional (art. 24)",
        "A-2",
        {"purpose": Purpose.USER_REQUESTED_TRANSFER, "context": {"user_request": True}},
        facts(recipient_kind=OrgKind.PROFESSIONAL),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.NOTE_IN_RECORD,),
    ),
    Permit(
        "active art. 108 service agreement, services on the discloser's behalf",
        "A-3",
        {"purpose": Purpose.SERVICE_ON_BEHALF, "categories": (I.IDENTIFICATION, I.REFERRAL_REASON)},
        facts(agreements=(agreement_fact(),)),
        (I.IDENTIFICATION, I.REFERRAL_REASON),
        (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY),
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
        basis_ref={"agreement_id": "ag-1"},
    ),
    Permit(
        "art. 108 releases only the agreement's information-sharing categories",
        "A-3",
        {"purpose": Purpose.SERVICE_ON_BEHALF, "categories": (I.IDENTIFICATION, I.ASSESSMENT)},
        facts(agreements=(agreement_fact(),)),
        (I.IDENTIFICATION,),
        (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY),
        outcome=Outcome.PERMIT_PARTIAL,
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
    ),
    Permit(
        "mandate or service contract with undertakings (art. 27.1)",
        "A-5",
        {
            "purpose": Purpose.MANDATE_CONTRACT,
            "context": {"mandate_contract_ref": "CT-2026-17", "undertakings_received": True},
        },
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY, Obligation.CONFIDENTIALITY_UNDERTAKINGS),
    ),
    Permit(
        "danger: only identification, contact and risk assessment (art. 19.0.1)",
        "A-6",
        {
            "purpose": Purpose.EMERGENCY,
            "categories": (I.IDENTIFICATION, I.CONTACT, I.RISK_ASSESSMENT, I.ASSESSMENT, I.HEALTH),
            "context": {"danger": True},
        },
        facts(),
        (I.IDENTIFICATION, I.CONTACT, I.RISK_ASSESSMENT),
        (Obligation.NOTE_IN_RECORD, Obligation.MINIMUM_NECESSARY, Obligation.AUTHORISED_DISCLOSER_ONLY),
        outcome=Outcome.PERMIT_PARTIAL,
    ),
    Permit(
        "court or coroner order (art. 19 para. 1)",
        "A-7",
        {"purpose": Purpose.LEGAL_ORDER, "context": {"court_order_ref": "500-17-000001-261"}},
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.ORDER_SCOPE_ONLY,),
    ),
    Permit(
        "complaints commissioner (art. 19 para. 2)",
        "A-8",
        {"purpose": Purpose.COMPLAINT_QUALITY, "context": {"complaint_body": ComplaintBody.COMPLAINTS_COMMISSIONER}},
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "research with written, time-limited consent (art. 19.1)",
        "A-9",
        {"purpose": Purpose.RESEARCH},
        facts(consents=(consent_fact(purposes=(Purpose.RESEARCH,), valid_until=T0 + timedelta(days=365)),)),
        (I.IDENTIFICATION, I.CONTACT),
    ),
    Permit(
        "research authorised by the DPS (art. 19.2)",
        "A-10",
        {
            "purpose": Purpose.RESEARCH,
            "context": {
                "research_authorisation_ref": "DSP-2026-4",
                "research_authorisation_until": T0 + timedelta(days=90),
            },
        },
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.MINIMUM_NECESSARY, Obligation.CONFIDENTIALITY_UNDERTAKINGS, Obligation.NO_REDISCLOSURE),
    ),
    # LRSSS (B rows): every communication is registered (B-7).
    Permit(
        "LRSSS: express consent",
        "B-1",
        {},
        facts(consents=(consent_fact(),)),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.REGISTER_ENTRY,),
        regime=Regime.LRSSS,
    ),
    Permit(
        "LRSSS: care flow to an establishment",
        "B-2",
        {},
        facts(recipient_kind=OrgKind.CSSS),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY),
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
        regime=Regime.LRSSS,
    ),
    Permit(
        "LRSSS: serious risk (s. 74)",
        "B-5",
        {"purpose": Purpose.EMERGENCY, "categories": (I.CONTACT, I.HEALTH), "context": {"danger": True}},
        facts(),
        (I.CONTACT,),
        (Obligation.REGISTER_ENTRY, Obligation.NOTE_IN_RECORD, Obligation.MINIMUM_NECESSARY),
        outcome=Outcome.PERMIT_PARTIAL,
        regime=Regime.LRSSS,
    ),
    Permit(
        "LRSSS: mandate or contract (s. 77)",
        "B-6",
        {
            "purpose": Purpose.MANDATE_CONTRACT,
            "context": {"mandate_contract_ref": "CT-9", "undertakings_received": True},
        },
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY, Obligation.CONFIDENTIALITY_UNDERTAKINGS),
        regime=Regime.LRSSS,
    ),
    Permit(
        "LRSSS: court order",
        "B-8",
        {"purpose": Purpose.LEGAL_ORDER, "context": {"court_order_ref": "500-17-000002-261"}},
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.REGISTER_ENTRY, Obligation.ORDER_SCOPE_ONLY),
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
        regime=Regime.LRSSS,
    ),
    Permit(
        "LRSSS: complaints body",
        "B-9",
        {"purpose": Purpose.COMPLAINT_QUALITY, "context": {"complaint_body": ComplaintBody.CMDP}},
        facts(),
        (I.IDENTIFICATION, I.CONTACT),
        (Obligation.REGISTER_ENTRY,),
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
        regime=Regime.LRSSS,
    ),
]


@pytest.mark.parametrize("case", PERMITS, ids=[c.name for c in PERMITS])
def test_route_permits(case: Permit) -> None:
    decision = evaluate(decision_input(case.regime, **case.request), case.facts)

    assert decision.outcome == case.outcome
    assert decision.permitted_categories == case.permitted
    requested = decision_input(case.regime, **case.request).categories
    assert set(decision.denied_categories) == set(requested) - set(case.permitted)
    assert [b.route for b in decision.basis] == [case.route]
    assert decision.basis[0].status == case.status
    assert decision.basis[0].regime == case.regime
    for key, value in case.basis_ref.items():
        assert getattr(decision.basis[0], key) == value
    assert set(decision.obligations) == set(case.obligations)
    assert (decision.reasons == ()) == (case.outcome == Outcome.PERMIT)


def test_every_route_of_both_tables_has_a_permitting_case() -> None:
    covered = {c.route for c in PERMITS}
    assert {r.id for r in LSSSS.routes} | {r.id for r in LRSSS.routes} <= covered


@dataclass(frozen=True)
class Deny:
    name: str
    reason: ReasonCode
    request: dict[str, Any]
    facts: Facts
    regime: Regime = LSSSS_REGIME
    detail: str | None = None


ADULT_SELF = {"grantor_role": GrantorRole.SELF}
DENIALS = [
    Deny("no consent on file", ReasonCode.NO_CONSENT, {}, facts()),
    Deny("nothing applies to research without consent", ReasonCode.NO_ROUTE, {"purpose": Purpose.RESEARCH}, facts()),
    Deny(
        "consent expired",
        ReasonCode.CONSENT_EXPIRED,
        {},
        facts(consents=(consent_fact(valid_until=T0 - timedelta(days=1)),)),
    ),
    Deny(
        "consent expires at its end instant (exclusive)",
        ReasonCode.CONSENT_EXPIRED,
        {},
        facts(consents=(consent_fact(valid_until=T0),)),
    ),
    Deny(
        "consent withdrawn before the decision time",
        ReasonCode.CONSENT_WITHDRAWN,
        {},
        facts(consents=(consent_fact(withdrawn_at=T0 - timedelta(hours=1)),)),
    ),
    Deny(
        "consent withdrawn at the decision time",
        ReasonCode.CONSENT_WITHDRAWN,
        {},
        facts(consents=(consent_fact(withdrawn_at=T0),)),
    ),
    Deny(
        "consent not yet in effect",
        ReasonCode.CONSENT_NOT_YET_VALID,
        {},
        facts(consents=(consent_fact(valid_from=T0 + timedelta(days=1)),)),
    ),
    Deny(
        "the person under 14 consenting alone",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE,
        {},
        facts(consents=(consent_fact(age_band_at_start=AgeBand.UNDER_14, age_band_at_decision=AgeBand.UNDER_14),)),
        detail="SELF:UNDER_14",
    ),
    Deny(
        "a parent consenting for a 15-year-old",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE,
        {},
        facts(
            consents=(
                consent_fact(
                    grantor_role=GrantorRole.PARENT,
                    age_band_at_start=AgeBand.MINOR_14_TO_17,
                    age_band_at_decision=AgeBand.MINOR_14_TO_17,
                ),
            )
        ),
    ),
    Deny(
        "a parent's consent given at 13 no longer holds at 14",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE,
        {},
        facts(
            consents=(
                consent_fact(
                    grantor_role=GrantorRole.PARENT,
                    age_band_at_start=AgeBand.UNDER_14,
                    age_band_at_decision=AgeBand.MINOR_14_TO_17,
                ),
            )
        ),
        detail="PARENT:MINOR_14_TO_17",
    ),
    Deny(
        "a parent consenting for an adult",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE,
        {},
        facts(consents=(consent_fact(grantor_role=GrantorRole.PARENT),)),
    ),
    Deny(
        "a curator consenting for a child",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE,
        {},
        facts(
            consents=(
                consent_fact(
                    grantor_role=GrantorRole.CURATOR,
                    age_band_at_start=AgeBand.UNDER_14,
                    age_band_at_decision=AgeBand.UNDER_14,
                ),
            )
        ),
    ),
    Deny(
        "the person who may consent to care, beyond care",
        ReasonCode.GRANTOR_OUTSIDE_ROLE,
        {"purpose": Purpose.MANDATE_CONTRACT},
        facts(consents=(consent_fact(grantor_role=GrantorRole.CARE_SUBSTITUTE, purposes=(Purpose.MANDATE_CONTRACT,)),)),
    ),
    Deny(
        "a mandatary beyond the mandate",
        ReasonCode.GRANTOR_OUTSIDE_ROLE,
        {"purpose": Purpose.JOINT_FOLLOW_UP},
        facts(
            consents=(
                consent_fact(
                    grantor_role=GrantorRole.MANDATARY,
                    grantor_scope=(Purpose.REFERRAL,),
                    purposes=(Purpose.REFERRAL, Purpose.JOINT_FOLLOW_UP),
                ),
            )
        ),
    ),
    Deny(
        "wrong recipient",
        ReasonCode.RECIPIENT_NOT_COVERED,
        {},
        facts(consents=(consent_fact(recipient_org_ids=("org-other",)),)),
    ),
    Deny(
        "recipient of another kind than consented",
        ReasonCode.RECIPIENT_NOT_COVERED,
        {},
        facts(consents=(consent_fact(recipient_org_ids=(), recipient_kinds=(OrgKind.PROFESSIONAL,)),)),
    ),
    Deny(
        "wrong purpose",
        ReasonCode.PURPOSE_NOT_COVERED,
        {"purpose": Purpose.JOINT_FOLLOW_UP},
        facts(consents=(consent_fact(),)),
    ),
    Deny(
        "category not covered by the consent",
        ReasonCode.CATEGORY_NOT_COVERED,
        {"categories": (I.ASSESSMENT,)},
        facts(consents=(consent_fact(),)),
    ),
    Deny(
        "third-party information on a general consent",
        ReasonCode.SENSITIVE_CATEGORY_NOT_NAMED,
        {"categories": (I.THIRD_PARTY_SUPPLIED,)},
        facts(consents=(consent_fact(),)),
    ),
    Deny(
        "youth protection under a service agreement (no consent naming it)",
        ReasonCode.SENSITIVE_CATEGORY_NOT_NAMED,
        {"purpose": Purpose.SERVICE_ON_BEHALF, "categories": (I.YOUTH_PROTECTION,)},
        facts(agreements=(agreement_fact(),)),
    ),
    Deny(
        "collaboration agreement only",
        ReasonCode.COLLABORATION_AGREEMENT_ONLY,
        {"purpose": Purpose.SERVICE_ON_BEHALF},
        facts(agreements=(agreement_fact(kind=AgreementKind.COLLABORATION, information_sharing=()),)),
    ),
    *[
        Deny(
            f"service agreement {status.value.lower()} at that date",
            ReasonCode.AGREEMENT_NOT_IN_FORCE,
            {"purpose": Purpose.SERVICE_ON_BEHALF},
            facts(agreements=(agreement_fact(status=status),)),
            detail=status.value,
        )
        for status in (
            AgreementStatus.SUSPENDED,
            AgreementStatus.EXPIRED,
            AgreementStatus.TERMINATED,
            AgreementStatus.DRAFT,
            AgreementStatus.SIGNED,
        )
    ],
    Deny(
        "service agreement past its end date (not yet marked expired)",
        ReasonCode.AGREEMENT_NOT_IN_FORCE,
        {"purpose": Purpose.SERVICE_ON_BEHALF},
        facts(agreements=(agreement_fact(end=date(2026, 11, 24)),)),
        detail="OUTSIDE_TERM",
    ),
    Deny(
        "service agreement for another purpose than services on the discloser's behalf",
        ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE,
        {"purpose": Purpose.REFERRAL},
        facts(agreements=(agreement_fact(),)),
    ),
    Deny(
        "danger declared for a research purpose",
        ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE,
        {"purpose": Purpose.RESEARCH, "context": {"danger": True}},
        facts(),
    ),
    Deny(
        "anonymous person, even with a consent and a danger",
        ReasonCode.ANONYMOUS,
        {"purpose": Purpose.EMERGENCY, "context": {"anonymous": True, "danger": True}},
        facts(consents=(consent_fact(purposes=(Purpose.EMERGENCY,)),)),
    ),
    Deny(
        "user's request to a community organisation",
        ReasonCode.RECIPIENT_KIND_NOT_ELIGIBLE,
        {"purpose": Purpose.USER_REQUESTED_TRANSFER, "context": {"user_request": True}},
        facts(recipient_kind=OrgKind.COMMUNITY_ORGANISATION),
        detail="COMMUNITY_ORGANISATION",
    ),
    Deny(
        "user's request to a recipient missing from the directory",
        ReasonCode.RECIPIENT_KIND_UNKNOWN,
        {"purpose": Purpose.USER_REQUESTED_TRANSFER, "context": {"user_request": True}},
        facts(recipient_kind=None),
    ),
    Deny(
        "mandate without confidentiality undertakings",
        ReasonCode.UNDERTAKINGS_NOT_RECEIVED,
        {"purpose": Purpose.MANDATE_CONTRACT, "context": {"mandate_contract_ref": "CT-1"}},
        facts(),
    ),
    Deny(
        "research authorisation expired",
        ReasonCode.RESEARCH_AUTHORISATION_NOT_IN_FORCE,
        {
            "purpose": Purpose.RESEARCH,
            "context": {"research_authorisation_ref": "DSP-1", "research_authorisation_until": T0 - timedelta(days=1)},
        },
        facts(),
    ),
    Deny(
        "research authorisation without a period",
        ReasonCode.RESEARCH_AUTHORISATION_NOT_IN_FORCE,
        {"purpose": Purpose.RESEARCH, "context": {"research_authorisation_ref": "DSP-1"}},
        facts(),
    ),
    Deny(
        "research on a verbal consent",
        ReasonCode.CONSENT_NOT_WRITTEN,
        {"purpose": Purpose.RESEARCH},
        facts(
            consents=(
                consent_fact(
                    purposes=(Purpose.RESEARCH,),
                    method=ConsentMethod.VERBAL_WITNESSED,
                    valid_until=T0 + timedelta(days=30),
                ),
            )
        ),
    ),
    Deny(
        "research on a consent without end",
        ReasonCode.CONSENT_WITHOUT_END,
        {"purpose": Purpose.RESEARCH},
        facts(consents=(consent_fact(purposes=(Purpose.RESEARCH,)),)),
    ),
    Deny(
        "LRSSS: care flow to a community organisation",
        ReasonCode.RECIPIENT_KIND_NOT_ELIGIBLE,
        {},
        facts(recipient_kind=OrgKind.COMMUNITY_ORGANISATION),
        regime=Regime.LRSSS,
    ),
    Deny(
        "LRSSS: the person restricted this recipient (s. 7)",
        ReasonCode.SUBJECT_RESTRICTION,
        {"categories": (I.HEALTH,)},
        facts(
            consents=(consent_fact(categories=(I.HEALTH,)),),
            restrictions=(restriction_fact(),),
        ),
        regime=Regime.LRSSS,
        detail="r-1",
    ),
    Deny(
        "LRSSS: the person refused researchers (s. 8)",
        ReasonCode.SUBJECT_RESTRICTION,
        {"purpose": Purpose.RESEARCH},
        facts(
            consents=(consent_fact(purposes=(Purpose.RESEARCH,)),),
            restrictions=(restriction_fact(recipient_org_ids=(), purposes=(Purpose.RESEARCH,), categories=()),),
        ),
        regime=Regime.LRSSS,
    ),
]


@pytest.mark.parametrize("case", DENIALS, ids=[c.name for c in DENIALS])
def test_denial_reason(case: Deny) -> None:
    request = decision_input(case.regime, **case.request)

    decision = evaluate(request, case.facts)

    assert decision.outcome == Outcome.DENY
    assert decision.permitted_categories == ()
    assert decision.basis == ()
    assert decision.obligations == ()
    assert set(decision.denied_categories) == set(request.categories), "denied categories are listed, not dropped"
    codes = [r.code for r in decision.reasons]
    assert case.reason in codes
    if case.detail is not None:
        assert case.detail in [r.detail for r in decision.reasons if r.code == case.reason]


def test_anonymous_overrides_every_route() -> None:
    request = decision_input(
        purpose=Purpose.LEGAL_ORDER,
        context={"anonymous": True, "court_order_ref": "500-1", "danger": True, "user_request": True},
    )
    decision = evaluate(request, facts(recipient_kind=OrgKind.CSSS, consents=(consent_fact(),)))
    assert decision.outcome == Outcome.DENY
    assert [r.code for r in decision.reasons] == [ReasonCode.ANONYMOUS]


def test_a_withdrawn_consent_does_not_hide_another_valid_one() -> None:
    withdrawn = consent_fact(consent_id="c-old", withdrawn_at=T0 - timedelta(days=2))
    valid = consent_fact(consent_id="c-new", valid_from=T0 - timedelta(days=1))
    decision = evaluate(decision_input(), facts(consents=(withdrawn, valid)))
    assert decision.outcome == Outcome.PERMIT
    assert [b.consent_id for b in decision.basis] == ["c-new"]


def test_categories_are_combined_across_routes_each_with_its_basis() -> None:
    request = decision_input(
        purpose=Purpose.SERVICE_ON_BEHALF, categories=(I.IDENTIFICATION, I.ASSESSMENT, I.HEALTH, I.REFERRAL_REASON)
    )
    consent = consent_fact(purposes=(Purpose.SERVICE_ON_BEHALF,), categories=(I.ASSESSMENT, I.IDENTIFICATION))
    decision = evaluate(request, facts(consents=(consent,), agreements=(agreement_fact(),)))

    assert decision.outcome == Outcome.PERMIT_PARTIAL
    assert decision.permitted_categories == (I.IDENTIFICATION, I.REFERRAL_REASON, I.ASSESSMENT)
    assert decision.denied_categories == (I.HEALTH,)
    assert [(b.route, b.categories) for b in decision.basis] == [
        ("A-1", (I.IDENTIFICATION, I.ASSESSMENT)),
        ("A-3", (I.REFERRAL_REASON,)),
    ]
    assert set(decision.obligations) == {Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY}


def test_the_same_referral_to_an_establishment_needs_consent_under_lssss_but_not_under_lrsss() -> None:
    establishment = facts(recipient_kind=OrgKind.ESTABLISHMENT)
    assert evaluate(decision_input(Regime.LSSSS_17_27_3), establishment).outcome == Outcome.DENY
    assert evaluate(decision_input(Regime.LRSSS), establishment).outcome == Outcome.PERMIT


def test_a_lifted_restriction_no_longer_bars() -> None:
    restriction = restriction_fact(lifted_at=T0 - timedelta(minutes=1))
    decision = evaluate(
        decision_input(Regime.LRSSS, categories=(I.HEALTH,)),
        facts(consents=(consent_fact(categories=(I.HEALTH,)),), restrictions=(restriction,)),
    )
    assert decision.outcome == Outcome.PERMIT


def test_restrictions_are_not_part_of_the_lssss_table() -> None:
    decision = evaluate(
        decision_input(categories=(I.HEALTH,)),
        facts(consents=(consent_fact(categories=(I.HEALTH,)),), restrictions=(restriction_fact(),)),
    )
    assert decision.outcome == Outcome.PERMIT


def test_recipient_of_the_consent_by_id_even_when_not_in_the_directory() -> None:
    decision = evaluate(
        decision_input(), facts(recipient_kind=None, consents=(consent_fact(recipient_org_ids=(RECIPIENT,)),))
    )
    assert decision.outcome == Outcome.PERMIT
