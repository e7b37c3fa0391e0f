"""Delay standards (MSSS orientations, Annexe II) recomputed by the auditor from the referral events alone.

The audit does not take the referral service's word for compliance: it rebuilds every clock from the dated lifecycle
steps on `rls.referral.v1` with its own reading of the standards (bounds are configuration, as regions adapt them), and
sets it beside the breaches the referral service flagged (`delay-breached` events). A test checks both readings agree
on the same history.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.history import HistoryRow, parse_time
from services.contract.referral_events import DelayStandard

CONSULTS = frozenset({"SOCIAL_CONSULT", "PSYCH_CONSULT"})
SEGMENT_END = frozenset({"redirected", "refused", "cancelled", "closed"})
FIRST_CONTACT = frozenset({"first-contact-made"})

ANNEXE_II: dict[str, timedelta] = {
    DelayStandard.AAOR_FIRST_CONTACT: timedelta(hours=2),
    DelayStandard.AAOR_CALLBACK: timedelta(hours=24),
    DelayStandard.AAOR_ANALYSIS: timedelta(days=10),
    DelayStandard.CONSULT_FIRST_CONTACT: timedelta(days=7),
    DelayStandard.CONSULT_FOLLOW_UP: timedelta(days=30),
    DelayStandard.URGENT_HANDLING: timedelta(hours=24),
    DelayStandard.CRISIS_IMMEDIATE: timedelta(hours=1),
}
"""Annexe II bounds ("immediately", crisis 24/7, is given one hour, as the referral service does by default)."""


@dataclass(frozen=True)
class Standard:
    """A delay standard: to which referrals it applies, which step starts its clock and which steps meet it."""

    code: DelayStandard
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


STANDARDS: tuple[Standard, ...] = (
    # AAOR: first contact with a person who comes in <= 2 h; call-back after a phone request <= 24 h; analysis <= 10 d.
    Standard(
        DelayStandard.AAOR_FIRST_CONTACT, "submitted", FIRST_CONTACT, frozenset({"AAOR"}), frozenset({"IN_PERSON"})
    ),
    Standard(
        DelayStandard.AAOR_CALLBACK,
        "submitted",
        frozenset({"called-back"}),
        frozenset({"AAOR"}),
        frozenset({"PHONE", "INFO_SOCIAL_811"}),
    ),
    Standard(DelayStandard.AAOR_ANALYSIS, "submitted", frozenset({"analysed"}), frozenset({"AAOR"})),
    # Social and psychological consultation: first contact <= 7 d and follow-up <= 30 d after the request is accepted.
    Standard(DelayStandard.CONSULT_FIRST_CONTACT, "accepted", FIRST_CONTACT, CONSULTS),
    Standard(DelayStandard.CONSULT_FOLLOW_UP, "accepted", frozenset({"follow-up-started"}), CONSULTS),
    # Urgent situations: handled <= 24 h (from acceptance for consultations, from the request elsewhere).
    Standard(DelayStandard.URGENT_HANDLING, "accepted", FIRST_CONTACT, CONSULTS, urgencies=frozenset({"URGENT"})),
    Standard(
        DelayStandard.URGENT_HANDLING,
        "submitted",
        FIRST_CONTACT,
        urgencies=frozenset({"URGENT"}),
        except_services=CONSULTS | {"CRISIS_24_7"},
    ),
    # Crisis 24/7, and any immediate urgency: handled immediately.
    Standard(DelayStandard.CRISIS_IMMEDIATE, "submitted", FIRST_CONTACT, frozenset({"CRISIS_24_7"})),
    Standard(
        DelayStandard.CRISIS_IMMEDIATE,
        "submitted",
        FIRST_CONTACT,
        urgencies=frozenset({"IMMEDIATE"}),
        except_services=frozenset({"CRISIS_24_7"}),
    ),
)


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime
    to_org: str
    to_service: str


@dataclass(frozen=True)
class Clock:
    """One standard for one referral and one target organisation."""

    referral_id: str
    standard: str
    org: str
    service: str
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    state: str
    """MET, BREACHED, RUNNING or STOPPED (ended before its bound without being met: not counted)."""

    @property
    def decided(self) -> bool:
        return self.state in ("MET", "BREACHED")

    @property
    def breached_at(self) -> datetime | None:
        return self.due_at if self.state == "BREACHED" else None


def bounds_with(overrides: Mapping[str, int]) -> dict[str, timedelta]:
    bounds = dict(ANNEXE_II)
    bounds.update({code: timedelta(seconds=seconds) for code, seconds in overrides.items()})
    return bounds


def referral_steps(rows: Iterable[HistoryRow]) -> dict[str, tuple[str, str, list[Step]]]:
    """Per referral: channel, urgency and its dated lifecycle steps (delay flags are not steps)."""
    referrals: dict[str, tuple[str, str, list[Step]]] = {}
    for row in rows:
        if row.name.startswith("delay-"):
            continue
        data = row.payload
        step = Step(row.name, parse_time(data["occurred_at"]), data["to_org"], data["to_service"])
        if row.name == "submitted":
            referrals[data["referral_id"]] = (data["channel"], data["urgency"], [step])
        elif data["referral_id"] in referrals:
            referrals[data["referral_id"]][2].append(step)
    return referrals


def clocks_of(
    referral_id: str, channel: str, urgency: str, steps: Sequence[Step], bounds: Mapping[str, timedelta], now: datetime
) -> list[Clock]:
    """Every clock of one referral, as it stands at `now`; a redirection ends one target's clocks and starts the
    next target's."""
    segments: list[list[Step]] = [[]]
    for step in sorted(steps, key=lambda s: s.at):
        segments[-1].append(step)
        if step.name == "redirected":
            segments.append([Step("submitted", step.at, step.to_org, step.to_service)])
    clocks = []
    for segment in segments:
        if not segment:
            continue
        head = segment[0]
        ended = [s.at for s in segment[1:] if s.name in SEGMENT_END]
        for standard in STANDARDS:
            if not standard.applies(head.to_service, channel, urgency):
                continue
            start = next((s.at for s in segment if s.name == standard.starts_on), None)
            if start is None or start > now:
                continue
            due = start + bounds[standard.code]
            met = next((s.at for s in segment if s.name in standard.met_by and start <= s.at <= now), None)
            stopped = next((t for t in ended if start <= t <= now), None) if met is None else None
            clocks.append(
                Clock(
                    referral_id,
                    standard.code.value,
                    head.to_org,
                    head.to_service,
                    start,
                    due,
                    met,
                    _state(met, stopped, due, now),
                )
            )
    return clocks


