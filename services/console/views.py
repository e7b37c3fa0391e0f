"""What the pages compute from the APIs' answers: the clock that matters most, the worklist's order, form values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.console.i18n import parse_moment

LIVE = {"BREACHED": 0, "AT_RISK": 1, "RUNNING": 2}
"""Clock states still counting, most pressing first."""
URGENCY = {"IMMEDIATE": 0, "URGENT": 1, "ROUTINE": 2}


@dataclass(frozen=True)
class ClockView:
    standard: str
    state: str
    due_at: datetime
    seconds_left: float
    """Negative once the due time passed."""

    @property
    def tone(self) -> str:
        return {"BREACHED": "breached", "AT_RISK": "at-risk", "RUNNING": "running"}.get(self.state, "done")

    @property
    def pressing(self) -> tuple[int, float]:
        return LIVE.get(self.state, 9), self.seconds_left


def clock_view(clock: dict[str, Any], now: datetime) -> ClockView:
    due = parse_moment(clock["due_at"])
    assert due is not None
    return ClockView(str(clock["standard"]), str(clock["state"]), due, (due - now).total_seconds())


def most_pressing(clocks: list[dict[str, Any]], org: str, now: datetime) -> ClockView | None:
    """The live clock that matters most to `org`: its own when it has one to meet (a receiver), else the one it is
    waiting on (a sender); breached before at-risk before running, then the soonest due."""
    live = [c for c in clocks if c.get("state") in LIVE]
    mine = [c for c in live if c.get("responsible_org") == org] or live
    views = sorted((clock_view(c, now) for c in mine), key=lambda v: v.pressing)
    return views[0] if views else None


def worklist_order(referral: dict[str, Any], clock: ClockView | None) -> tuple[int, float, int, str]:
    """Breached, at-risk, running clocks first (soonest due first), then by urgency and submission time."""
    state_rank, left = clock.pressing if clock else (9, 0.0)
    return state_rank, left, URGENCY.get(str(referral.get("urgency")), 9), str(referral.get("submitted_at"))


def local_to_instant(value: str | None, zone: ZoneInfo) -> str | None:
    """A `datetime-local` form value (Québec wall time, no offset) as an ISO 8601 instant with its offset."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def short_id(identifier: str) -> str:
    return identifier.split("-")[0]
