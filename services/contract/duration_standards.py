"""The ministry's duration-of-service standards, computed from a referral's dated history.

Part of the public contract, like the delay standards: the referral service records `duration-exceeded` at the
meeting this definition says went past the limit, and the standards board counts conformance by the same definition.
Each receiver's handling of a referral (the history split at redirects) is one episode:

- AAOR handles a situation in at most 3 meetings (`AAOR_MEETINGS`), otherwise the person is oriented elsewhere;
- SOCIAL_CONSULT and PSYCH_CONSULT are short-term (`CONSULT_MEETINGS`): the limit is the intervention plan's term,
  at most 12 meetings, and a revised plan's new term once it is revised (beyond the term initially agreed the plan
  is revised); without a plan, 12;
- every person followed in consultation has an intervention plan in the record (`CONSULT_PLAN`).

An episode with meetings is BREACHED at the first meeting past the limit in force at that meeting (a later revision
does not undo it), MET when it ends (closed, redirected, refused, cancelled) within its limit, RUNNING meanwhile; the
plan standard is MET once a plan is set in the episode, BREACHED when it ends with meetings and no plan. Bounds are
configuration. Pure functions of their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.contract.delay_standards import CONSULTS, SEGMENT_END, Milestone
from services.contract.referral_events import ClockState, DurationStandard

MEETING = "meeting-recorded"
PLAN_SET = "intervention-plan-set"
PLAN_REVISED = "intervention-plan-revised"


class DurationMilestone(Milestone, Protocol):
    """A dated step of a referral, with its target then, and the plan's term for plan steps."""

    @property
    def planned_meetings(self) -> int | None: ...


@dataclass(frozen=True)
class DurationPolicy:
    """The configured limits (regions may adapt them)."""

    aaor_max_meetings: int = 3
    consult_max_meetings: int = 12


@dataclass(frozen=True)
class DurationOutcome:
    """One duration standard of one receiver's episode of a referral."""

    standard: DurationStandard
    org: str
    service: str
    started_at: datetime
    """The episode's first meeting."""
    meetings: int
    limit: int | None
    """The limit in force at the last meeting (None for the plan standard)."""
    exceeded_at: datetime | None
    """The meeting that went past the limit (BREACHED), if any."""
    state: ClockState
    """MET, BREACHED or RUNNING."""


def _episodes(history: Sequence[DurationMilestone]) -> list[list[DurationMilestone]]:
    episodes: list[list[DurationMilestone]] = [[]]
    for milestone in sorted(history, key=lambda m: m.at):
        episodes[-1].append(milestone)
        if milestone.name == "redirected":  # ends one receiver's episode, starts the next one's
            episodes.append([milestone])
    return episodes


def _limit(service: str, plans: Sequence[DurationMilestone], policy: DurationPolicy) -> int:
    """The limit in force given the plan steps so far: AAOR's; a revised term; the plan's term capped; the cap."""
    if service not in CONSULTS:
        return policy.aaor_max_meetings
    revised = [p.planned_meetings for p in plans if p.name == PLAN_REVISED and p.planned_meetings]
    if revised:
        return revised[-1]
    initial = [p.planned_meetings for p in plans if p.name == PLAN_SET and p.planned_meetings]
    return min(policy.consult_max_meetings, initial[-1]) if initial else policy.consult_max_meetings


def _meetings_outcome(
    episode: Sequence[DurationMilestone], ended: bool, policy: DurationPolicy
) -> tuple[int, datetime | None, ClockState]:
    """Limit at the last meeting, the meeting past the limit (if any) and the state."""
    limit, exceeded_at, count = 0, None, 0
    for milestone in episode:
        if milestone.name != MEETING:
            continue
        count += 1
        limit = _limit(episode[0].to_service, [p for p in episode if p.at <= milestone.at], policy)
        if exceeded_at is None and count > limit:
            exceeded_at = milestone.at
    state = ClockState.BREACHED if exceeded_at else ClockState.MET if ended else ClockState.RUNNING
    return limit, exceeded_at, state


def duration_outcomes(history: Sequence[DurationMilestone], policy: DurationPolicy) -> list[DurationOutcome]:
    """Every duration standard of every episode with meetings, as its history stands."""
    outcomes = []
    for episode in _episodes(history):
        meetings = [m for m in episode if m.name == MEETING]
        if not meetings:
            continue
        org, service = meetings[0].to_org, meetings[0].to_service
        if service != "AAOR" and service not in CONSULTS:
            continue
        ended = any(m.name in SEGMENT_END and m.at >= meetings[0].at for m in episode[1:])
        limit, exceeded_at, state = _meetings_outcome(episode, ended, policy)
        standard = DurationStandard.AAOR_MEETINGS if service == "AAOR" else DurationStandard.CONSULT_MEETINGS
        first = meetings[0].at
        outcomes.append(DurationOutcome(standard, org, service, first, len(meetings), limit, exceeded_at, state))
        if service in CONSULTS:
            planned = any(m.name in (PLAN_SET, PLAN_REVISED) for m in episode)
            plan_state = ClockState.MET if planned else ClockState.BREACHED if ended else ClockState.RUNNING
            outcomes.append(
                DurationOutcome(
                    DurationStandard.CONSULT_PLAN, org, service, first, len(meetings), None, None, plan_state
                )
            )
    return outcomes
