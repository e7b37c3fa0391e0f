"""Hours-of-access standards, evaluated day by day from the schedules organisations declare in the directory, by
the contract's definition (`services/contract/hours_standards.py`, shared with the directory's conformance view).

The worker keeps each organisation's schedules, and since when it offers the service (its registration in the
directory, `organisation-registered`); the days are counted when the board is read, for the period asked (a schedule
stays in force every day until it changes, so a day's row needs no event of that day). A day the organisation offers
the service with no schedule in force meets no hours standard, as in the directory's conformance view: an
organisation that declared no hours has every day breached, not no row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from services.contract.hours_standards import HOURS_STANDARDS, day_conforms
from services.standards.bounds import Bounds, Period, days_between
from services.standards.domain import Conformance, RowKey

ScheduleRecord = dict[str, Any]
"""A `service-hours-set` payload as JSON."""
OFFERED = "offered"
"""The key, in the `schedules` table's value (schedules by effective date), of the service's offer:
`{org_id, service, registered_at}` from the organisation's registration (the earliest if it registered again)."""


def hours_key(org: str, service: str) -> str:
    """The board topic's key of an organisation's schedules for one service."""
    return f"hours|{org}|{service}"


def offered_since(value: Mapping[str, Any] | None, org_id: str, service: str, registered_at: str) -> dict[str, Any]:
    """The `schedules` table's value once the organisation's registration offering the service is read: the earliest
    registration is kept (instants compared, not texts), so the same record read twice, or in any order, sets the
    same value."""
    known = (value or {}).get(OFFERED)
    offer = {"org_id": org_id, "service": service, "registered_at": registered_at}
    if known is not None and datetime.fromisoformat(known["registered_at"]) <= datetime.fromisoformat(registered_at):
        offer = known
    return {**(value or {}), OFFERED: offer}


def schedules_in(value: Mapping[str, Any]) -> list[ScheduleRecord]:
    """The schedules of a `schedules` table value, by effective date."""
    return [value[effective] for effective in sorted(value) if effective != OFFERED]


def offered_from(value: Mapping[str, Any], zone: tzinfo) -> date | None:
    """The local day from which the organisation offers the service (None: its registration was not read)."""
    offer = value.get(OFFERED)
    return None if offer is None else datetime.fromisoformat(offer["registered_at"]).astimezone(zone).date()


def hours_rows(
    org: str,
    service: str,
    versions: Sequence[ScheduleRecord],
    period: Period,
    days: tuple[date, date],
    bounds: Bounds,
    offered_from: date | None = None,
) -> dict[RowKey, Conformance]:
    """The days of [start, end) the service is offered, conforming or not, by day or month (`days_from`)."""
    first = days_from(versions, offered_from)
    if first is None or service not in HOURS_STANDARDS:
        return {}
    rows: dict[RowKey, Conformance] = {}
    for day in days_between(max(days[0], first), days[1]):
        label = day.isoformat() if period is Period.DAY else day.strftime("%Y-%m")
        for standard in HOURS_STANDARDS[service]:
            row = rows.setdefault(RowKey(org, service, standard, period, label), Conformance())
            row.add(day_conforms(standard, service, versions, day, bounds.hours), 1)
    return rows


def days_from(versions: Sequence[ScheduleRecord], offered_from: date | None) -> date | None:
    """The first day counted: the day the organisation offers the service from (`offered_from`), or the first
    schedule's effective date if earlier. Not knowing since when it is offered (a registration the board has not
    read), the Monday of the first schedule's week: the week the directory's view judges. Neither: None (no day)."""
    first = min((date.fromisoformat(v["effective_from"]) for v in versions), default=None)
    if offered_from is not None:
        return offered_from if first is None else min(first, offered_from)
    if first is None:
        return None
    return first - timedelta(days=first.weekday())
