"""Request and response bodies of the agreements API (XCreate / XPublic)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.agreements.application import Coverage, VolumeLine
from services.agreements.domain import MAX_REVIEW_MONTHS, Agreement, Proposal, Signature, TermsVersion
from services.agreements.terms import FIRST_DAY, LAST_DAY, Terms
from services.agreements.terms import Funding as FundingTerms
from services.agreements.terms import OnBehalf as OnBehalfTerms
from services.agreements.terms import Volume as VolumeTerms
from services.agreements.views import Change, OrganisationEntry
from services.common.params import Day
from services.contract.agreements_events import HoursExceptionV1, ServiceHoursV1, WeeklyOpeningV1
from services.contract.codes import (
    ORG_ID_PATTERN,
    AgreementKind,
    AgreementStatus,
    InfoCategory,
    OrgKind,
    ServiceCode,
)

TEXT = 500

AgreementDay = Annotated[Day, Field(ge=FIRST_DAY, le=LAST_DAY)]
"""A date of an agreement or of service hours: from 1900-01-01 to 9998-12-31 (the calendar holds the day after)."""


class OrganisationCreate(BaseModel):
    """An organisation of the network (CSSS, establishment, community organisation, …) and its services."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        default_factory=lambda: f"org-{uuid.uuid4().hex[:12]}",
        pattern=ORG_ID_PATTERN,
        description="Chosen id (generated when absent); it becomes part of Kafka topic names",
    )
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    territory: str = Field(min_length=1, max_length=100)
    services: list[ServiceCode] = Field(default_factory=list)


class OrganisationPublic(BaseModel):
    id: str
    name: str
    kind: OrgKind
    territory: str
    services: list[ServiceCode]

    @classmethod
    def of(cls, o: OrganisationEntry) -> OrganisationPublic:
        return cls(id=o.org_id, name=o.name, kind=o.kind, territory=o.territory, services=list(o.services))


class OrganisationPage(BaseModel):
    items: list[OrganisationPublic]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page (absent: last page)")


class Volume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceCode
    per_year: int = Field(gt=0, le=10_000_000)


class Funding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(pattern=r"^\d{1,12}(\.\d{1,2})?$", description="Decimal amount, e.g. 125000.00")
    currency: str = Field("CAD", pattern=r"^[A-Z]{3}$")


class InformationSharing(BaseModel):
    """The information-sharing clause: categories of record information the agreement lets travel."""

    model_config = ConfigDict(extra="forbid")

    categories: list[InfoCategory] = Field(min_length=1)


class OnBehalfIn(BaseModel):
    """Services the other parties provide on behalf of an institution party (art. 108 para. 1): only for these
    does the information-sharing clause carry record information without consent."""

    model_config = ConfigDict(extra="forbid")

    of_org: str = Field(max_length=64, description="The institution party (CSSS, establishment, regional)")
    services: list[ServiceCode] = Field(min_length=1, description="Services the agreement covers")


class _TermsFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    parties: list[str] = Field(min_length=1, max_length=100, description="Organisation ids (≥ 2)")
    services: list[ServiceCode] = Field(min_length=1)
    clientele: str = Field(min_length=1, max_length=TEXT)
    start: AgreementDay
    end: AgreementDay | None = None
    volumes: list[Volume] | None = None
    funding: Funding | None = None
    information_sharing: InformationSharing | None = None
    on_behalf: list[OnBehalfIn] = Field(
        default_factory=list, max_length=100, description="SERVICE_108 only: services provided on whose behalf"
    )
    mechanisms: list[str] = Field(default_factory=list, max_length=50)
    responsibilities: list[str] = Field(default_factory=list, max_length=50)
    review_every_months: int = Field(12, ge=1, le=MAX_REVIEW_MONTHS)
    respects_community_orientations: bool | None = Field(
        None,
        description="An agreement with a community organisation respects its orientations and approaches "
        "(recorded as true when a party is a community organisation; false is then refused)",
    )


class AgreementCreate(_TermsFields):
    """A service agreement (art. 108: end and volumes required) or a collaboration agreement (no volumes,
    funding or information sharing)."""

    kind: AgreementKind

    def terms(self) -> Terms:
        return Terms(kind=self.kind, **term_changes(self, exclude={"kind"}))


UNCHANGED: Any = None
"""The default of a required term in an amendment: absent, it stays as it is. Its type is not nullable, so a null
is refused (422 naming it): a required term is changed, never removed (one stored as null before this rule reads as
not amended, `Terms.amended`)."""


