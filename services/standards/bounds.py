"""The standards' bounds and the board's tumbling buckets (hour, day, month in the board's time zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.contract.delay_standards import Policy
from services.contract.duration_standards import DurationPolicy
from services.contract.hours_standards import HoursPolicy


@dataclass(frozen=True)
class Bounds:
    """Every bound the board measures against (configuration: the orientations' numbers by default)."""

    delays: Policy
    durations: DurationPolicy
    answer_within_s: int
    answer_target_pct: float
    hours: HoursPolicy
    zone: ZoneInfo


class Period(StrEnum):
    """A tumbling bucket of the board: an hour (Info-Social only), a day or a month, local time."""

    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"


BOARD_PERIODS = (Period.DAY, Period.MONTH)
CALL_PERIODS = (Period.HOUR, Period.DAY, Period.MONTH)


def bucket(at: datetime, period: Period, zone: ZoneInfo) -> str:
    """The bucket holding `at`: `2026-03-14T09:00:00-04:00` (the offset tells the two 01:00 of a DST change apart),
    `2026-03-14`, `2026-03`."""
    local = at.astimezone(zone)
    if period is Period.HOUR:
        return local.replace(minute=0, second=0, microsecond=0).isoformat()
    if period is Period.DAY:
        return local.date().isoformat()
    return local.strftime("%Y-%m")


def bucket_start(label: str, period: Period, zone: ZoneInfo) -> datetime:
    """The instant a bucket starts."""
    if period is Period.HOUR:
        return datetime.fromisoformat(label)
    day = date.fromisoformat(label if period is Period.DAY else label + "-01")
    return datetime.combine(day, datetime.min.time(), zone)


def days_between(start: date, end: date) -> list[date]:
    """The days of [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]
