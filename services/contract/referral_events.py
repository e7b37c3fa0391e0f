"""Payloads of the referral context's integration events (`rls.referral.v1`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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


class ReferralChangedV1(ReferralEventV1):
    """A referral moved through its lifecycle; `status` is the new status."""

    previous_status: ReferralStatus
    version: int
    """The referral's version after the change (clients use it in `If-Match`)."""
    actor_org: str
    """The organisation whose worker made the change."""
    redirected_from_org: str | None = None
    """For `redirected`: the organisation the referral was addressed to before (`to_org` is the new one)."""
    redirected_from_service: ServiceCode | None = None
    outcome: str | None = None
    """For `closed`: the outcome code."""


class DelayStandard(StrEnum):
    """The ministry's delay standards (Annexe II) a referral's clocks measure."""

    AAOR_FIRST_CONTACT = "AAOR_FIRST_CONTACT"
    """AAOR: first contact with a person who came in for a meeting, ≤ 2 h."""
    AAOR_CALLBACK = "AAOR_CALLBACK"
    """AAOR: call-back after a request made by phone, ≤ 24 h."""
    AAOR_ANALYSIS = "AAOR_ANALYSIS"
    """AAOR: analysis of the request completed, ≤ 10 days."""
    CONSULT_FIRST_CONTACT = "CONSULT_FIRST_CONTACT"
    """SOCIAL_CONSULT / PSYCH_CONSULT: first contact by the professional ≤ 7 days after acceptance."""
    CONSULT_FOLLOW_UP = "CONSULT_FOLLOW_UP"
    """SOCIAL_CONSULT / PSYCH_CONSULT: follow-up started ≤ 30 days after acceptance."""
    URGENT_HANDLING = "URGENT_HANDLING"
    """Urgent situation handled, ≤ 24 h."""
    CRISIS_IMMEDIATE = "CRISIS_IMMEDIATE"
    """CRISIS_24_7 (and IMMEDIATE urgency): handled immediately (a configurable bound)."""


class ClockState(StrEnum):
    RUNNING = "RUNNING"
    MET = "MET"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"
    STOPPED = "STOPPED"
    """Refused, cancelled, closed or redirected before the bound, without being met: not counted."""


class ReferralDelayV1(ReferralEventV1):
    """A delay-standard clock of a referral reached a threshold (`delay-at-risk`) or its bound (`delay-breached`)."""

    standard: DelayStandard
    bound_s: int
    started_at: datetime
    due_at: datetime
    clock_state: ClockState
    responsible_org: str
    """The organisation that must act (usually `to_org`)."""


REFERRAL_TRANSITIONS = (
    "received",
    "called-back",
    "analysed",
    "accepted",
    "refused",
    "redirected",
    "first-contact-made",
    "follow-up-started",
    "closed",
    "cancelled",
)
"""`ca.qc.rls.referral.<name>.v1` for each name: a ReferralChangedV1 payload."""

EVENTS: dict[str, type[EventData]] = {
    "ca.qc.rls.referral.submitted.v1": ReferralSubmittedV1,
    **{f"ca.qc.rls.referral.{name}.v1": ReferralChangedV1 for name in REFERRAL_TRANSITIONS},
    "ca.qc.rls.referral.delay-at-risk.v1": ReferralDelayV1,
    "ca.qc.rls.referral.delay-breached.v1": ReferralDelayV1,
}
