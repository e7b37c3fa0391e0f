"""Payloads of the consent context's integration events.

`rls.consent.decisions.v1`: every decision, with the regime and regime version applied and the whole input and
facts it was made from, so an auditor can re-evaluate it later and must get the same answer.
`rls.consent.v1` (internal): consents, withdrawals, restrictions and disclosure register entries.
No record information anywhere: categories are codes, the person is a pseudonymous `subject_id`, and a consent
carries the person's age band, never the birth date.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.contract.base import EventData
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
    Obligation,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
    RequesterRole,
    ServiceCode,
)

AgeBand = Literal["UNDER_14", "MINOR_14_TO_17", "ADULT"]
RuleStatus = Literal["VERIFIED", "NEEDS_LEGAL_REVIEW"]
ComplaintBody = Literal["COMPLAINTS_COMMISSIONER", "MEDICAL_EXAMINER", "REVIEW_COMMITTEE", "CMDP"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DangerAssessmentV1(_Part):
    """The conditions of art. 19.0.1 / LRSSS s. 74 as the discloser stated them (null: not stated)."""

    act: DangerAct | None = None
    risk: DangerRisk | None = None
    at_risk: AtRisk | None = None
    urgent: bool | None = None
    recipient_role: DangerRecipientRole | None = None
    authorised_by: str | None = None
    ref: str | None = None


class MandateV1(_Part):
    ref: str | None = None
    written: bool | None = None
    term_end: date | None = None
    for_care: bool | None = None
    clauses_present: bool | None = None
    undertakings_received: bool | None = None


class MinorRequestV1(_Part):
    youth_protection_intervention: bool | None = None
    objects: bool | None = None
    harm_likely: bool | None = None


class RepresentationV1(_Part):
    """A representative's request (art. 22): the mandate cited and the categories exercising it requires (an empty
    list or no reference: not stated, and the route permits nothing)."""

    mandate_ref: str | None = None
    categories: list[InfoCategory] = []


class DecisionContextV1(_Part):
    danger: bool = False
    court_order_ref: str | None = None
    user_request: bool = False
    anonymous: bool = False
    complaint_body: ComplaintBody | None = None
    mandate_contract_ref: str | None = None
    undertakings_received: bool = False
    research_authorisation_ref: str | None = None
    research_authorisation_until: datetime | None = None
    danger_assessment: DangerAssessmentV1 | None = None
    mandate: MandateV1 | None = None
    subject_deceased_on: date | None = None
    requester_role: RequesterRole | None = None
    minor: MinorRequestV1 | None = None
    representation: RepresentationV1 | None = None
    """Absent in decisions recorded before the tables of 2026-12-03."""


class LegalSettingsV1(_Part):
    """A deployment's legal settings (its rule tables' versions depend on them)."""

    danger_amendment: date
    disabled_routes: list[str]
    lrsss_consent_max_months: int = Field(ge=1, le=120)


class DecisionInputV1(_Part):
    """What was asked, with the regime and rule-table version it was decided under."""

    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    purpose: Purpose
    categories: list[InfoCategory]
    at: datetime
    regime: Regime
    regime_version: str
    context: DecisionContextV1
    recipient_service: ServiceCode | None = None
    disclosed_at: datetime | None = None
    """A disclosure: when the consent service recorded it (the consent must still hold then; null for a decision
    and in decisions recorded before 2026-12-03)."""
    legal: LegalSettingsV1 | None = None
    """The deciding deployment's legal settings when not the defaults (null, or absent before 2026-12-02's review):
    re-evaluation applies the tables of those settings."""


class ConsentFactV1(_Part):
    consent_id: str
    grantor_role: GrantorRole
    grantor_scope: list[Purpose] | None
    age_band_at_start: AgeBand
    age_band_at_decision: AgeBand
    method: ConsentMethod
    purposes: list[Purpose]
    recipient_org_ids: list[str]
    """Of the organisations the consent names as recipients, the decision's recipient (all of them in decisions
    recorded before 2026-12-02): the engine asks only whether it names the parties."""
    recipient_kinds: list[OrgKind]
    categories: list[InfoCategory]
    valid_from: datetime
    valid_until: datetime | None
    withdrawn_at: datetime | None
    given_at: datetime | None = None
    age_band_when_given: AgeBand | None = None
    recorded_by_org: str | None = None
    """The organisation holding the consent (null in decisions recorded before 2026-12-03)."""
    discloser_org_ids: list[str] = []
    """Of the organisations the consent authorises to communicate besides its holder, the decision's discloser (all
    of them in decisions recorded before 2026-12-02)."""


class OnBehalfFactV1(_Part):
    of_org: str
    services: list[ServiceCode]


class AgreementFactV1(_Part):
    agreement_id: str
    kind: AgreementKind
    status: AgreementStatus
    parties: list[str]
    start: date
    end: date | None
    information_sharing: list[InfoCategory]
    state_since: datetime
    on_behalf: list[OnBehalfFactV1] = []


class RestrictionFactV1(_Part):
    restriction_id: str
    recipient_org_ids: list[str]
    """Of the organisations the restriction names, the decision's recipient (all of them in decisions recorded
    before 2026-12-02)."""
    recipient_kinds: list[OrgKind]
    purposes: list[Purpose]
    categories: list[InfoCategory]
    valid_from: datetime
    lifted_at: datetime | None
    bars_unknown_kind: bool = False
    """It also restricts a recipient whose kind is unknown (false or absent in decisions recorded before
    2026-12-02)."""


class RefusalFactV1(_Part):
    refusal_id: str
    requester_roles: list[RequesterRole]
    given_at: datetime
    withdrawn_at: datetime | None


class DecisionFactsV1(_Part):
    """What was known at the decision time: the recipient's and the discloser's kinds, the subject's consents,
    restrictions and written refusals, the person's age band (never the birth date) and where it comes from
    (`subject_age_from`: REQUEST, the birth date given with the request, or the id of the consent on file whose birth
    date gave it; null when no band is known or in decisions recorded before 2026-12-02), the agreements between the
    parties in the state they were in at that time (`agreements`) and, for a disclosure, when it was recorded
    (`agreements_when_disclosed`)."""

    recipient_kind: OrgKind | None
    consents: list[ConsentFactV1]
    agreements: list[AgreementFactV1]
    restrictions: list[RestrictionFactV1]
    discloser_kind: OrgKind | None = None
    subject_age_band: AgeBand | None = None
    subject_age_band_at_death: AgeBand | None = None
    refusals: list[RefusalFactV1] = []
    subject_age_from: str | None = None
    agreements_when_disclosed: list[AgreementFactV1] = []
    """A disclosure: the agreements between the parties in the state they were in when it was recorded
    (`input.disclosed_at`); empty for a decision and in decisions recorded before the rule tables of 2026-12-05."""


class BasisV1(_Part):
    regime: Regime
    route: str
    article: str
    status: RuleStatus
    categories: list[InfoCategory]
    consent_id: str | None = None
    agreement_id: str | None = None
    discloser_kind: OrgKind | None = None


class ReasonV1(_Part):
    code: str
    route: str | None = None
    categories: list[InfoCategory]
    consent_id: str | None = None
    agreement_id: str | None = None
    detail: str | None = None


class ConsentDecidedV1(EventData):
    """A decision of the consent service (decide-only or a disclosure)."""

    decision_id: str
    kind: Literal["DECISION", "DISCLOSURE"]
    outcome: Outcome
    permitted_categories: list[InfoCategory]
    denied_categories: list[InfoCategory]
    basis: list[BasisV1]
    obligations: list[Obligation]
    regime: Regime
    regime_version: str
    regime_superseded: bool = False
    """The regime applied had been repealed at the disclosure date (a deployment pinned to it)."""
    reasons: list[ReasonV1]
    input: DecisionInputV1
    facts: DecisionFactsV1
    requested_by_org: str
    register_entry_id: str | None = None
    occurred_at: datetime


DecisionPart = Literal["discloser", "recipient", "requester"]
DECISION_PARTIES: tuple[DecisionPart, ...] = ("discloser", "recipient", "requester")
"""The organisations a decision concerns, by their part in it: its discloser, its recipient and the organisation that
asked for it (`requested_by_org`). Their auditors read it and re-run it: the consent service's policy and the audit's
re-check both take the parties from here, so what one asks the other admits."""


def decision_parties(
    discloser_org_id: str | None, recipient_org_id: str | None, requested_by_org: str | None
) -> dict[str, str | None]:
    """The organisations a decision (`ConsentDecidedV1`: its input's two, and its requester) concerns, by part."""
    return {"discloser": discloser_org_id, "recipient": recipient_org_id, "requester": requested_by_org}


class ConsentRecordedV1(EventData):
    consent_id: str
    subject_id: str
    grantor_role: GrantorRole
    grantor_scope: list[Purpose] | None = None
    age_band_at_start: AgeBand
    method: ConsentMethod
    purposes: list[Purpose]
    recipient_org_ids: list[str]
    recipient_kinds: list[OrgKind]
    categories: list[InfoCategory]
    valid_from: datetime
    valid_until: datetime | None = None
    recorded_by_org: str
    occurred_at: datetime
    discloser_org_ids: list[str] = Field(default_factory=list)
    """The organisations the consent authorises to communicate besides `recorded_by_org` (empty: it alone)."""


class ConsentWithdrawnV1(EventData):
    consent_id: str
    subject_id: str
    withdrawn_at: datetime
    withdrawn_by_org: str
    occurred_at: datetime


class RestrictionRecordedV1(EventData):
    restriction_id: str
    subject_id: str
    recipient_org_ids: list[str]
    recipient_kinds: list[OrgKind]
    purposes: list[Purpose]
    categories: list[InfoCategory]
    valid_from: datetime
    recorded_by_org: str
    occurred_at: datetime


class RestrictionLiftedV1(EventData):
    restriction_id: str
    subject_id: str
    lifted_at: datetime
    occurred_at: datetime


class DisclosureRegisteredV1(EventData):
    """An entry of the disclosure register: who received what, when, why and under which article."""

    register_entry_id: str
    decision_id: str
    at: datetime
    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    categories: list[InfoCategory]
    purpose: Purpose
    route: str
    article: str
    bases: list[BasisV1]
    obligations: list[Obligation]
    regime: Regime
    occurred_at: datetime
    reference: str | None = None
    """What the disclosure rests on (consents, agreements, the mandate, order or danger assessment cited)."""
    disclosed_by: str | None = None
    """The worker who disclosed (their token's `sub`)."""
    regime_superseded: bool = False


class RefusalRecordedV1(EventData):
    """A person's written refusal that relatives in these roles be told of their death (art. 23)."""

    refusal_id: str
    subject_id: str
    requester_roles: list[RequesterRole]
    given_at: datetime
    recorded_by_org: str
    occurred_at: datetime


class RefusalWithdrawnV1(EventData):
    refusal_id: str
    subject_id: str
    withdrawn_at: datetime
    occurred_at: datetime


EVENTS: dict[str, type[EventData]] = {
    "ca.qc.rls.consent.decided.v1": ConsentDecidedV1,
    "ca.qc.rls.consent.recorded.v1": ConsentRecordedV1,
    "ca.qc.rls.consent.withdrawn.v1": ConsentWithdrawnV1,
    "ca.qc.rls.consent.restriction-recorded.v1": RestrictionRecordedV1,
    "ca.qc.rls.consent.restriction-lifted.v1": RestrictionLiftedV1,
    "ca.qc.rls.consent.disclosure-registered.v1": DisclosureRegisteredV1,
    "ca.qc.rls.consent.refusal-recorded.v1": RefusalRecordedV1,
    "ca.qc.rls.consent.refusal-withdrawn.v1": RefusalWithdrawnV1,
}
