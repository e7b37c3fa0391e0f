"""Referral domain events -> integration events on `rls.referral.v1` (the anti-corruption layer).

Integration events never carry record information: ids, codes, statuses and times only (not even the reason code).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from services.common.kafka import Outgoing
from services.common.relay import outgoing
from services.contract import topics
from services.contract.base import EventData
from services.contract.codes import ReferralStatus
from services.contract.duration_standards import MEETING
from services.contract.referral_events import (
    ClockState,
    DurationStandard,
    ReferralChangedV1,
    ReferralDelayV1,
    ReferralDurationExceededV1,
    ReferralMeetingV1,
    ReferralPlanV1,
    ReferralSubmittedV1,
)
from services.referral.domain import DURATION_EXCEEDED, Referral

CONTEXT = "referral"
DELAY_EVENTS = {"AT_RISK": "delay-at-risk", "BREACHED": "delay-breached"}

Loader = Callable[[uuid.UUID, int], Referral]
"""Loads a referral as it stood at a version (the relay maps events one at a time)."""


class ReferralOutbound:
    """Maps stored referral events to the CloudEvents partners receive."""

    def __init__(self, public_url: str, load: Loader) -> None:
        self.public_url = public_url.rstrip("/")
        self.load = load

    def __call__(self, domain_event: DomainEventProtocol[Any]) -> Sequence[Outgoing]:
        if isinstance(domain_event, Referral.Submitted):
            return [self._outgoing(domain_event, "submitted", domain_event.submitted_at, self._submitted(domain_event))]
        if isinstance(domain_event, Referral.Transitioned):
            referral = self.load(domain_event.originator_id, domain_event.originator_version)
            return [
                self._outgoing(
                    domain_event, domain_event.transition, domain_event.at, self._changed(referral, domain_event)
                )
            ]
        if isinstance(domain_event, Referral.DelayFlagged):
            referral = self.load(domain_event.originator_id, domain_event.originator_version)
            return [
                self._outgoing(
                    domain_event, DELAY_EVENTS[domain_event.kind], domain_event.at, self._delay(referral, domain_event)
                )
            ]
        return self._duration(domain_event)

    def _duration(self, e: DomainEventProtocol[Any]) -> Sequence[Outgoing]:
        """Meetings, the intervention plan and `duration-exceeded`: counts and terms, never a meeting's content."""
        data: EventData
        if isinstance(e, Referral.MeetingRecorded):
            name, data = MEETING, self._meeting(self.load(e.originator_id, e.originator_version), e)
        elif isinstance(e, Referral.PlanChanged):
            name, data = e.change, self._plan(self.load(e.originator_id, e.originator_version), e)
        elif isinstance(e, Referral.DurationExceeded):
            name, data = DURATION_EXCEEDED, self._exceeded(self.load(e.originator_id, e.originator_version), e)
        else:
            return []
        return [self._outgoing(e, name, e.at, data)]

    def _common(self, referral_id: str, e: Any) -> dict[str, Any]:
        return {
            "referral_id": referral_id,
            "subject_id": e.subject_id,
            "from_org": e.from_org,
            "from_service": e.from_service,
            "to_org": e.to_org,
            "to_service": e.to_service,
            "channel": e.channel,
            "urgency": e.urgency,
            "agreement_id": e.agreement_id,
            "information_url": f"{self.public_url}/v1/referrals/{referral_id}/information",
        }

    def _submitted(self, e: Referral.Submitted) -> ReferralSubmittedV1:
        return ReferralSubmittedV1(
            **self._common(str(e.originator_id), e),
            status=ReferralStatus.SUBMITTED,
            occurred_at=e.submitted_at,
            accompaniment=e.accompaniment,
            orientation_only=e.agreement_id is None,
        )

    def _changed(self, referral: Referral, e: Referral.Transitioned) -> ReferralChangedV1:
        redirected = e.transition == "redirected"
        return ReferralChangedV1(
            **self._common(str(referral.id), referral),
            status=e.status,
            occurred_at=e.at,
            previous_status=e.previous_status,
            version=e.originator_version,
            actor_org=e.actor_org,
            redirected_from_org=e.previous_to_org if redirected else None,
            redirected_from_service=e.previous_to_service if redirected else None,
            outcome=e.outcome,
        )

    def _delay(self, referral: Referral, e: Referral.DelayFlagged) -> ReferralDelayV1:
        # a flag stored before it named whose clock it was (DelayFlagged v1): the target when the clock started
        target_org, target_service = referral.target_at(e.started_at)
        responsible = e.responsible_org or target_org
        # a flag goes to the clock's organisation only (notifications): a former receiver's, caught up after the
        # referral moved on, shows the referral as that organisation was last shown it, not where it went later
        standing = referral.standing_for(responsible)
        return ReferralDelayV1(
            **{**self._common(str(referral.id), referral), **standing},
            occurred_at=e.at,
            standard=e.standard,
            bound_s=e.bound_s,
            started_at=e.started_at,
            due_at=e.due_at,
            clock_state=ClockState(e.kind),
            responsible_org=responsible,
            responsible_service=e.service or target_service,
        )

    def _following(self, referral: Referral, at: datetime) -> dict[str, Any]:
        return {**self._common(str(referral.id), referral), "status": referral.status, "occurred_at": at}

    def _meeting(self, referral: Referral, e: Referral.MeetingRecorded) -> ReferralMeetingV1:
        return ReferralMeetingV1(
            **self._following(referral, e.at),
            meeting_id=f"{referral.id}:{e.originator_version}",
            mode=e.mode,
            meetings=referral.meetings,
            version=e.originator_version,
            actor_org=e.actor_org,
        )

    def _plan(self, referral: Referral, e: Referral.PlanChanged) -> ReferralPlanV1:
        plan = referral.plan
        assert plan is not None
        return ReferralPlanV1(
            **self._following(referral, e.at),
            planned_meetings=plan.planned_meetings,
            revisions=plan.revisions,
            meetings=referral.meetings,
            version=e.originator_version,
            actor_org=e.actor_org,
        )

    def _exceeded(self, referral: Referral, e: Referral.DurationExceeded) -> ReferralDurationExceededV1:
        plan = referral.plan
        return ReferralDurationExceededV1(
            **self._following(referral, e.at),
            standard=DurationStandard(e.standard),
            meetings=e.meetings,
            limit=e.limit,
            planned_meetings=plan.planned_meetings if plan else None,
            revisions=plan.revisions if plan else 0,
            responsible_org=referral.to_org,
        )

    def _outgoing(self, e: DomainEventProtocol[Any], name: str, at: datetime, data: EventData) -> Outgoing:
        return outgoing(e, CONTEXT, name, topics.REFERRAL, str(e.originator_id), at, data)
