"""Delay standards (MSSS orientations, Annexe II) recomputed by the auditor from the referral events alone.

The audit does not take the referral service's word for compliance: it rebuilds every clock from the dated lifecycle
steps on `rls.referral.v1` with its own reading of the standards (bounds are configuration, as regions adapt them), and
sets it beside the breaches the referral service flagged (`delay-breached` events). A test checks both readings agree
on the same history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.views import HistoryRow, parse_time
from services.contract.delay_standards import DEFAULT_BOUNDS, Policy, Step, compute_clocks
from services.contract.delay_standards import compliance as standard_compliance

ANNEXE_II: dict[str, timedelta] = dict(DEFAULT_BOUNDS)
"""Annexe II bounds, as published in the contract (regions override them by configuration)."""


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
    """MET, BREACHED, RUNNING, AT_RISK or STOPPED (ended before its bound without being met: not counted)."""

    @property
    def decided(self) -> bool:
        return self.state in ("MET", "BREACHED")

    @property
    def breached_at(self) -> datetime | None:
        return self.due_at if self.state == "BREACHED" else None


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
    referral_id: str, channel: str, urgency: str, steps: Sequence[Step], policy: Policy, now: datetime
) -> list[Clock]:
    """Every clock of one referral as it stood at `now`, by the contract's definition of the standards."""
    return [
        Clock(
            referral_id, c.standard.value, c.responsible_org, c.service, c.started_at, c.due_at, c.met_at, c.state.value
        )
        for c in compute_clocks(steps, channel, urgency, policy, now)
    ]


def all_clocks(rows: Iterable[HistoryRow], policy: Policy, now: datetime) -> list[Clock]:
    return [
        clock
        for referral_id, (channel, urgency, steps) in referral_steps(rows).items()
        for clock in clocks_of(referral_id, channel, urgency, steps, policy, now)
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
    return [
        Compliance(org, service, row.standard.value, row.total, row.met, row.breached, row.pct_met, row.median_s)
        for row in standard_compliance(clocks)
        if row.total
    ]
