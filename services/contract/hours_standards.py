"""The ministry's hours-of-access standards, evaluated from the service hours organisations declare in the directory.

Part of the public contract, like the delay and duration standards: the agreements service's conformance view and the
standards board judge the same schedules by this one definition. A schedule (`service-hours-set`, as JSON) is in force
from its `effective_from` until the next one; on a date with an exception its openings replace the weekly ones.

- `AAOR_HOURS_PHONE` / `AAOR_HOURS_IN_PERSON`: a week (Monday to Sunday) offers AAOR on that channel at least
  70 hours, some of them in the weekday daytime (08:00 to 17:00), some on weekday evenings (from 17:00) and some on the
  weekend (seed 000: "accessible, par téléphone et par des rencontres en personne, de jour, de soir en semaine et un
  certain nombre d'heures les fins de semaine": each channel on its own);
- `CONSULT_HOURS`: a week offers SOCIAL_CONSULT or PSYCH_CONSULT some weekday daytime hours, some weekday evening hours
  and some weekend hours, on any channel, with no weekly minimum (seed 000, l. 1476-1477 and 1722-1723: "accessible de
  jour et de soir en semaine et un certain nombre d'heures les fins de semaine"; Annexe II: standard fixé);
- `HOURS_24_7`: a day is covered from 00:00 to 24:00 — for INFO_SOCIAL by telephone (`PHONE` or `INFO_SOCIAL_811`;
  seed 000: "Le service de consultation téléphonique psychosociale 24/7 (Info-Social) est disponible 24 heures par
  jour"), for CRISIS_24_7 on any channel (an intervention "au domicile ou dans tout autre lieu approprié").

A schedule judged *as recorded* (`as_recorded`: the standards board) counts only from the day it was declared (its
`occurred_at`, local day in its time zone) when its `effective_from` is earlier: hours declared late never change a
day already measured (a schedule declared on 15 April effective 1 March leaves March as it was).

Bounds are configuration (`HoursPolicy`). Pure functions of their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ScheduleRecord = Mapping[str, Any]
"""A `service-hours-set` payload as JSON (`services.contract.agreements_events.ServiceHoursV1`)."""
Span = tuple[int, int, frozenset[str]]
"""Minutes from midnight: opens, closes, channels."""

DAY_MINUTES = 24 * 60
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
HOURS_STANDARDS: Mapping[str, tuple[str, ...]] = {
    "AAOR": ("AAOR_HOURS_PHONE", "AAOR_HOURS_IN_PERSON"),
    "CRISIS_24_7": ("HOURS_24_7",),
    "INFO_SOCIAL": ("HOURS_24_7",),
    "SOCIAL_CONSULT": ("CONSULT_HOURS",),
    "PSYCH_CONSULT": ("CONSULT_HOURS",),
}
"""The hours standards of each service (the others have none)."""
WEEKLY_STANDARDS: Mapping[str, tuple[str | None, bool]] = {
    "AAOR_HOURS_PHONE": ("PHONE", True),
    "AAOR_HOURS_IN_PERSON": ("IN_PERSON", True),
    "CONSULT_HOURS": (None, False),
}
"""The standards judged on a whole week: the channel measured (None: any) and whether the weekly minimum
(`HoursPolicy.aaor_weekly_hours`) applies."""
WEEKLY_CHANNEL = {"AAOR_HOURS_PHONE": "PHONE", "AAOR_HOURS_IN_PERSON": "IN_PERSON"}
"""The AAOR standards' channels (`WEEKLY_STANDARDS` holds every weekly standard)."""
TELEPHONE = frozenset({"PHONE", "INFO_SOCIAL_811"})
"""The telephone channels (the 8-1-1 line is one)."""
DAILY_CHANNELS: Mapping[str, frozenset[str] | None] = {"INFO_SOCIAL": TELEPHONE, "CRISIS_24_7": None}
"""The channels that cover a day of a 24/7 service (None: any)."""


@dataclass(frozen=True)
class HoursPolicy:
    """The configured bounds (the orientations' numbers by default)."""

    aaor_weekly_hours: float = 70.0
    evening_from: str = "17:00"
    """Weekday hours from this time on are evening hours."""
    day_from: str = "08:00"
    """Weekday hours from this time until the evening are daytime hours (night hours are not "de jour")."""


@dataclass(frozen=True)
class WeekOnChannel:
    """What one week offers on one channel, in hours, and whether it meets the AAOR standard."""

    hours: float
    evening_hours: float
    weekend_hours: float
    conforms: bool
    daytime_hours: float = 0.0
    """Weekday hours from the day's start to the evening (`evening_hours` are the weekday hours from it on)."""


QUEBEC = "America/Montreal"


def declared_on(version: ScheduleRecord) -> date:
    """The local day a schedule was declared: its `occurred_at` in its time zone (Québec's if unknown)."""
    try:
        zone = ZoneInfo(version.get("timezone") or QUEBEC)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(QUEBEC)
    return datetime.fromisoformat(version["occurred_at"]).astimezone(zone).date()


def counted_from(version: ScheduleRecord) -> date:
    """The first day a schedule counts as recorded: its effective date, or the day it was declared if later."""
    return max(date.fromisoformat(version["effective_from"]), declared_on(version))


