"""Hours-of-access standards, evaluated day by day from the schedules organisations declare in the directory, by
the contract's definition (`services/contract/hours_standards.py`, shared with the directory's conformance view).

The worker keeps each organisation's schedules; the days are counted when the board is read, for the period asked
(a schedule stays in force every day until it changes, so a day's row needs no event of that day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from services.contract.hours_standards import HOURS_STANDARDS, day_conforms
from services.standards.bounds import Bounds, Period, days_between
from services.standards.domain import Conformance, RowKey

ScheduleRecord = dict[str, Any]
"""A `service-hours-set` payload as JSON."""


def hours_key(org: str, service: str) -> str:
    """The board topic's key of an organisation's schedules for one service."""
    return f"hours|{org}|{service}"


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
            row.add(day_conforms(standard, versions, day, bounds.hours), 1)
    return rows
