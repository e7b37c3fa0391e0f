"""Payloads of the referral context's integration events (`rls.referral.v1`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from services.contract.base import EventData
from services.contract.codes import Accompaniment, Channel, MeetingMode, ReferralStatus, ServiceCode, Urgency


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
    """The agreement covering the referral's current receiver, recorded at submission and at each redirection (None:
    an orientation without agreement)."""


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
    """AAOR: request received by phone or in person completed (analysed, accepted, refused or oriented), ≤ 10 days."""
    CONSULT_FIRST_CONTACT = "CONSULT_FIRST_CONTACT"
    """SOCIAL_CONSULT / PSYCH_CONSULT: first contact by the professional ≤ 7 days after acceptance."""
    CONSULT_FOLLOW_UP = "CONSULT_FOLLOW_UP"
    """SOCIAL_CONSULT / PSYCH_CONSULT: follow-up started (or a meeting held) ≤ 30 days after acceptance."""
    URGENT_HANDLING = "URGENT_HANDLING"
    """AAOR (from the request) and SOCIAL_CONSULT / PSYCH_CONSULT (from acceptance): an URGENT situation handled,
    ≤ 24 h. Services outside Annexe II's six have no urgent clock."""
    CRISIS_IMMEDIATE = "CRISIS_IMMEDIATE"
    """CRISIS_24_7, CIVIL_SECURITY (URGENT or IMMEDIATE), and an IMMEDIATE situation at the AAOR or a consultation:
    handled immediately (a configurable bound)."""


class ClockState(StrEnum):
    RUNNING = "RUNNING"
    MET = "MET"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"
    STOPPED = "STOPPED"
    """Refused, cancelled, closed or redirected before the bound, without being met: not counted."""


class ReferralDelayV1(ReferralEventV1):
    """A delay-standard clock of a referral reached a threshold (`delay-at-risk`) or its bound (`delay-breached`).

    It goes to `responsible_org` only. When that organisation no longer holds the referral (it redirected it away
    before the flag was raised), `to_org`, `to_service`, `status` and `agreement_id` are the referral's as that
    redirection left it, never those of later receivers."""

    standard: DelayStandard
    bound_s: int
    started_at: datetime
    due_at: datetime
    clock_state: ClockState
    responsible_org: str
    """The organisation that must act (usually `to_org`): the one whose clock it is, also when the referral was
    redirected since."""
    responsible_service: ServiceCode | None = None
    """The service whose clock it is (usually `to_service`; after a redirect, the previous receiver's service).
    Absent from events published before it was added."""


class DurationStandard(StrEnum):
    """The ministry's duration-of-service standards (orientations, AAOR and consultation fiches)."""

    AAOR_MEETINGS = "AAOR_MEETINGS"
    """AAOR handles a situation a minimal number of meetings can solve: at most 3, else the person is oriented."""
    CONSULT_MEETINGS = "CONSULT_MEETINGS"
    """SOCIAL_CONSULT / PSYCH_CONSULT are short-term: at most 12 meetings, or the intervention plan's term; going
    beyond the term initially agreed needs the plan revised."""
    CONSULT_PLAN = "CONSULT_PLAN"
    """An intervention plan is in the record of every person followed in SOCIAL_CONSULT / PSYCH_CONSULT."""


class ReferralMeetingV1(ReferralEventV1):
    """A meeting with the person took place (`meeting-recorded`): when, how, and how many so far. Never its content.

    `to_org` / `to_service` are the organisation and service that held it; `occurred_at` is when it took place."""

    meeting_id: str
    """Deterministic id of the meeting (the referral's id and version): consumers count a meeting once."""
    mode: MeetingMode
    meetings: int = Field(ge=1)
    """Meetings the current receiver has recorded on this referral, this one included."""
    version: int
    actor_org: str


class ReferralPlanV1(ReferralEventV1):
    """The intervention plan was set (`intervention-plan-set`) or revised with a new term
    (`intervention-plan-revised`): its term in meetings, never its content."""

    planned_meetings: int = Field(ge=1)
    """The term agreed: how many meetings the plan foresees (after a revision: the new term)."""
    revisions: int = Field(ge=0)
    """How many times the plan was revised (0 when set)."""
    meetings: int = Field(ge=0)
    """Meetings recorded when the plan was set or revised."""
    version: int
    actor_org: str


class ReferralDurationExceededV1(ReferralEventV1):
    """A meeting went past the duration standard (`duration-exceeded`, once per receiver): past 3 in AAOR, past the
    plan's term (12 without a plan) in consultation without a revision."""

    standard: DurationStandard
    meetings: int = Field(ge=1)
    """Meetings recorded, the one that went past the limit included."""
    limit: int = Field(ge=1)
    """The limit in force at that meeting."""
    planned_meetings: int | None = None
    """The plan's term then (None: no plan)."""
    revisions: int = Field(0, ge=0)
    responsible_org: str


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
    "ca.qc.rls.referral.meeting-recorded.v1": ReferralMeetingV1,
    "ca.qc.rls.referral.intervention-plan-set.v1": ReferralPlanV1,
    "ca.qc.rls.referral.intervention-plan-revised.v1": ReferralPlanV1,
    "ca.qc.rls.referral.duration-exceeded.v1": ReferralDurationExceededV1,
}