class AgreementAmend(BaseModel):
    """The fields to change (absent: unchanged; null: removed, for a term an agreement may lack: end, volumes,
    funding, information_sharing, on_behalf, mechanisms, responsibilities, respects_community_orientations); the
    result must satisfy the kind's rules. A required term (kind, title, parties, services, clientele, start,
    review_every_months) is changed, never removed: null → 422 naming it."""

    model_config = ConfigDict(extra="forbid")

    kind: AgreementKind = UNCHANGED
    title: str = Field(UNCHANGED, min_length=1, max_length=300)
    parties: list[str] = Field(UNCHANGED, min_length=1, max_length=100)
    services: list[ServiceCode] = Field(UNCHANGED, min_length=1)
    clientele: str = Field(UNCHANGED, min_length=1, max_length=TEXT)
    start: AgreementDay = UNCHANGED
    end: AgreementDay | None = None
    volumes: list[Volume] | None = None
    funding: Funding | None = None
    information_sharing: InformationSharing | None = None
    on_behalf: list[OnBehalfIn] | None = Field(None, max_length=100)
    mechanisms: list[str] | None = Field(None, max_length=50)
    responsibilities: list[str] | None = Field(None, max_length=50)
    review_every_months: int = Field(UNCHANGED, ge=1, le=MAX_REVIEW_MONTHS)
    respects_community_orientations: bool | None = None
    summary: str | None = Field(None, max_length=TEXT, description="What the amendment changes (avenant)")

    def changes(self) -> dict[str, Any]:
        return term_changes(self, exclude={"summary"}, only_set=True)


def term_changes(body: BaseModel, exclude: set[str], only_set: bool = False) -> dict[str, Any]:
    """Request fields as Terms fields (tuples and value objects)."""
    names = body.model_fields_set if only_set else set(type(body).model_fields)
    changes: dict[str, Any] = {}
    for name in sorted(names - exclude):
        value = getattr(body, name)
        if name == "volumes":
            value = tuple(VolumeTerms(v.service.value, v.per_year) for v in value or [])
        elif name == "funding":
            value = FundingTerms(value.amount, value.currency) if value else None
        elif name == "information_sharing":
            value = tuple(c.value for c in value.categories) if value else None
        elif name == "on_behalf":
            value = tuple(OnBehalfTerms(o.of_org, tuple(s.value for s in o.services)) for o in value or [])
        elif name in ("parties", "services", "mechanisms", "responsibilities"):
            value = tuple(getattr(v, "value", v) for v in value or [])
        changes[name] = value
    return changes


class SuspendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=TEXT)


class TerminateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=TEXT)


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end: AgreementDay = Field(description="The new end date (later than the current one, today or later)")


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str | None = Field(None, max_length=TEXT)


class SignBody(BaseModel):
    """What the signature approves. A draft needs nothing; a proposed change of a signed agreement's terms is named
    by its id (`proposal.id` as read), unless `If-Match` carries the revision read."""

    model_config = ConfigDict(extra="forbid")

    proposal_id: str | None = Field(
        None, max_length=64, description="The `proposal.id` signed (409 when another proposal replaced it)"
    )


class DeclineBody(BaseModel):
    """A party's refusal of the proposed change of a signed agreement's terms (by the proposer's own organisation: its
    withdrawal), named as a signature names it: by its id (`proposal.id` as read), unless `If-Match` carries the
    revision read."""

    model_config = ConfigDict(extra="forbid")

    proposal_id: str | None = Field(
        None, max_length=64, description="The `proposal.id` declined (409 when another proposal replaced it)"
    )
    reason: str = Field(
        min_length=1, max_length=TEXT, pattern=r"\S", description="Why the organisation declines it (not blank)"
    )


class SignaturePublic(BaseModel):
    party: str
    signed_by: str
    signed_at: datetime
    version: int = Field(description="The version of the terms this signature approves")

    @classmethod
    def of(cls, s: Signature) -> SignaturePublic:
        return cls(party=s.party, signed_by=s.signed_by, signed_at=s.signed_at, version=s.version)


