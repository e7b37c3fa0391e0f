"""Payloads of the referral context's integration events (`rls.referral.v1`)."""

from __future__ import annotations

from datetime import datetime

from services.contract.base import EventData
from services.contract.codes import Accompaniment, Channel, ReferralStatus, ServiceCode, Urgency


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
    agreement_id: str | None = None
    """The agreement covering the referral when it was submitted (None: an orientation without agreement)."""


class ReferralSubmittedV1(ReferralEventV1):
    """A referral was submitted (status SUBMITTED)."""

    accompaniment: Accompaniment
    orientation_only: bool = False


EVENTS: dict[str, type[EventData]] = {
    "ca.qc.rls.referral.submitted.v1": ReferralSubmittedV1,
}
