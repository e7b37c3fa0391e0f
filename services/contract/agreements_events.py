"""Payloads of the agreements context's integration events (`rls.agreements.v1`).

Agreement events carry the agreement's whole state after the change (event-carried state transfer), so a
consumer (the consent service's read model, the referral service, audit) knows every agreement as it stood at
any time from the events alone.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.contract.base import EventData
from services.contract.codes import AgreementKind, AgreementStatus, Channel, InfoCategory, OrgKind, ServiceCode, Weekday


class OrganisationRegisteredV1(EventData):
    """An organisation joined the directory (or its description changed: same payload, same id)."""

    org_id: str
    name: str
    kind: OrgKind
    territory: str
    services: list[ServiceCode]
    occurred_at: datetime


class VolumeV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: ServiceCode
    per_year: int


class FundingV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: str
    currency: str


class OnBehalfV1(BaseModel):
    """Under a service agreement: services the other parties provide on behalf of the institution `of_org`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    of_org: str
    services: list[ServiceCode]


class AmendmentProposalV1(BaseModel):
    """New terms a party proposed for a signed agreement, awaiting every party's signature. Not in force: the
    agreement's terms are those around it until the last party signs (then `amended` or `renewed`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    """The proposal's identity, new whenever a proposal replaces it (a signature of the agreement names it); absent
    from events published before proposals had one."""
    version: int
    """The version of the terms it becomes once in effect (the same for a proposal and the one replacing it)."""
    change: str
    """`amended` (an amendment) or `renewed` (a later end date)."""
    changes: list[str]
    """The names of the terms it changes (e.g. `on_behalf`, `information_sharing`)."""
    proposed_by_org: str
    proposed_at: datetime
    summary: str | None = None
    signed_by: list[str]
    """The parties that signed the proposal so far."""


class LapsedProposalV1(BaseModel):
    """The proposal that lapsed (on `proposal-lapsed`): it could no longer take effect, whoever signed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    field: str | None = None
    """The term it broke (`start`, `end`)."""
    reason: str


class DeclinedProposalV1(BaseModel):
    """The proposal a party declined (on `proposal-declined`): it closed with its signatures; the terms in force stay.
    Declined by the organisation that proposed it, it was withdrawn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    declined_by_org: str
    proposed_by_org: str
    reason: str


class AgreementStateV1(EventData):
    """An agreement after a change: every lifecycle event of an agreement has this payload."""

    agreement_id: str
    version: int
    """Version of the agreement's terms (1 when drafted; +1 per amendment or renewal)."""
    kind: AgreementKind
    status: AgreementStatus
    title: str
    parties: list[str]
    signed_by: list[str]
    services: list[ServiceCode]
    clientele: str
    start: date
    end: date | None = None
    volumes: list[VolumeV1] = Field(default_factory=list)
    funding: FundingV1 | None = None
    information_sharing: list[InfoCategory] | None = None
    """Categories of record information the agreement allows to share (SERVICE_108 only)."""
    mechanisms: list[str] = Field(default_factory=list)
    review_every_months: int = 12
    respects_community_orientations: bool = False
    occurred_at: datetime
    """When the change took effect (an activation at the start date carries the start date's time)."""
    reason: str | None = None
    """Why the agreement was suspended or terminated (on those events and while it stays so)."""
    responsibilities: list[str] = Field(default_factory=list)
    """Responsibilities shared between the parties."""
    revision: int | None = None
    """Revision of the agreement (every change counts, signatures included): orders events of one agreement."""
    on_behalf: list[OnBehalfV1] = Field(default_factory=list)
    """SERVICE_108 only: which services the other parties provide on behalf of which institution party (art. 108
    para. 1). Only for those services does the agreement carry record information without consent."""
    proposal: AmendmentProposalV1 | None = None
    """A change of the terms awaiting signatures (on `amendment-proposed`, `signed`, and until it takes effect or
    lapses). `signed_by` above lists the parties that signed the terms in force."""
    lapsed_proposal: LapsedProposalV1 | None = None
    """On `proposal-lapsed`: which proposal lapsed, and why."""
    declined_proposal: DeclinedProposalV1 | None = None
    """On `proposal-declined`: which proposal a party declined (or its proposer withdrew), and why."""