class TermsPublic(BaseModel):
    kind: AgreementKind
    title: str
    parties: list[str]
    services: list[ServiceCode]
    clientele: str
    start: date
    end: date | None
    volumes: list[Volume]
    funding: Funding | None
    information_sharing: InformationSharing | None
    on_behalf: list[OnBehalfIn]
    mechanisms: list[str]
    responsibilities: list[str]
    review_every_months: int
    respects_community_orientations: bool

    @classmethod
    def fields_of(cls, t: Terms) -> dict[str, Any]:
        return {
            "kind": t.kind,
            "title": t.title,
            "parties": list(t.parties),
            "services": list(t.services),
            "clientele": t.clientele,
            "start": t.start,
            "end": t.end,
            "volumes": [Volume(service=v.service, per_year=v.per_year) for v in t.volumes],
            "funding": Funding(amount=t.funding.amount, currency=t.funding.currency) if t.funding else None,
            "information_sharing": InformationSharing(categories=list(t.information_sharing))
            if t.information_sharing
            else None,
            "on_behalf": [
                OnBehalfIn(of_org=o.of_org, services=[ServiceCode(x) for x in o.services]) for o in t.on_behalf
            ],
            "mechanisms": list(t.mechanisms),
            "responsibilities": list(t.responsibilities),
            "review_every_months": t.review_every_months,
            "respects_community_orientations": bool(t.respects_community_orientations),
        }


class ProposalPublic(TermsPublic):
    """New terms proposed for a signed agreement: they take effect once every party has signed them (`/sign`); until
    then the agreement's terms in force are the previous ones. A new proposal replaces it (its signatures are void);
    it lapses when the agreement is terminated (an amendment's also when the agreement expires), and once it could no
    longer take effect (`proposal-lapsed`: a start date changed once the agreement is in force, an end date passed);
    it closes when a party declines it (`/decline`, `proposal-declined`; by its proposer: withdrawn)."""

    id: str = Field(description="This proposal's identity (a new one when replaced): a signature names it")
    version: int = Field(description="The version of the terms it becomes once in effect (kept by a replacement)")
    change: str = Field(description="amended or renewed")
    changes: list[str] = Field(description="The names of the terms it changes")
    proposed_by: str
    proposed_by_org: str
    proposed_at: datetime
    summary: str | None
    signatures: list[SignaturePublic] = Field(description="The parties that signed it so far")

    @classmethod
    def of(cls, p: Proposal, in_force: Terms) -> ProposalPublic:
        return cls(
            **cls.fields_of(p.terms),
            id=p.id,
            version=p.number,
            change=p.change,
            changes=p.terms.changes_from(in_force),
            proposed_by=p.proposed_by,
            proposed_by_org=p.party,
            proposed_at=p.proposed_at,
            summary=p.summary,
            signatures=[SignaturePublic.of(s) for s in p.signatures.values()],
        )


class AgreementPublic(TermsPublic):
    """An agreement: its status, its terms in force (or those of `?version=`), their signatures, the change of the
    terms awaiting signatures if any, and the review state."""

    id: str
    status: AgreementStatus
    version: int = Field(description="Version of the terms shown (1 when drafted; +1 per amendment or renewal)")
    latest_version: int
    revision: int = Field(description="Revision of the agreement (the ETag; send it as If-Match)")
    effective_at: datetime = Field(description="When the terms shown took effect")
    status_reason: str | None
    signatures: list[SignaturePublic] = Field(description="The signatures of the terms in force (of a draft: its own)")
    proposal: ProposalPublic | None = Field(None, description="New terms awaiting every party's signature")
    drafted_at: datetime
    next_review_on: date | None
    review_due: bool
    last_reviewed_at: datetime | None

    @classmethod
    def of(cls, a: Agreement, version: TermsVersion | None = None) -> AgreementPublic:
        shown = version or a.versions[-1]
        return cls(
            **cls.fields_of(shown.terms),
            id=str(a.id),
            status=a.status,
            version=shown.number,
            latest_version=a.terms_version,
            revision=a.version,
            effective_at=shown.effective_at,
            status_reason=a.status_reason,
            signatures=[SignaturePublic.of(s) for s in a.signatures.values()],
            proposal=ProposalPublic.of(a.proposal, a.terms) if a.proposal else None,
            drafted_at=a.drafted_at,
            next_review_on=a.next_review_on,
            review_due=a.review_due,
            last_reviewed_at=a.last_reviewed_at,
        )


class AgreementPage(BaseModel):
    items: list[AgreementPublic]
    next_cursor: str | None = None


class TermsVersionPublic(TermsPublic):
    version: int
    change: str = Field(description="drafted, amended or renewed")
    effective_at: datetime
    by: str

    @classmethod
    def of(cls, v: TermsVersion) -> TermsVersionPublic:
        return cls(**cls.fields_of(v.terms), version=v.number, change=v.change, effective_at=v.effective_at, by=v.by)


