"""The ministry's delay standards (Annexe II) as clocks, computed from a referral's dated history.

Part of the public contract: the referral service runs these clocks and flags at-risk and breached ones; the audit
service recomputes them from the events on `rls.referral.v1` and sets its reading beside the flags. A table of rules
says which standards apply to a referral (by target service, channel and urgency), which step starts each clock and
which step meets it; bounds are configuration (regions adapt them). A redirect ends the current target's clocks and
starts the new target's. Pure functions of their inputs: no clock is read here.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.contract.referral_events import ClockState, DelayStandard


class Milestone(Protocol):
    """A dated step of a referral (`submitted`, `accepted`, `first-contact-made`, …) and its target then."""

    @property
    def name(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def to_org(self) -> str: ...
    @property
    def to_service(self) -> str: ...


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime
    to_org: str
    to_service: str


CONSULTS = frozenset({"SOCIAL_CONSULT", "PSYCH_CONSULT"})
SEGMENT_END = frozenset({"redirected", "refused", "cancelled", "closed"})

DEFAULT_BOUNDS: dict[str, timedelta] = {
    DelayStandard.AAOR_FIRST_CONTACT: timedelta(hours=2),
    DelayStandard.AAOR_CALLBACK: timedelta(hours=24),
    DelayStandard.AAOR_ANALYSIS: timedelta(days=10),
    DelayStandard.CONSULT_FIRST_CONTACT: timedelta(days=7),
    DelayStandard.CONSULT_FOLLOW_UP: timedelta(days=30),
    DelayStandard.URGENT_HANDLING: timedelta(hours=24),
    DelayStandard.CRISIS_IMMEDIATE: timedelta(hours=1),
}
"""Annexe II bounds; "immediately" (crisis 24/7) is given one hour by default."""

IN_DAYS = frozenset({DelayStandard.AAOR_ANALYSIS, DelayStandard.CONSULT_FIRST_CONTACT, DelayStandard.CONSULT_FOLLOW_UP})
"""The standards the ministry states in days ("dans les 10 jours suivant sa réception"): a bound of whole days counts
calendar days in the policy's zone (due at the same local time n days later, 23 or 25 hours longer or shorter across a
daylight-saving change); the others, stated in hours, are exact durations."""
DAY = timedelta(days=1)
QUEBEC = ZoneInfo("America/Montreal")


@dataclass(frozen=True)
class Rule:
    """When a standard applies, what starts it and what meets it."""

    standard: DelayStandard
    starts_on: str
    met_by: frozenset[str]
    services: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    urgencies: frozenset[str] | None = None
    except_services: frozenset[str] = frozenset()

    def applies(self, service: str, channel: str, urgency: str) -> bool:
        return (
            (self.services is None or service in self.services)
            and (self.channels is None or channel in self.channels)
            and (self.urgencies is None or urgency in self.urgencies)
            and service not in self.except_services
        )


CONTACT = frozenset({"first-contact-made", "follow-up-started", "meeting-recorded"})
"""The steps that mean the person was reached: the first contact, and the later steps that cannot happen without
one (a follow-up started, a meeting held), so a first contact entered late or not at all still meets its clocks."""
CALLED_BACK = CONTACT | {"called-back"}
"""A person who asked by phone is called back once reached: any contact meets the call-back."""

ANALYSIS_DONE = frozenset({"analysed", "accepted", "refused", "redirected"})
"""The steps that complete an AAOR's request ("compléter la demande", Annexe II): the analysis recorded, or the
decision that cannot be taken without it (the AAOR takes the request on itself, declines it, or orients the person
elsewhere). An AAOR that accepts or orients without a separate `analyse` has completed the request: `analyse` is no
longer possible once it has accepted, and a redirect ends its clocks. A redirect to the same service (one AAOR passing
the request to another, which analyses it from the start) completes nothing: it stops the clock (`_meets`)."""
RECEIVED_BY_PHONE_OR_IN_PERSON = frozenset({"PHONE", "IN_PERSON", "INFO_SOCIAL_811"})
"""The analysis standard runs from a request "reçue par téléphone ou en face à face" (Annexe II; fiche 1: "suivant sa
réception (téléphonique ou en personne)"): a request sent to the AAOR as an electronic document is not under it. A
request transferred from Info-Social 8-1-1 is a request made by phone, as for the call-back."""
FOLLOW_UP = frozenset({"follow-up-started", "meeting-recorded"})
"""The steps that start a consultation's follow-up ("l'intervenant débute le suivi avec la personne"): the follow-up
recorded as started, or a meeting with the person after acceptance (a first contact alone is not the follow-up; it has
its own 7-day clock)."""

OWN_URGENT_RULES = CONSULTS | {"CRISIS_24_7", "CIVIL_SECURITY", "INFO_SOCIAL"}
"""Services whose urgent situations follow rules of their own: the consultations' clocks start at acceptance, crisis
and civil security handle every urgent situation immediately, and Info-Social has no urgent-handling standard (its
standard is the call answered, which the standards board measures)."""

RULES: tuple[Rule, ...] = (
    Rule(DelayStandard.AAOR_FIRST_CONTACT, "submitted", CONTACT, frozenset({"AAOR"}), frozenset({"IN_PERSON"})),
    Rule(
        DelayStandard.AAOR_CALLBACK,
        "submitted",
        CALLED_BACK,
        frozenset({"AAOR"}),
        frozenset({"PHONE", "INFO_SOCIAL_811"}),
    ),
    Rule(DelayStandard.AAOR_ANALYSIS, "submitted", ANALYSIS_DONE, frozenset({"AAOR"}), RECEIVED_BY_PHONE_OR_IN_PERSON),
    Rule(DelayStandard.CONSULT_FIRST_CONTACT, "accepted", CONTACT, CONSULTS),
    Rule(DelayStandard.CONSULT_FOLLOW_UP, "accepted", FOLLOW_UP, CONSULTS),
    Rule(DelayStandard.URGENT_HANDLING, "accepted", CONTACT, CONSULTS, urgencies=frozenset({"URGENT"})),
    Rule(DelayStandard.CRISIS_IMMEDIATE, "accepted", CONTACT, CONSULTS, urgencies=frozenset({"IMMEDIATE"})),
    Rule(DelayStandard.CRISIS_IMMEDIATE, "submitted", CONTACT, frozenset({"CRISIS_24_7"})),
    Rule(
        DelayStandard.CRISIS_IMMEDIATE,
        "submitted",
        CONTACT,
        frozenset({"CIVIL_SECURITY"}),
        urgencies=frozenset({"URGENT", "IMMEDIATE"}),
    ),
    Rule(
        DelayStandard.URGENT_HANDLING,
        "submitted",
        CONTACT,
        urgencies=frozenset({"URGENT"}),
        except_services=OWN_URGENT_RULES,
    ),
    Rule(
        DelayStandard.CRISIS_IMMEDIATE,
        "submitted",
        CONTACT,
        urgencies=frozenset({"IMMEDIATE"}),
        except_services=OWN_URGENT_RULES,
    ),
)


@dataclass(frozen=True)
class Policy:
    """The configured bounds and the fraction of a bound after which a clock is at risk."""

    bounds: Mapping[str, timedelta]
    at_risk_ratio: float = 0.75
    zone: ZoneInfo = QUEBEC
    """Where a calendar day is counted (`IN_DAYS`)."""

    def in_days(self, standard: DelayStandard) -> bool:
        """Whether the standard's bound counts calendar days (stated in days, and given as whole days)."""
        return standard in IN_DAYS and self.bounds[standard] % DAY == timedelta(0)

    def due(self, standard: DelayStandard, start: datetime) -> datetime:
        """When a clock of `standard` started at `start` falls due."""
        bound = self.bounds[standard]
        if not self.in_days(standard):
            return start + bound
        return (start.astimezone(self.zone) + bound).astimezone(start.tzinfo)  # wall-clock days


@dataclass(frozen=True)
class Clock:
    """One delay standard of one referral, as it stands at `now`."""

    standard: DelayStandard
    bound: timedelta
    responsible_org: str
    service: str
    started_at: datetime
    due_at: datetime
    at_risk_at: datetime
    met_at: datetime | None
    stopped_at: datetime | None
    state: ClockState
    in_days: bool = False
    """Its bound counts calendar days (`Policy.in_days`)."""

    def due_flags(self, now: datetime) -> list[tuple[str, datetime]]:
        """The thresholds this clock has crossed by `now` without being met or stopped first: (kind, true time)."""
        end = min((t for t in (self.met_at, self.stopped_at) if t is not None), default=None)
        return [
            (kind, at)
            for kind, at in (("AT_RISK", self.at_risk_at), ("BREACHED", self.due_at))
            if at <= now and (end is None or end > at)
        ]

    @property
    def decided(self) -> bool:
        """Met, or breached (late or never met): counts in a compliance report."""
        return self.state in (ClockState.MET, ClockState.BREACHED)


def _segments(history: Sequence[Milestone]) -> list[list[Milestone]]:
    """Splits the history at each redirect: each segment is one target's handling of the referral."""
    segments: list[list[Milestone]] = [[]]
    for milestone in sorted(history, key=lambda m: m.at):
        segments[-1].append(milestone)
        if milestone.name == "redirected":
            segments.append([milestone])
    return segments


def _state(
    met_at: datetime | None, stopped_at: datetime | None, due_at: datetime, at_risk_at: datetime, now: datetime
) -> ClockState:
    if met_at is not None:
        return ClockState.MET if met_at <= due_at else ClockState.BREACHED
    if stopped_at is not None:
        return ClockState.BREACHED if stopped_at > due_at else ClockState.STOPPED
    if now >= due_at:
        return ClockState.BREACHED
    return ClockState.AT_RISK if now >= at_risk_at else ClockState.RUNNING


def _meets(rule: Rule, milestone: Milestone, target_service: str) -> bool:
    """Whether `milestone` meets `rule` in a segment addressed to `target_service`: a redirect to the same service
    passes the request on, it does not complete it."""
    if milestone.name not in rule.met_by:
        return False
    return milestone.name != "redirected" or milestone.to_service != target_service


def compute_clocks(
    history: Sequence[Milestone], channel: str, urgency: str, policy: Policy, now: datetime
) -> list[Clock]:
    """Every clock of a referral as it stood at `now`, from its dated history (steps after `now` are ignored)."""
    clocks = []
    for segment in _segments([m for m in history if m.at <= now]):
        head = segment[0]
        target_service, target_org = head.to_service, head.to_org
        if head.name == "redirected":
            segment = [Step("submitted", head.at, head.to_org, head.to_service), *segment[1:]]
        ended = [m.at for m in segment[1:] if m.name in SEGMENT_END]
        for rule in RULES:
            if not rule.applies(target_service, channel, urgency):
                continue
            start = next((m.at for m in segment if m.name == rule.starts_on), None)
            if start is None:
                continue
            bound = policy.bounds[rule.standard]
            met = next((m.at for m in segment if _meets(rule, m, target_service) and m.at >= start), None)
            stopped = next((t for t in ended if t >= start), None) if met is None else None
            due = policy.due(rule.standard, start)
            at_risk = start + (due - start) * policy.at_risk_ratio
            clocks.append(
                Clock(
                    rule.standard,
                    bound,
                    target_org,
                    target_service,
                    start,
                    due,
                    at_risk,
                    met,
                    stopped,
                    _state(met, stopped, due, at_risk, now),
                    policy.in_days(rule.standard),
                )
            )
    return clocks


@dataclass(frozen=True)
class Compliance:
    standard: DelayStandard
    total: int
    met: int
    breached: int
    pct_met: float | None
    median_s: float | None


class Measured(Protocol):
    """What a compliance report needs of a clock (the referral service's and the auditor's clocks both have it)."""

    @property
    def standard(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def met_at(self) -> datetime | None: ...


def compliance(clocks: Iterable[Measured]) -> list[Compliance]:
    """Per standard: decided clocks (met, or breached), how many met their bound, and the median time to meet them."""
    by_standard: dict[str, list[Measured]] = {}
    for clock in clocks:
        if clock.state in (ClockState.MET, ClockState.BREACHED):
            by_standard.setdefault(clock.standard, []).append(clock)
    report = []
    for standard in DelayStandard:
        decided = by_standard.get(standard, [])
        met = sum(1 for c in decided if c.state == ClockState.MET)
        durations = [(c.met_at - c.started_at).total_seconds() for c in decided if c.met_at is not None]
        report.append(
            Compliance(
                standard,
                len(decided),
                met,
                len(decided) - met,
                round(100 * met / len(decided), 1) if decided else None,
                statistics.median(durations) if durations else None,
            )
        )
    return report
