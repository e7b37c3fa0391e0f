"""Integration event payloads (the `data` of CloudEvents), by type and version.

These models generate `schemas/events/<type>.json`. Changes must stay backward compatible: no removed or
retyped field, no new required field (a test compares the generated schemas with the committed ones).
Record information never appears here: only ids, codes, statuses and times.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.contract.codes import Accompaniment, Channel, ReferralStatus, ServiceCode, Urgency


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferralEventV1(EventData):
    """Common part of every referral event: who refers whom to what, and where the referral stands."""

    referral_id: str
    subject_id: str
    from_org: str
    from_service: ServiceCode
    to_org: str
    to_service: ServiceCode
    channel: Channel
    urgency: Urgency
    status: ReferralStatus
    occurred_at: datetime
    information_url: str


class ReferralSubmittedV1(ReferralEventV1):
    """A referral was submitted (status SUBMITTED)."""

    accompaniment: Accompaniment
    agreement_id: str | None = None
    orientation_only: bool = False


EVENT_TYPES: dict[str, type[EventData]] = {
    "ca.qc.rls.referral.submitted.v1": ReferralSubmittedV1,
}
"""Every integration event type the platform publishes, with its payload model."""
