"""The ministry's hours-of-access standards, evaluated from the service hours organisations declare in the directory.

Part of the public contract, like the delay and duration standards: the agreements service's conformance view and the
standards board judge the same schedules by this one definition. A schedule (`service-hours-set`, as JSON) is in force
from its `effective_from` until the next one; on a date with an exception its openings replace the weekly ones.

- `AAOR_HOURS_PHONE` / `AAOR_HOURS_IN_PERSON`: a week (Monday to Sunday) offers AAOR on that channel at least
  70 hours, some of them in the weekday daytime (08:00 to 17:00), some on weekday evenings (from 17:00) and some on the
  weekend (seed 000: "accessible, par téléphone et par des rencontres en personne, de jour, de soir en semaine et un
  certain nombre d'heures les fins de semaine": each channel on its own);
- `HOURS_24_7`: a day is covered from 00:00 to 24:00 — for INFO_SOCIAL by telephone (`PHONE` or `INFO_SOCIAL_811`;
  seed 000: "Le service de consultation téléphonique psychosociale 24/7 (Info-Social) est disponible 24 heures par
  jour"), for CRISIS_24_7 on any channel (an intervention "au domicile ou dans tout autre lieu approprié").

Bounds are configuration (`HoursPolicy`). Pure functions of their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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
}
"""The hours standards of each service (the others have none)."""
WEEKLY_CHANNEL = {"AAOR_HOURS_PHONE": "PHONE", "AAOR_HOURS_IN_PERSON": "IN_PERSON"}
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


def week_on_channel(versions: Sequence[ScheduleRecord], day: date, channel: str, policy: HoursPolicy) -> WeekOnChannel:
    """The week holding `day` on `channel`: enough hours, weekday daytime, weekday evenings and weekend hours
    included? (A day with no schedule in force offers nothing.)"""
    monday = day - timedelta(days=day.weekday())
    week = [openings(versions, monday + timedelta(days=n)) for n in range(7)]
    total = sum(open_minutes(spans, channel) for spans in week)
    from_day = sum(open_minutes(spans, channel, minutes(policy.day_from)) for spans in week[:5])
    evening = sum(open_minutes(spans, channel, minutes(policy.evening_from)) for spans in week[:5])
    weekend = sum(open_minutes(spans, channel) for spans in week[5:])
    daytime = from_day - evening
    conforms = total >= policy.aaor_weekly_hours * 60 and daytime > 0 and evening > 0 and weekend > 0
    return WeekOnChannel(total / 60, evening / 60, weekend / 60, conforms, daytime_hours=daytime / 60)


def day_covered(versions: Sequence[ScheduleRecord], day: date, service: str) -> bool:
    """Open from 00:00 to 24:00 on the channels that cover a day of `service` (`DAILY_CHANNELS`)."""
    channels = DAILY_CHANNELS.get(service)
    return open_minutes(openings(versions, day), channels) == DAY_MINUTES


def day_conforms(
    standard: str, service: str, versions: Sequence[ScheduleRecord], day: date, policy: HoursPolicy
) -> bool:
    """Whether `day` meets `standard` of `service` (an AAOR channel's standard is met by the whole week holding the
    day; `HOURS_24_7` on the channels of `service`)."""
    if standard in WEEKLY_CHANNEL:
        return week_on_channel(versions, day, WEEKLY_CHANNEL[standard], policy).conforms
    return day_covered(versions, day, service)
