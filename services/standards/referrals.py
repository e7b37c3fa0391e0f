"""What one referral contributes to the board: its delay clocks and duration episodes, met or breached.

The worker keeps each referral's history as its dated steps keyed by CloudEvent id (a record read twice sets the same
step). Clocks come from the contract's one definition (`services/contract/delay_standards.py`, the same the referral
service's compliance report uses) and durations from `services/contract/duration_standards.py`. The history's own
latest time is its "now": a clock still running is breached once the referral service's `delay-breached` event (at
the clock's due time) is in the history, so the board is a function of the topic alone and agrees with the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.contract.delay_standards import compute_clocks
from services.contract.duration_standards import duration_outcomes
from services.contract.referral_events import ClockState
from services.standards.bounds import BOARD_PERIODS, Bounds, bucket
from services.standards.domain import RowKey

StepRecord = dict[str, Any]
"""A step as the referrals table keeps it (JSON): name, at, to_org, to_service, channel, urgency, planned."""

DECIDED = (ClockState.MET, ClockState.BREACHED)


@dataclass(frozen=True)
class HistoryStep:
    """A dated step of a referral, with its target then (and the plan's term for plan steps)."""

    name: str
    at: datetime
    to_org: str
    to_service: str
    planned_meetings: int | None = None


def step_record(name: str, data: Mapping[str, Any]) -> StepRecord:
    """The step a referral event (its validated payload as JSON) records in the referral's history."""
    return {
        "name": name,
        "at": data["occurred_at"],
        "to_org": data["to_org"],
        "to_service": data["to_service"],
        "channel": data["channel"],
        "urgency": data["urgency"],
        "planned": data.get("planned_meetings"),
    }


def _step(record: StepRecord) -> HistoryStep:
    return HistoryStep(
        record["name"], datetime.fromisoformat(record["at"]), record["to_org"], record["to_service"], record["planned"]
    )


def referral_marks(history: Mapping[str, StepRecord], bounds: Bounds) -> list[tuple[RowKey, bool]]:
    """Every decided standard of one referral, in each bucket of the board: (row, met)."""
    if not history:
        return []
    records = list(history.values())
    steps = [_step(r) for r in records]
    now = max(s.at for s in steps)
    channel, urgency = records[0]["channel"], records[0]["urgency"]
    decided = [
        (c.responsible_org, c.service, c.standard.value, c.started_at, c.state == ClockState.MET)
        for c in compute_clocks(steps, channel, urgency, bounds.delays, now)
        if c.state in DECIDED
    ] + [
        (d.org, d.service, d.standard.value, d.started_at, d.state == ClockState.MET)
        for d in duration_outcomes(steps, bounds.durations)
        if d.state in DECIDED
    ]
    return [
        (RowKey(org, service, standard, period, bucket(started, period, bounds.zone)), met)
        for org, service, standard, started, met in decided
        for period in BOARD_PERIODS
    ]
