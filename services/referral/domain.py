"""The referral (référence): a personalised, direct recommendation of a person to a service.

The lifecycle is a table (TRANSITIONS): which statuses a transition starts from, which status it leads to, and who
may perform it (the receiving organisation, or the referrer). Every transition records who and when; `at` may lie in
the past (workers enter things late) but never in the future nor before the referral's previous step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any, TypedDict

from eventsourcing.domain import Aggregate, event

from services.contract.codes import ReferralStatus as S
from services.contract.duration_standards import MEETING, PLAN_REVISED, PLAN_SET, DurationPolicy, duration_outcomes
from services.contract.ids import id_for
from services.contract.referral_events import ClockState, DurationStandard

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


class ReferralRedirectError(ReferralError):
    """A redirection names the referral's current organisation and service: it would only restart the receiver's
    own clocks."""

    field = "to_org"


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


class DisclosureForbiddenError(ReferralError):
    """The consent service refused to disclose for this requester (the worker the service asks for)."""


class DisclosureRejectedError(ReferralError):
    """The consent service rejected the disclosure request as asked (it decided nothing, registered nothing); asking
    again unchanged gets the same answer."""


class ReferralEndedError(ReferralError):
    """The referral was refused, cancelled or closed: its record information is no longer released (minimum
    necessary: only while the referral is live for its receiving organisation)."""

    def __init__(self, status: str) -> None:
        super().__init__(
            f"the referral is {status}: record information is released only while the referral is live "
            "(not refused, cancelled or closed)"
        )
        self.status = status


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
    late: frozenset[S] = frozenset()
    """Statuses the referral may already have moved on to when the step is entered: it is recorded there and the
    status is kept (a first contact entered after the follow-up started)."""
    before_acceptance: bool = False
    """Only while the current receiver has not accepted the referral (its first contact may come before that)."""
    after_acceptance: bool = False
    """Only once the current receiver accepted the referral: a first contact made before acceptance does not start
    the follow-up nor close the referral (a consultation's clocks start at acceptance, it would escape them)."""
    once: bool = False
    """Recorded at most once by each receiver before it accepts the referral, and once after."""


OPEN = frozenset({S.SUBMITTED, S.RECEIVED, S.ANALYSED, S.REDIRECTED, S.FIRST_CONTACT_MADE})
"""Not yet accepted: may still be refused, redirected or cancelled. FIRST_CONTACT_MADE is open only before the
receiver accepted the referral (an AAOR's first contact with a person who comes in precedes its analysis and the
orientation); the transitions from OPEN are `before_acceptance`."""

UNDER_WAY = frozenset({S.ACCEPTED, S.FIRST_CONTACT_MADE, S.FOLLOW_UP_STARTED})

LIVE = OPEN | UNDER_WAY
"""Neither refused, cancelled nor closed."""

TRANSITIONS: dict[str, Transition] = {
    "receive": Transition("received", frozenset({S.SUBMITTED, S.REDIRECTED}), S.RECEIVED, Actor.RECEIVER),
    "callback": Transition("called-back", LIVE, None, Actor.RECEIVER, once=True),
    "analyse": Transition(
        "analysed", OPEN - {S.ANALYSED}, S.ANALYSED, Actor.RECEIVER, before_acceptance=True, once=True
    ),
    "accept": Transition("accepted", OPEN, S.ACCEPTED, Actor.RECEIVER, before_acceptance=True),
    "refuse": Transition("refused", OPEN, S.REFUSED, Actor.RECEIVER, before_acceptance=True),
    "redirect": Transition("redirected", OPEN - {S.REDIRECTED}, S.REDIRECTED, Actor.RECEIVER, before_acceptance=True),
    "first-contact": Transition(
        "first-contact-made",
        OPEN - {S.FIRST_CONTACT_MADE} | {S.ACCEPTED},
        S.FIRST_CONTACT_MADE,
        Actor.RECEIVER,
        late=frozenset({S.FOLLOW_UP_STARTED}),
        once=True,
    ),
    "start-follow-up": Transition(
        "follow-up-started",
        frozenset({S.ACCEPTED, S.FIRST_CONTACT_MADE}),
        S.FOLLOW_UP_STARTED,
        Actor.RECEIVER,
        after_acceptance=True,
    ),
    "close": Transition("closed", UNDER_WAY, S.CLOSED, Actor.RECEIVER, after_acceptance=True),
    "cancel": Transition("cancelled", OPEN, S.CANCELLED, Actor.SENDER, before_acceptance=True),
}


MEETING_STATUSES = frozenset({S.RECEIVED, S.ANALYSED, S.ACCEPTED, S.FIRST_CONTACT_MADE, S.FOLLOW_UP_STARTED})
"""The receiving organisation meets the person once it has the referral, until the referral ends or leaves it."""

DURATION_EXCEEDED = "duration-exceeded"


def referral_id_for(from_org: str, idempotency_key: str | None) -> uuid.UUID:
    """A retried submission with the same key lands on the same referral."""
    return id_for(IDEMPOTENCY_NAMESPACE, idempotency_key, from_org)


@dataclass(frozen=True)
class Milestone:
    """A dated step of a referral's history and the target it was addressed to at that point."""

    name: str
    at: datetime
    to_org: str
    to_service: str
    planned_meetings: int | None = None
    """The plan's term, for the intervention plan's steps."""


@dataclass(frozen=True)
class IdempotentRequest:
    """A command sent with an `Idempotency-Key` by an organisation: the same key and request again changes nothing.
    Keys are each organisation's own: after a redirection, the new receiver's key never meets the former one's."""

    org: str
    """The organisation sending the command (the step's `actor_org`)."""
    idempotency_key: str
    digest: str

    @property
    def scoped_key(self) -> str:
        return scoped_key(self.org, self.idempotency_key)


def scoped_key(org: str, idempotency_key: str) -> str:
    """An organisation's key as `Referral.requests` holds it (an organisation id holds no control character, so two
    organisations' keys never meet)."""
    return f"{org}\x1f{idempotency_key}"


@dataclass(frozen=True)
class Meeting:
    """A meeting with the person: who recorded it and when it took place (`step`), how. Never what was said."""

    step: Step
    mode: str


@dataclass(frozen=True)
class PlanChange:
    """The intervention plan set (`revise` False) or revised, with its term in meetings."""

    step: Step
    planned_meetings: int
    revise: bool


@dataclass(frozen=True)
class Plan:
    """The current receiver's intervention plan: its term, how many times it was revised."""

    planned_meetings: int
    revisions: int


class Standing(TypedDict):
    """Where a referral stands, as an organisation was last shown it: its receiver, status and covering agreement."""

    to_org: str
    to_service: str
    status: str
    agreement_id: str | None


class Covering(TypedDict):
    """The agreement covering a referral's receiver, as a redirection records it (both None: no agreement covers the
    new receiver, the referral is an orientation)."""

    agreement_id: str | None
    agreement_kind: str | None


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
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 recorded no agreement with a redirection: a redirection stored then keeps the agreement the
            referral had before it (recorded at submission), as it did when it was recorded."""
            state["covering"] = None

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
        covering: Covering | None
        """A redirection's: the agreement covering the new receiver, which the referral is now under. None: the
        step changes no agreement (every other step, and a redirection stored before version 2)."""

    class DelayFlagged(Aggregate.Event):
        """A clock reached its at-risk threshold or its bound (recorded once per clock and kind), with the organisation
        and service the clock runs for (after a redirect, not the referral's current target)."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 did not record whose clock it was: `Referral.target_at` tells it from the history."""
            state["responsible_org"] = None
            state["service"] = None

        standard: str
        kind: str
        started_at: datetime
        due_at: datetime
        at: datetime
        bound_s: int
        responsible_org: str | None
        service: str | None

    class MeetingRecorded(Aggregate.Event):
        """A meeting took place: when and how (its content is never recorded)."""

        mode: str
        actor_org: str
        actor: str
        at: datetime
        idempotency_key: str | None
        request_digest: str | None

    class PlanChanged(Aggregate.Event):
        """The intervention plan was set (`intervention-plan-set`) or revised (`intervention-plan-revised`)."""

        change: str
        planned_meetings: int
        actor_org: str
        actor: str
        at: datetime
        idempotency_key: str | None
        request_digest: str | None

    class DurationExceeded(Aggregate.Event):
        """A meeting went past the duration standard (recorded once per receiver)."""

        standard: str
        meetings: int
        limit: int
        at: datetime

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
        self.requests: dict[str, str] = {}
        """`scoped_key(org, Idempotency-Key)` -> digest of the request it was first sent with (meetings, plans)."""
        self.left: dict[str, Standing] = {}
        """Organisation -> the referral as it stood right after the redirection that last moved it away from that
        organisation (`standing_for`)."""

    @property
    def live(self) -> bool:
        """Neither refused, cancelled nor closed."""
        return S(self.status) in LIVE

    def concerns(self, org_id: str) -> bool:
        """Whether `org_id` sent or received this referral."""
        return org_id in (self.from_org, self.to_org)

    def perform(self, command: str, step: Step, now: datetime, cover: Callable[[], Covering] | None = None) -> None:
        """Applies one lifecycle command (a key of TRANSITIONS), or raises why it cannot. A redirection takes the
        agreement covering the new receiver (`cover`, the lookup `Referrals.redirect` passes); no other command does.
        `cover` is called only once the step passed every other check: a step the referral refuses is refused as such
        (403, 409, 422), never because the agreements service is down."""
        transition = TRANSITIONS[command]
        allowed_org = self.to_org if transition.actor is Actor.RECEIVER else self.from_org
        if step.actor_org != allowed_org:
            raise ReferralForbiddenError(f"only the {transition.actor.value} may {command} this referral")
        status = S(self.status)
        if (
            status not in transition.sources | transition.late
            or (transition.before_acceptance and self.accepted)
            or (transition.after_acceptance and not self.accepted)
        ):
            why = " before it is accepted" if transition.after_acceptance and not self.accepted else ""
            raise ReferralTransitionError(f"cannot {command} a referral in status {self.status}{why}")
        if transition.once and any(m.name == transition.name for m in self.stage()):
            raise ReferralTransitionError(f"cannot {command}: already recorded for the current receiver")
        if command == "redirect":
            self._check_redirect(step, cover)
        self._check_time(step.at, now)
        covering = cover() if command == "redirect" and cover is not None else None
        self._transition(
            transition=transition.name,
            previous_status=self.status,
            status=(transition.target if transition.target and status in transition.sources else status).value,
            actor_org=step.actor_org,
            actor=step.actor,
            at=step.at,
            reason=step.reason,
            outcome=step.outcome,
            previous_to_org=self.to_org,
            previous_to_service=self.to_service,
            to_org=step.to_org or self.to_org,
            to_service=step.to_service or self.to_service,
            covering=covering,
        )

    def _check_redirect(self, step: Step, cover: Callable[[], Covering] | None) -> None:
        if (step.to_org, step.to_service) == (self.to_org, self.to_service):
            raise ReferralRedirectError("to_org: the referral is already addressed to this organisation's service")
        if cover is None:
            raise ValueError("a redirection records the agreement covering the new receiver (Referrals.redirect)")

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
        covering: Covering | None,
    ) -> None:
        self.status = status
        self.to_org = to_org
        self.to_service = to_service
        if covering is not None:
            self.agreement_id = covering["agreement_id"]
            self.agreement_kind = covering["agreement_kind"]
        self.last_step_at = at
        self.history.append(Milestone(transition, at, to_org, to_service))
        if transition == "redirected" and previous_to_org != to_org:
            self.left[previous_to_org] = self.standing()

    def flag_delay(self, flag: Mapping[str, Any]) -> None:
        """Records that a clock became at risk or breached (`flag`: the fields of a `DelayFlagged`); a second flag of
        the same clock and kind is ignored."""
        if (flag["standard"], flag["kind"], flag["started_at"]) not in self.flags:
            self._flag(**flag)

    def standing(self) -> Standing:
        return Standing(
            to_org=self.to_org, to_service=self.to_service, status=self.status, agreement_id=self.agreement_id
        )

    def standing_for(self, org: str) -> Standing:
        """The referral as `org` may be shown it: as it stands, to its sender and its current receiver; to a former
        receiver, as it stood right after the redirection that last moved it away from `org` (which names where it
        went: `org` chose it), never what later receivers did with it (the API no longer shows it to `org`, and the
        audit cuts `org`'s view at that redirection)."""
        if org in (self.from_org, self.to_org) or org not in self.left:
            return self.standing()
        return self.left[org]

    def target_at(self, at: datetime) -> tuple[str, str]:
        """The organisation and service the referral was addressed to at `at`."""
        current = [m for m in self.history if m.at <= at] or self.history[:1]
        return current[-1].to_org, current[-1].to_service

    @classmethod
    def delay_flags(
        cls, referral_id: uuid.UUID, version: int, flags: Sequence[Mapping[str, Any]], timestamp: datetime
    ) -> list[DelayFlagged]:
        """The events `flag_delay` records for `flags` (each the fields of a `DelayFlagged`), in order, on the
        referral at `version`, built without loading it: for a caller that knows from a read model that none is
        flagged yet (recording them fails the store's version check when the referral has moved since). They are
        recorded at `timestamp` (`DelayFlagged.create_timestamp()`: a tick's flags, written together, share it).

        Each is the object the event's constructor makes (its fields in its dictionary, in their order), made without
        calling it: its frozen assignments, one call each, were 2.3 µs of a flag's 3 (a tick makes a thousand). Its
        checks are made here: the flag's fields are the event's own, and the referral's id a UUID."""
        if not isinstance(referral_id, uuid.UUID):
            raise TypeError(f"a flag's referral id is a UUID, not {type(referral_id).__name__}")
        made = []
        for offset, flag in enumerate(flags, 1):
            if tuple(flag) != FLAG_FIELDS:
                raise TypeError(f"a flag's fields are {', '.join(FLAG_FIELDS)}")
            flagged = object.__new__(cls.DelayFlagged)
            state = flagged.__dict__
            state.update(originator_id=referral_id, originator_version=version + offset, timestamp=timestamp)
            state.update(flag)
            made.append(flagged)
        return made

    @event(DelayFlagged)
    def _flag(
        self,
        standard: str,
        kind: str,
        started_at: datetime,
        due_at: datetime,
        at: datetime,
        bound_s: int,
        responsible_org: str | None,
        service: str | None,
    ) -> None:
        self.flags.add((standard, kind, started_at))

    def _check_time(self, at: datetime, now: datetime) -> None:
        if at > now:
            raise ReferralTimeError("at: a step cannot happen in the future")
        if at < self.last_step_at:
            raise ReferralTimeError("at: a step cannot precede the referral's previous step")

    def _check_receiver_follows(self, actor_org: str, what: str, at: datetime, now: datetime) -> None:
        """Meetings and plans are the receiving organisation's, while it has the referral."""
        if actor_org != self.to_org:
            raise ReferralForbiddenError(f"only the receiving organisation may {what}")
        if S(self.status) not in MEETING_STATUSES:
            raise ReferralTransitionError(f"cannot {what} on a referral in status {self.status}")
        self._check_time(at, now)

    def replayed(self, request: IdempotentRequest | None) -> bool:
        """Whether this request was already applied (raises if its key was used for another request)."""
        if request is None or request.scoped_key not in self.requests:
            return False
        if self.requests[request.scoped_key] != request.digest:
            raise ReferralIdempotencyConflictError("this Idempotency-Key was used for a different request")
        return True

    def episode(self) -> list[Milestone]:
        """The current receiver's part of the history (since the last redirection)."""
        starts = [n for n, m in enumerate(self.history) if m.name == "redirected"]
        return self.history[starts[-1] if starts else 0 :]

    @property
    def accepted(self) -> bool:
        """Whether the current receiver accepted the referral."""
        return any(m.name == "accepted" for m in self.episode())

    def stage(self) -> list[Milestone]:
        """The current receiver's part of the history before it accepted the referral, or since it accepted it."""
        episode = self.episode()
        starts = [n for n, m in enumerate(episode) if m.name == "accepted"]
        return episode[starts[-1] if starts else 0 :]

    @property
    def meetings(self) -> int:
        """Meetings the current receiver recorded."""
        return sum(1 for m in self.episode() if m.name == MEETING)

    @property
    def plan(self) -> Plan | None:
        plans = [m for m in self.episode() if m.name in (PLAN_SET, PLAN_REVISED)]
        if not plans or plans[-1].planned_meetings is None:
            return None
        return Plan(plans[-1].planned_meetings, sum(1 for m in plans if m.name == PLAN_REVISED))

    def record_meeting(
        self, meeting: Meeting, request: IdempotentRequest | None, now: datetime, policy: DurationPolicy
    ) -> None:
        """Records a meeting, and `duration-exceeded` the first time the receiver's meetings go past the limit."""
        step = meeting.step
        self._check_receiver_follows(step.actor_org, "record a meeting", step.at, now)
        key, digest = self._sent_with(request, step)
        self._meet(
            mode=meeting.mode,
            actor_org=step.actor_org,
            actor=step.actor,
            at=step.at,
            idempotency_key=key,
            request_digest=digest,
        )
        episode = self.episode()
        if any(m.name == DURATION_EXCEEDED for m in episode):
            return
        for outcome in duration_outcomes(episode, policy):
            if outcome.standard is not DurationStandard.CONSULT_PLAN and outcome.state is ClockState.BREACHED:
                assert outcome.exceeded_at is not None and outcome.limit is not None
                self._exceed(standard=outcome.standard.value, meetings=self.meetings, limit=outcome.limit, at=step.at)

    def change_plan(self, change: PlanChange, request: IdempotentRequest | None, now: datetime) -> None:
        """Sets the intervention plan (once per receiver) or revises it with a new term."""
        what = "revise the intervention plan" if change.revise else "set the intervention plan"
        step = change.step
        self._check_receiver_follows(step.actor_org, what, step.at, now)
        if change.revise and self.plan is None:
            raise ReferralTransitionError("no intervention plan to revise: set it first")
        if not change.revise and self.plan is not None:
            raise ReferralTransitionError("the intervention plan is set: revise it to change its term")
        key, digest = self._sent_with(request, step)
        self._plan(
            change=PLAN_REVISED if change.revise else PLAN_SET,
            planned_meetings=change.planned_meetings,
            actor_org=step.actor_org,
            actor=step.actor,
            at=step.at,
            idempotency_key=key,
            request_digest=digest,
        )

    @staticmethod
    def _sent_with(request: IdempotentRequest | None, step: Step) -> tuple[str | None, str | None]:
        """The key and digest an event records (its `actor_org` scopes the key)."""
        if request is None:
            return None, None
        if request.org != step.actor_org:
            raise ValueError("an Idempotency-Key is the acting organisation's own")
        return request.idempotency_key, request.digest

    def _remember(self, actor_org: str, idempotency_key: str | None, request_digest: str | None, at: datetime) -> None:
        """Keys are scoped by the event's `actor_org`, the receiver at the time: events stored before keys were scoped
        (the same fields) load scoped to the organisation that sent them."""
        if idempotency_key is not None and request_digest is not None:
            self.requests[scoped_key(actor_org, idempotency_key)] = request_digest
        self.last_step_at = at

    @event(MeetingRecorded)
    def _meet(
        self,
        mode: str,
        actor_org: str,
        actor: str,
        at: datetime,
        idempotency_key: str | None,
        request_digest: str | None,
    ) -> None:
        self._remember(actor_org, idempotency_key, request_digest, at)
        self.history.append(Milestone(MEETING, at, self.to_org, self.to_service))

    @event(PlanChanged)
    def _plan(
        self,
        change: str,
        planned_meetings: int,
        actor_org: str,
        actor: str,
        at: datetime,
        idempotency_key: str | None,
        request_digest: str | None,
    ) -> None:
        self._remember(actor_org, idempotency_key, request_digest, at)
        self.history.append(Milestone(change, at, self.to_org, self.to_service, planned_meetings))

    @event(DurationExceeded)
    def _exceed(self, standard: str, meetings: int, limit: int, at: datetime) -> None:
        self.history.append(Milestone(DURATION_EXCEEDED, at, self.to_org, self.to_service))


FLAG_FIELDS = tuple(f.name for f in fields(Referral.DelayFlagged))[len(fields(Aggregate.Event)) :]
"""A `DelayFlagged`'s own fields, in their order (`Referral.delay_flags`)."""
