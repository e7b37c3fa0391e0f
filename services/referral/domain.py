"""The referral (référence): a personalised, direct recommendation of a person to a service.

The lifecycle is a table (TRANSITIONS): which statuses a transition starts from, which status it leads to, and who
may perform it (the receiving organisation, or the referrer). Every transition records who and when; `at` may lie in
the past (workers enter things late) but never in the future nor before the referral's previous step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.contract.codes import ReferralStatus as S

IDEMPOTENCY_NAMESPACE = uuid.UUID("2f8e0f3c-8a4b-4c1e-b6a5-6c1f0d2e7a90")


class ReferralError(Exception):
    """Base of the referral domain's errors."""

    field: str | None = None


class ReferralNotFoundError(ReferralError):
    """No referral with this id is visible to the caller."""


class ReferralIdempotencyConflictError(ReferralError):
    """An Idempotency-Key was reused with a different request."""


class ReferralTransitionError(ReferralError):
    """The transition is impossible from the referral's current status."""


class ReferralVersionConflictError(ReferralError):
    """The referral changed since the version the client read (If-Match)."""


class ReferralForbiddenError(ReferralError):
    """The caller's organisation may not perform this transition on this referral."""


class ReferralTimeError(ReferralError):
    """`at` is in the future or before the referral's previous step."""

    field = "at"


class ReferralTargetError(ReferralError):
    """The target organisation does not offer the requested service (or is unknown)."""

    field = "to_service"


class ReferralAgreementError(ReferralError):
    """The agreement named by the referrer does not cover this referral."""

    field = "agreement_id"


class ReferralReasonError(ReferralError):
    """The reason code is not in the configured taxonomy of problems."""

    field = "reason_code"


class TargetUnknownError(ReferralError):
    """The directory does not know the target organisation."""


class DependencyUnavailableError(ReferralError):
    """Another service (agreements, consent) did not answer; the request can be retried."""


class InformationDeniedError(ReferralError):
    """The consent service permitted none of the requested categories."""

    def __init__(self, explanation: str, decision_id: str, denied_categories: list[str]) -> None:
        super().__init__(explanation or "no legal basis to disclose this information")
        self.explanation = explanation
        self.decision_id = decision_id
        self.denied_categories = denied_categories


class SubjectErasedError(ReferralError):
    """The person's data key was deleted: their information is gone for good."""


class Actor(Enum):
    RECEIVER = "receiving organisation"
    SENDER = "referring organisation"


@dataclass(frozen=True)
class Transition:
    """One move of the lifecycle: its event name (`ca.qc.rls.referral.<name>.v1`), sources, target and actor."""

    name: str
    sources: frozenset[S]
    target: S | None
    """None: the status does not change (a call-back is recorded without changing the status)."""
    actor: Actor


OPEN = frozenset({S.SUBMITTED, S.RECEIVED, S.ANALYSED, S.REDIRECTED})
"""Not yet accepted: may still be refused, redirected or cancelled."""

TRANSITIONS: dict[str, Transition] = {
    "receive": Transition("received", frozenset({S.SUBMITTED, S.REDIRECTED}), S.RECEIVED, Actor.RECEIVER),
    "callback": Transition("called-back", frozenset({S.SUBMITTED, S.RECEIVED}), None, Actor.RECEIVER),
    "analyse": Transition("analysed", frozenset({S.SUBMITTED, S.RECEIVED}), S.ANALYSED, Actor.RECEIVER),
    "accept": Transition("accepted", OPEN, S.ACCEPTED, Actor.RECEIVER),
    "refuse": Transition("refused", OPEN, S.REFUSED, Actor.RECEIVER),
    "redirect": Transition("redirected", OPEN - {S.REDIRECTED}, S.REDIRECTED, Actor.RECEIVER),
    "first-contact": Transition(
        "first-contact-made",
        frozenset({S.SUBMITTED, S.RECEIVED, S.ANALYSED, S.ACCEPTED}),
        S.FIRST_CONTACT_MADE,
        Actor.RECEIVER,
    ),
    "start-follow-up": Transition(
        "follow-up-started", frozenset({S.ACCEPTED, S.FIRST_CONTACT_MADE}), S.FOLLOW_UP_STARTED, Actor.RECEIVER
    ),
    "close": Transition(
        "closed", frozenset({S.ACCEPTED, S.FIRST_CONTACT_MADE, S.FOLLOW_UP_STARTED}), S.CLOSED, Actor.RECEIVER
    ),
    "cancel": Transition("cancelled", OPEN, S.CANCELLED, Actor.SENDER),
}


def referral_id_for(from_org: str, idempotency_key: str | None) -> uuid.UUID:
    """A retried submission with the same key lands on the same referral."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{from_org}\x1f{idempotency_key}")


@dataclass(frozen=True)
class Milestone:
    """A dated step of a referral's history and the target it was addressed to at that point."""

    name: str
    at: datetime
    to_org: str
    to_service: str


