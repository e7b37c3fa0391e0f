"""The ministry's delay standards (Annexe II) as clocks, computed from a referral's dated history.

Part of the public contract: the referral service runs these clocks and flags at-risk and breached ones; the audit
service recomputes them from the events on `rls.referral.v1` and sets its reading beside the flags. A table of rules
says which standards apply to a referral (by target service, channel and urgency), which step starts each clock and
which step meets it; bounds are configuration (regions adapt them). A redirect ends the current target's clocks and
starts the new target's. Pure functions of their inputs: no clock is read here.

A bound a region sets applies to the clocks that start from the moment it takes effect: a clock keeps the bound in
force when it started, so a later change never re-judges a clock already met, stopped or breached (nor flags it). The
services that run or read the clocks (referral, standards board, audit) read their `*_STANDARD_BOUNDS_S` setting with
`BoundsSetting`, `check_bounds` and `policy_of`: one format and one reading for all.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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

    def applies(self, service: str, channel: str, urgency: str) -> bool:
        return (
            (self.services is None or service in self.services)
            and (self.channels is None or channel in self.channels)
            and (self.urgencies is None or urgency in self.urgencies)
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

ANNEXE_II_SERVICES = CONSULTS | {"AAOR", "INFO_SOCIAL", "CRISIS_24_7", "CIVIL_SECURITY"}
"""The six general social services (fiches 1 to 6), the only ones Annexe II sets delay standards for: the CSSS's
specific and specialised programmes and the community organisations' services (autonomous, not part of the network)
have none, so no clock of this table ever starts for them."""
OWN_URGENT_RULES = CONSULTS | {"CRISIS_24_7", "CIVIL_SECURITY", "INFO_SOCIAL"}
"""Services whose urgent situations follow rules of their own: the consultations' clocks start at acceptance, crisis
and civil security handle every urgent situation immediately, and Info-Social has no urgent-handling standard (its
standard is the call answered, which the standards board measures)."""
URGENT_FROM_RECEPTION = ANNEXE_II_SERVICES - OWN_URGENT_RULES
"""The services whose urgent situations are timed from the request received, 24 hours or immediately by degree
(Annexe II, "traite toute situation considérée urgente"): those of the Annexe with no urgent rule of their own, the
AAOR alone. The generic urgent rules apply to them only, never to a service the Annexe does not cover."""

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
        URGENT_FROM_RECEPTION,
        urgencies=frozenset({"URGENT"}),
    ),
    Rule(
        DelayStandard.CRISIS_IMMEDIATE,
        "submitted",
        CONTACT,
        URGENT_FROM_RECEPTION,
        urgencies=frozenset({"IMMEDIATE"}),
    ),
)


@dataclass(frozen=True)
class BoundChange:
    """A bound a region set for a standard from a moment on: it applies to the clocks that start then or later."""

    standard: str
    bound: timedelta
    effective_from: datetime


@dataclass(frozen=True)
class Policy:
    """The configured bounds and the fraction of a bound after which a clock is at risk."""

    bounds: Mapping[str, timedelta]
    """The bounds in force from the beginning."""
    at_risk_ratio: float = 0.75
    zone: ZoneInfo = QUEBEC
    """Where a calendar day is counted (`IN_DAYS`)."""
    changes: tuple[BoundChange, ...] = ()
    """Bounds set later, each for the clocks started from its `effective_from` on (`bound`)."""

    def bound(self, standard: str, start: datetime) -> timedelta:
        """The bound of a clock of `standard` started at `start`: the one in force then (the latest change in effect
        by `start`, else `bounds`). A clock keeps it: a later change is not applied to it."""
        dated = [c for c in self.changes if c.standard == standard and c.effective_from <= start]
        return max(dated, key=lambda c: c.effective_from).bound if dated else self.bounds[standard]

    def in_days(self, standard: DelayStandard, start: datetime) -> bool:
        """Whether the bound of a clock started at `start` counts calendar days (a standard stated in days, and a
        bound of whole days)."""
        return standard in IN_DAYS and self.bound(standard, start) % DAY == timedelta(0)

    def due(self, standard: DelayStandard, start: datetime) -> datetime:
        """When a clock of `standard` started at `start` falls due."""
        bound = self.bound(standard, start)
        if not self.in_days(standard, start):
            return start + bound
        return (start.astimezone(self.zone) + bound).astimezone(start.tzinfo)  # wall-clock days


class DatedBound(BaseModel):
    """One bound of a standard in a `BoundsSetting`: `s` seconds, for the clocks started from `from` on."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    s: int = Field(description="The bound, in seconds (at least 1)")
    from_: AwareDatetime | date | None = Field(
        None,
        alias="from",
        description="When it takes effect: a date-time with its offset, or a date (00:00 there, in the policy's "
        "zone); absent: from the beginning",
    )


BoundsSetting = dict[DelayStandard, int | list[DatedBound]]
"""The `*_STANDARD_BOUNDS_S` setting (JSON object): per standard overriding Annexe II, seconds (from the beginning,
as before) or the bounds a region set over time, each applying to the clocks that start from its `from` on:

    {"AAOR_CALLBACK": 43200,
     "AAOR_ANALYSIS": [{"s": 864000}, {"s": 604800, "from": "2027-04-01"}]}

A bound without `from` applies from the beginning (Annexe II's when none is given). To change a bound, add the new
one with the date it takes effect and keep the one it replaces: changing a bound without a date re-judges every clock
ever started (its flags are raised at the next tick). `check_bounds` refuses a setting that is not one."""


def check_bounds(setting: BoundsSetting, variable: str) -> BoundsSetting:
    """The setting, or a `ValueError` naming `variable` and the standards at fault: a bound under one second, no
    bound in a list, two bounds of one standard taking effect at the same moment (or both without `from`)."""
    problems = []
    for standard, value in setting.items():
        bounds = [DatedBound(s=value)] if isinstance(value, int) else value
        moments = [b.from_ for b in bounds]
        if any(b.s < 1 for b in bounds):
            problems.append(f"{standard.value}: each bound is at least 1 second")
        if not bounds:
            problems.append(f"{standard.value}: no bound given")
        if len(set(moments)) != len(moments):
            problems.append(f"{standard.value}: two bounds take effect at the same moment (or have no `from`)")
    if problems:
        raise ValueError(f"{variable}: " + "; ".join(problems))
    return setting


def policy_of(setting: BoundsSetting, at_risk_ratio: float = 0.75, zone: ZoneInfo = QUEBEC) -> Policy:
    """The policy a `BoundsSetting` describes (Annexe II for the standards it does not name); a date in it starts at
    00:00 in `zone`."""
    bounds: dict[str, timedelta] = dict(DEFAULT_BOUNDS)
    changes = []
    for standard, value in setting.items():
        for dated in [DatedBound(s=value)] if isinstance(value, int) else value:
            bound = timedelta(seconds=dated.s)
            moment = dated.from_
            if moment is None:
                bounds[str(standard)] = bound
                continue
            if not isinstance(moment, datetime):
                moment = datetime.combine(moment, time(), zone)
            changes.append(BoundChange(str(standard), bound, moment))
    return Policy(bounds, at_risk_ratio, zone, tuple(sorted(changes, key=lambda c: (c.standard, c.effective_from))))


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
            bound = policy.bound(rule.standard, start)
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
                    policy.in_days(rule.standard, start),
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