class AgreementReviewDueV1(EventData):
    """An agreement's periodic review fell due (once per period; recording the review clears it)."""

    agreement_id: str
    version: int
    kind: AgreementKind
    parties: list[str]
    review_every_months: int
    due_at: datetime
    occurred_at: datetime
    """The time the review fell due (00:00 local time of the due date), not when it was noticed."""


class VolumeUseV1(EventData):
    """Use of an agreement's annual volume for one service reached a threshold (once per agreement year)."""

    agreement_id: str
    service: ServiceCode
    period_start: date
    """First day of the agreement year (anniversary of the start date)."""
    period_end: date
    """Last day of the agreement year."""
    used: int
    """Accepted referrals counted in the period when the threshold was crossed."""
    per_year: int
    percent: int
    """`used` as a whole percentage of `per_year`."""
    occurred_at: datetime
    """When the referral that crossed the threshold was accepted."""


class ReferralCountedV1(EventData):
    """An accepted referral was counted against an agreement's annual volume for one service (`referral-counted`):
    the agreement the agreements service chose, once per referral ever. It is the one the acceptance names while
    that one covers it (receiver and service bound, in force then), otherwise the agreement covering the acceptance
    (after a redirect, or without an agreement id); a referral no agreement covers counts nowhere and has no such
    event. `GET /v1/agreements/{id}/volumes`, `volume-threshold-reached` and `volume-exceeded` count these."""

    agreement_id: str
    referral_id: str
    service: ServiceCode
    """The service accepted (`to_service` of the acceptance)."""
    period_start: date
    """First day of the agreement year it counts in (anniversary of the start date)."""
    period_end: date
    used: int
    """Accepted referrals counted for this agreement, service and agreement year, this one included."""
    occurred_at: datetime
    """When the referral was accepted."""


CLOCK_TIME_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
"""`HH:MM`, local time of the organisation; `24:00` closes at the end of the day."""


class OpeningV1(BaseModel):
    """Opening hours of one span of a day, on the channels listed (`closes` after `opens`: a span that runs past
    midnight is two spans)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    opens: str = Field(pattern=CLOCK_TIME_PATTERN)
    closes: str = Field(pattern=CLOCK_TIME_PATTERN)
    channels: list[Channel] = Field(min_length=1)

    @field_validator("closes")
    @classmethod
    def _closes_after_opening(cls, closes: str, info: ValidationInfo) -> str:
        opens = info.data.get("opens")
        if opens is not None and closes <= opens:
            raise ValueError("closes must be after opens")
        return closes


class WeeklyOpeningV1(OpeningV1):
    """A span of the weekly schedule."""

    day: Weekday


class HoursExceptionV1(BaseModel):
    """A date whose hours replace the weekly schedule's (a holiday, a closure): no `openings` = closed all day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: date
    openings: list[OpeningV1] = Field(default_factory=list)


class ServiceHoursV1(EventData):
    """An organisation set the hours of one of its services (`service-hours-set`): its weekly schedule per channel
    and its exceptions, in force from `effective_from` until the next change (the whole schedule every time)."""

    org_id: str
    service: ServiceCode
    weekly: list[WeeklyOpeningV1]
    exceptions: list[HoursExceptionV1] = Field(default_factory=list)
    effective_from: date
    timezone: str = "America/Montreal"
    """The IANA time zone the hours are in."""
    occurred_at: datetime


AGREEMENT_LIFECYCLE = (
    "drafted",
    "signed",
    "activated",
    "amendment-proposed",
    "proposal-lapsed",
    "proposal-declined",
    "amended",
    "suspended",
    "resumed",
    "terminated",
    "expired",
    "renewed",
    "reviewed",
)
"""`ca.qc.rls.agreements.<name>.v1` for each name: an AgreementStateV1 payload."""

EVENTS: dict[str, type[EventData]] = {
    "ca.qc.rls.agreements.organisation-registered.v1": OrganisationRegisteredV1,
    **{f"ca.qc.rls.agreements.{name}.v1": AgreementStateV1 for name in AGREEMENT_LIFECYCLE},
    "ca.qc.rls.agreements.review-due.v1": AgreementReviewDueV1,
    "ca.qc.rls.agreements.volume-threshold-reached.v1": VolumeUseV1,
    "ca.qc.rls.agreements.volume-exceeded.v1": VolumeUseV1,
    "ca.qc.rls.agreements.referral-counted.v1": ReferralCountedV1,
    "ca.qc.rls.agreements.service-hours-set.v1": ServiceHoursV1,
}