@dataclass(frozen=True)
class Step:
    """What a transition needs besides its name: who, when, and the transition's own details."""

    actor_org: str
    actor: str
    at: datetime
    reason: str | None = None
    outcome: str | None = None
    to_org: str | None = None
    to_service: str | None = None


class Referral(Aggregate):
    """A person (pseudonymous `subject_id`) referred from one organisation's service to another's."""

    class Submitted(Aggregate.Created):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 did not record the kind of the covering agreement."""
            state["agreement_kind"] = None

        subject_id: str
        from_org: str
        from_service: str
        to_org: str
        to_service: str
        channel: str
        urgency: str
        reason_code: str
        accompaniment: str
        agreement_id: str | None
        agreement_kind: str | None
        submitted_by: str
        submitted_at: datetime
        request_digest: str

    class Transitioned(Aggregate.Event):
        transition: str
        previous_status: str
        status: str
        actor_org: str
        actor: str
        at: datetime
        reason: str | None
        outcome: str | None
        previous_to_org: str
        previous_to_service: str
        to_org: str
        to_service: str

    class DelayFlagged(Aggregate.Event):
        """A clock reached its at-risk threshold or its bound (recorded once per clock and kind)."""

        standard: str
        kind: str
        started_at: datetime
        due_at: datetime
        at: datetime
        bound_s: int

    @event(Submitted)
    def __init__(
        self,
        id: uuid.UUID,
        subject_id: str,
        from_org: str,
        from_service: str,
        to_org: str,
        to_service: str,
        channel: str,
        urgency: str,
        reason_code: str,
        accompaniment: str,
        agreement_id: str | None,
        agreement_kind: str | None,
        submitted_by: str,
        submitted_at: datetime,
        request_digest: str,
    ) -> None:
        self.subject_id = subject_id
        self.from_org = from_org
        self.from_service = from_service
        self.to_org = to_org
        self.to_service = to_service
        self.channel = channel
        self.urgency = urgency
        self.reason_code = reason_code
        self.accompaniment = accompaniment
        self.agreement_id = agreement_id
        self.agreement_kind = agreement_kind
        self.submitted_by = submitted_by
        self.submitted_at = submitted_at
        self.request_digest = request_digest
        self.status = S.SUBMITTED.value
        self.last_step_at = submitted_at
        self.history: list[Milestone] = [Milestone("submitted", submitted_at, to_org, to_service)]
        self.flags: set[tuple[str, str, datetime]] = set()

    def concerns(self, org_id: str) -> bool:
        """Whether `org_id` sent or received this referral."""
        return org_id in (self.from_org, self.to_org)

    def perform(self, command: str, step: Step, now: datetime) -> None:
        """Applies one lifecycle command (a key of TRANSITIONS), or raises why it cannot."""
        transition = TRANSITIONS[command]
        allowed_org = self.to_org if transition.actor is Actor.RECEIVER else self.from_org
        if step.actor_org != allowed_org:
            raise ReferralForbiddenError(f"only the {transition.actor.value} may {command} this referral")
        if S(self.status) not in transition.sources:
            raise ReferralTransitionError(f"cannot {command} a referral in status {self.status}")
        if command == "callback" and any(m.name == "called-back" for m in self.history):
            raise ReferralTransitionError("the call-back was already recorded")
        if step.at > now:
            raise ReferralTimeError("at: a step cannot happen in the future")
        if step.at < self.last_step_at:
            raise ReferralTimeError("at: a step cannot precede the referral's previous step")
        self._transition(
            transition=transition.name,
            previous_status=self.status,
            status=(transition.target or S(self.status)).value,
            actor_org=step.actor_org,
            actor=step.actor,
            at=step.at,
            reason=step.reason,
            outcome=step.outcome,
            previous_to_org=self.to_org,
            previous_to_service=self.to_service,
            to_org=step.to_org or self.to_org,
            to_service=step.to_service or self.to_service,
        )

    @event(Transitioned)
    def _transition(
        self,
        transition: str,
        previous_status: str,
        status: str,
        actor_org: str,
        actor: str,
        at: datetime,
        reason: str | None,
        outcome: str | None,
        previous_to_org: str,
        previous_to_service: str,
        to_org: str,
        to_service: str,
    ) -> None:
        self.status = status
        self.to_org = to_org
        self.to_service = to_service
        self.last_step_at = at
        self.history.append(Milestone(transition, at, to_org, to_service))

    def flag_delay(
        self, standard: str, kind: str, started_at: datetime, due_at: datetime, at: datetime, bound_s: int
    ) -> None:
        """Records that a clock became at risk or breached; a second flag of the same clock and kind is ignored."""
        if (standard, kind, started_at) not in self.flags:
            self._flag(standard=standard, kind=kind, started_at=started_at, due_at=due_at, at=at, bound_s=bound_s)

    @event(DelayFlagged)
    def _flag(
        self, standard: str, kind: str, started_at: datetime, due_at: datetime, at: datetime, bound_s: int
    ) -> None:
        self.flags.add((standard, kind, started_at))
