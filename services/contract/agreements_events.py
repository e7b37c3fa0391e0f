"""Payloads of the agreements context's integration events (`rls.agreements.v1`).

Agreement events carry the agreement's whole state after the change (event-carried state transfer), so a
consumer (the consent service's read model, the referral service, audit) knows every agreement as it stood at
any time from the events alone.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.contract.base import EventData
from services.contract.codes import AgreementKind, AgreementStatus, InfoCategory, OrgKind, ServiceCode


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


AGREEMENT_LIFECYCLE = (
    "drafted",
    "signed",
    "activated",
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
}
