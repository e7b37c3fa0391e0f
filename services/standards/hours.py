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

from services.contract.hours_standards import HOURS_STANDARDS, as_recorded, week_conforms, week_openings
from services.standards.bounds import Bounds, Period
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
    """The days of [start, end) the service is offered, conforming or not, by day or month (`days_from`), each judged
    by the schedules as recorded by then (`as_recorded`: a back-dated schedule never changes a day before it was
    declared). Each week's openings are computed once for all its days and standards."""
    recorded = as_recorded(versions)
    first = days_from(recorded, offered_from)
    if first is None or service not in HOURS_STANDARDS:
        return {}
    start, end = max(days[0], first), days[1]
    rows: dict[RowKey, Conformance] = {}
    monday = start - timedelta(days=start.weekday())
    while monday < end:
        week = week_openings(recorded, monday)
        verdicts = {
            standard: week_conforms(standard, service, week, bounds.hours) for standard in HOURS_STANDARDS[service]
        }
        for n in range(7):
            day = monday + timedelta(days=n)
            if not start <= day < end:
                continue
            label = day.isoformat() if period is Period.DAY else day.strftime("%Y-%m")
            for standard, conforms in verdicts.items():
                rows.setdefault(RowKey(org, service, standard, period, label), Conformance()).add(conforms[n], 1)
        monday += timedelta(days=7)
    return rows


def days_from(versions: Sequence[Mapping[str, Any]], offered_from: date | None) -> date | None:
    """The first day counted: the day the organisation offers the service from (`offered_from`, its registration:
    never a day before it). Not knowing since when it is offered (a registration the board has not read), the Monday
    of the first schedule's week: the week the directory's view judges. Neither: None (no day)."""
    if offered_from is not None:
        return offered_from
    first = min((date.fromisoformat(v["effective_from"]) for v in versions), default=None)
    if first is None:
        return None
    return first - timedelta(days=first.weekday())