class ChangePublic(BaseModel):
    revision: int
    event: str
    occurred_at: datetime
    by: str | None
    party: str | None
    note: str | None
    status: AgreementStatus
    version: int

    @classmethod
    def of(cls, c: Change) -> ChangePublic:
        return cls(**c.__dict__)


class HistoryPublic(BaseModel):
    """Every version of the terms and every change, oldest first."""

    agreement_id: str
    versions: list[TermsVersionPublic]
    changes: list[ChangePublic]


class CoveragePublic(BaseModel):
    """The agreement in force covering the referral (nulls when none does)."""

    agreement_id: str | None = None
    kind: AgreementKind | None = None
    version: int | None = Field(None, description="Version of the terms in force at `at`")
    on_behalf: bool = Field(
        False,
        description="`to_org` provides `service` on behalf of the institution `from_org` under this service agreement "
        "(art. 108): only then may the clause's categories travel without consent",
    )
    clause_categories: list[InfoCategory] = Field(
        default_factory=list,
        description="When `on_behalf`, the categories of the agreement's information-sharing clause in force at "
        "`at` (`information_sharing`): the only ones that may travel without consent, for SERVICE_ON_BEHALF. Empty "
        "otherwise, and when the agreement has no clause",
    )

    @classmethod
    def of(cls, found: Coverage, from_org: str, to_org: str, service: str) -> CoveragePublic:
        terms = found.terms.terms
        on_behalf = terms.provided_on_behalf(from_org, to_org, service)
        return cls(
            agreement_id=str(found.agreement.id),
            kind=terms.kind,
            version=found.terms.number,
            on_behalf=on_behalf,
            clause_categories=list(terms.information_sharing or ()) if on_behalf else [],
        )


class VolumeUsePublic(BaseModel):
    service: ServiceCode
    period_start: date
    period_end: date
    used: int
    per_year: int | None
    percent: int | None

    @classmethod
    def of(cls, line: VolumeLine) -> VolumeUsePublic:
        percent = line.used * 100 // line.per_year if line.per_year else None
        return cls(**line.__dict__, percent=percent)


class ServiceHoursPut(BaseModel):
    """A service's hours: its whole weekly schedule per channel and its exceptions (each PUT replaces them from
    `effective_from`, today by default; the hours in force before stay on record)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "weekly": [
                        {"day": "MON", "opens": "08:00", "closes": "21:00", "channels": ["PHONE", "IN_PERSON"]},
                        {"day": "SAT", "opens": "09:00", "closes": "13:00", "channels": ["PHONE"]},
                    ],
                    "exceptions": [{"date": "2026-12-25", "openings": []}],
                }
            ]
        },
    )

    weekly: list[WeeklyOpeningV1] = Field(max_length=200)
    exceptions: list[HoursExceptionV1] = Field(default_factory=list, max_length=400)
    effective_from: AgreementDay | None = Field(
        None,
        description="The first day these hours apply (default: today; at the earliest this week's Monday, or "
        "yesterday on a Monday: an earlier week is not rewritten)",
    )


class ServiceHoursPublic(BaseModel):
    """A service's schedules, in the order declared: each is in force from its `effective_from` until the next."""

    org_id: str
    service: ServiceCode
    schedules: list[ServiceHoursV1]


class HoursConformancePublic(BaseModel):
    """One hours standard of one organisation's service over one week (Monday to Sunday)."""

    org_id: str
    service: ServiceCode
    standard: str = Field(description="AAOR_HOURS_PHONE, AAOR_HOURS_IN_PERSON, HOURS_24_7 or CONSULT_HOURS")
    week_start: date
    declared: bool = Field(description="Hours are declared for that week (undeclared: conforms to nothing)")
    conforms: bool
    hours: float | None = Field(
        None, description="AAOR: the week's hours on the channel; CONSULT_HOURS: on any channel"
    )
    evening_hours: float | None = None
    weekend_hours: float | None = None
    days_covered: int | None = Field(
        None, description="24/7: days of the week open from 00:00 to 24:00 (Info-Social: by telephone)"
    )
    bound_hours: float | None = Field(None, description="AAOR: the weekly hours required (CONSULT_HOURS: none)")
    daytime_hours: float | None = Field(
        None, description="AAOR, CONSULT_HOURS: the week's weekday hours before the evening"
    )
