"""Hours-of-access standards, evaluated day by day from the schedules organisations declare in the directory.

A schedule (`service-hours-set`) is in force from its `effective_from` until the next one; on a date with an
exception its openings replace the weekly ones. A day conforms when:

- `AAOR_HOURS_PHONE` / `AAOR_HOURS_IN_PERSON`: the week holding it (Monday to Sunday) offers AAOR on that channel at
  least 70 hours, some of them on weekday evenings and some on the weekend;
- `HOURS_24_7` (CRISIS_24_7, INFO_SOCIAL): the day is covered from 00:00 to 24:00 on some channel.

The worker keeps each organisation's schedules; the days are counted when the board is read, for the period asked
(a schedule stays in force every day until it changes, so a day's row needs no event of that day).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from services.standards.bounds import Bounds, Period, days_between
from services.standards.domain import Conformance, RowKey

ScheduleRecord = dict[str, Any]
"""A `service-hours-set` payload as JSON."""
Span = tuple[int, int, frozenset[str]]
"""Minutes from midnight: opens, closes, channels."""

DAY_MINUTES = 24 * 60
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
HOURS_STANDARDS: Mapping[str, tuple[str, ...]] = {
    "AAOR": ("AAOR_HOURS_PHONE", "AAOR_HOURS_IN_PERSON"),
    "CRISIS_24_7": ("HOURS_24_7",),
    "INFO_SOCIAL": ("HOURS_24_7",),
}
"""The hours standards of each service (the others have none)."""
WEEKLY_CHANNEL = {"AAOR_HOURS_PHONE": "PHONE", "AAOR_HOURS_IN_PERSON": "IN_PERSON"}


def hours_key(org: str, service: str) -> str:
    """The board topic's key of an organisation's schedules for one service."""
    return f"hours|{org}|{service}"


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def in_force(versions: Sequence[ScheduleRecord], day: date) -> ScheduleRecord | None:
    """The schedule in force on `day` (the latest effective by then; the latest declared among equals)."""
    effective = [v for v in versions if date.fromisoformat(v["effective_from"]) <= day]
    return max(effective, key=lambda v: (v["effective_from"], v["occurred_at"]), default=None)


def openings(versions: Sequence[ScheduleRecord], day: date) -> list[Span]:
    """The spans open on `day`: its exception's if it has one, else the weekly ones of its weekday."""
    version = in_force(versions, day)
    if version is None:
        return []
    exception = next((e for e in version["exceptions"] if e["date"] == day.isoformat()), None)
    if exception is not None:
        spans = exception["openings"]
    else:
        spans = [w for w in version["weekly"] if w["day"] == WEEKDAYS[day.weekday()]]
    return [(_minutes(s["opens"]), _minutes(s["closes"]), frozenset(s["channels"])) for s in spans]


def open_minutes(spans: Sequence[Span], channel: str | None = None, since: int = 0) -> int:
    """Minutes from `since` to midnight covered by the spans (on `channel`, or on any), overlaps counted once."""
    covered, end = 0, since
    for opens, closes, _ in sorted(s for s in spans if channel is None or channel in s[2]):
        start = max(opens, end)
        if closes > start:
            covered, end = covered + closes - start, closes
    return covered


def week_conforms(versions: Sequence[ScheduleRecord], day: date, channel: str, bounds: Bounds) -> bool:
    """The week holding `day` offers enough hours on `channel`, weekday evenings and weekend hours included."""
    monday = day - timedelta(days=day.weekday())
    week = [openings(versions, monday + timedelta(days=n)) for n in range(7)]
    total = sum(open_minutes(spans, channel) for spans in week)
    evening = sum(open_minutes(spans, channel, _minutes(bounds.evening_from)) for spans in week[:5])
    weekend = sum(open_minutes(spans, channel) for spans in week[5:])
    return total >= bounds.aaor_weekly_hours * 60 and evening > 0 and weekend > 0


def day_conforms(standard: str, versions: Sequence[ScheduleRecord], day: date, bounds: Bounds) -> bool:
    if standard in WEEKLY_CHANNEL:
        return week_conforms(versions, day, WEEKLY_CHANNEL[standard], bounds)
    return open_minutes(openings(versions, day)) == DAY_MINUTES


def hours_rows(
    org: str,
    service: str,
    versions: Sequence[ScheduleRecord],
    period: Period,
    days: tuple[date, date],
    bounds: Bounds,
) -> dict[RowKey, Conformance]:
    """The days of [start, end) with a schedule in force, conforming or not, by day or month."""
    if not versions or service not in HOURS_STANDARDS:
        return {}
    first = min(date.fromisoformat(v["effective_from"]) for v in versions)
    rows: dict[RowKey, Conformance] = {}
    for day in days_between(max(days[0], first), days[1]):
        label = day.isoformat() if period is Period.DAY else day.strftime("%Y-%m")
        for standard in HOURS_STANDARDS[service]:
            row = rows.setdefault(RowKey(org, service, standard, period, label), Conformance())
            row.add(day_conforms(standard, versions, day, bounds), 1)
    return rows