def as_recorded(versions: Sequence[ScheduleRecord]) -> list[ScheduleRecord]:
    """The schedules as each day recorded them: each in force from `counted_from` (a back-dated `effective_from`
    never reaches a day before the schedule was declared)."""
    return [{**v, "effective_from": counted_from(v).isoformat()} for v in versions]


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def in_force(versions: Sequence[ScheduleRecord], day: date) -> ScheduleRecord | None:
    """The schedule in force on `day` (the latest effective by then; the latest declared among equals, as instants:
    `14:00Z` is before `10:00-05:00`; then the last listed)."""
    effective = [(n, v) for n, v in enumerate(versions) if date.fromisoformat(v["effective_from"]) <= day]
    latest = max(
        effective,
        key=lambda nv: (nv[1]["effective_from"], datetime.fromisoformat(nv[1]["occurred_at"]), nv[0]),
        default=None,
    )
    return None if latest is None else latest[1]


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
    return [(minutes(s["opens"]), minutes(s["closes"]), frozenset(s["channels"])) for s in spans]


def open_minutes(spans: Sequence[Span], channel: str | frozenset[str] | None = None, since: int = 0) -> int:
    """Minutes from `since` to midnight covered by the spans (on `channel`, on one of a set of channels, or on any),
    overlaps counted once."""
    wanted = None if channel is None else frozenset({channel}) if isinstance(channel, str) else channel
    covered, end = 0, since
    for opens, closes, _ in sorted(s for s in spans if wanted is None or wanted & s[2]):
        start = max(opens, end)
        if closes > start:
            covered, end = covered + closes - start, closes
    return covered


def week_openings(versions: Sequence[ScheduleRecord], monday: date) -> list[list[Span]]:
    """The spans open on each day of the week from `monday` (computed once for every standard judging the week)."""
    return [openings(versions, monday + timedelta(days=n)) for n in range(7)]


def offered_in_week(
    week: Sequence[Sequence[Span]], channel: str | None, policy: HoursPolicy, weekly_hours: float | None
) -> WeekOnChannel:
    """What a week's openings offer on `channel` (None: any): conforming with weekday daytime, weekday evening and
    weekend hours, and at least `weekly_hours` in all (None: no minimum)."""
    total = sum(open_minutes(spans, channel) for spans in week)
    from_day = sum(open_minutes(spans, channel, minutes(policy.day_from)) for spans in week[:5])
    evening = sum(open_minutes(spans, channel, minutes(policy.evening_from)) for spans in week[:5])
    weekend = sum(open_minutes(spans, channel) for spans in week[5:])
    daytime = from_day - evening
    enough = weekly_hours is None or total >= weekly_hours * 60
    conforms = enough and daytime > 0 and evening > 0 and weekend > 0
    return WeekOnChannel(total / 60, evening / 60, weekend / 60, conforms, daytime_hours=daytime / 60)


def week_on_channel(versions: Sequence[ScheduleRecord], day: date, channel: str, policy: HoursPolicy) -> WeekOnChannel:
    """The week holding `day` on `channel`: enough hours, weekday daytime, weekday evenings and weekend hours
    included? (A day with no schedule in force offers nothing.)"""
    monday = day - timedelta(days=day.weekday())
    return offered_in_week(week_openings(versions, monday), channel, policy, policy.aaor_weekly_hours)


def weekly_minimum(standard: str, policy: HoursPolicy) -> float | None:
    """The hours a week must offer by `standard` (None: no minimum, or not a weekly standard)."""
    return policy.aaor_weekly_hours if WEEKLY_STANDARDS.get(standard, (None, False))[1] else None


def weekly_offer(standard: str, week: Sequence[Sequence[Span]], policy: HoursPolicy) -> WeekOnChannel:
    """What a week's openings offer by a weekly standard (`WEEKLY_STANDARDS`)."""
    return offered_in_week(week, WEEKLY_STANDARDS[standard][0], policy, weekly_minimum(standard, policy))


def week_conforms(standard: str, service: str, week: Sequence[Sequence[Span]], policy: HoursPolicy) -> list[bool]:
    """Whether each day of a week (its openings, Monday first) meets `standard` of `service`: a weekly standard's
    verdict is the whole week's, every day; `HOURS_24_7` day by day on the channels of `service`."""
    if standard in WEEKLY_STANDARDS:
        return [weekly_offer(standard, week, policy).conforms] * 7
    channels = DAILY_CHANNELS.get(service)
    return [open_minutes(spans, channels) == DAY_MINUTES for spans in week]


def day_covered(versions: Sequence[ScheduleRecord], day: date, service: str) -> bool:
    """Open from 00:00 to 24:00 on the channels that cover a day of `service` (`DAILY_CHANNELS`)."""
    channels = DAILY_CHANNELS.get(service)
    return open_minutes(openings(versions, day), channels) == DAY_MINUTES


def day_conforms(
    standard: str, service: str, versions: Sequence[ScheduleRecord], day: date, policy: HoursPolicy
) -> bool:
    """Whether `day` meets `standard` of `service` (a weekly standard is met by the whole week holding the day;
    `HOURS_24_7` on the channels of `service`)."""
    monday = day - timedelta(days=day.weekday())
    return week_conforms(standard, service, week_openings(versions, monday), policy)[day.weekday()]