def _state(met: datetime | None, stopped: datetime | None, due: datetime, now: datetime) -> str:
    if met is not None:
        return "MET" if met <= due else "BREACHED"
    if stopped is not None:
        return "BREACHED" if stopped > due else "STOPPED"
    return "BREACHED" if now >= due else "RUNNING"


def all_clocks(rows: Iterable[HistoryRow], bounds: Mapping[str, timedelta], now: datetime) -> list[Clock]:
    return [
        clock
        for referral_id, (channel, urgency, steps) in referral_steps(rows).items()
        for clock in clocks_of(referral_id, channel, urgency, steps, bounds, now)
    ]


@dataclass(frozen=True)
class Compliance:
    org: str | None
    service: str | None
    standard: str
    total: int
    met: int
    breached: int
    pct_met: float | None
    median_s: float | None


def compliance(clocks: Iterable[Clock], org: str | None = None, service: str | None = None) -> list[Compliance]:
    """Per standard (with clocks): decided clocks, met, breached, share met and median time to meet."""
    by_standard: dict[str, list[Clock]] = {}
    for clock in clocks:
        if clock.decided:
            by_standard.setdefault(clock.standard, []).append(clock)
    rows = []
    for standard in DelayStandard:
        decided = by_standard.get(standard.value, [])
        if not decided:
            continue
        met = sum(1 for c in decided if c.state == "MET")
        durations = [(c.met_at - c.started_at).total_seconds() for c in decided if c.met_at is not None]
        rows.append(
            Compliance(
                org,
                service,
                standard.value,
                len(decided),
                met,
                len(decided) - met,
                round(100 * met / len(decided), 1),
                statistics.median(durations) if durations else None,
            )
        )
    return rows
