"""Hours rows as each day recorded them (review r5): a schedule declared late never rewrites a day measured before
its declaration, whatever `effective_from` it names; the days counted start at the organisation's registration and
each week is computed once, so a schedule effective from 1900 costs nothing more than one effective today."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.envelope import CloudEvent
from services.contract import hours_standards
from services.standards.bounds import Period
from services.standards.hours import hours_rows
from services.standards.settings import StandardsSettings
from tests.standards.test_unusable_records import AGREEMENTS, Board

BOUNDS = StandardsSettings().bounds()
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MARCH = (date(2026, 3, 1), date(2026, 4, 1))
APRIL = (date(2026, 4, 1), date(2026, 5, 1))
ALL_DAY = [{"day": d, "opens": "00:00", "closes": "24:00", "channels": ["PHONE"]} for d in DAYS]
MORNINGS = [{"day": d, "opens": "08:00", "closes": "12:00", "channels": ["PHONE"]} for d in DAYS]


def schedule(weekly: list[dict[str, Any]], effective: str, occurred: str, service: str = "INFO_SOCIAL") -> Any:
    return {"org_id": "org-a", "service": service, "weekly": weekly, "exceptions": [], "effective_from": effective,
            "timezone": "America/Montreal", "occurred_at": occurred}  # fmt: skip


def counts(rows: dict[Any, Any]) -> dict[str, tuple[int, int]]:
    return {k.standard: (r.met, r.breached) for k, r in rows.items()}


def month(versions: list[Any], days: tuple[date, date]) -> dict[str, tuple[int, int]]:
    return counts(hours_rows("org-a", "INFO_SOCIAL", versions, Period.MONTH, days, BOUNDS, date(2026, 3, 1)))


def test_a_schedule_declared_late_does_not_rewrite_the_days_before_its_declaration() -> None:
    """No hours declared in March: 31 days breached. Hours 24/7 declared on 15 April (10:00 in Montréal) effective
    1 March leave March as it was and count from 15 April (16 days met of April's 30)."""
    assert month([], MARCH) == {"HOURS_24_7": (0, 31)}
    late = schedule(ALL_DAY, "2026-03-01", "2026-04-15T14:00:00Z")
    assert month([late], MARCH) == {"HOURS_24_7": (0, 31)}
    assert month([late], APRIL) == {"HOURS_24_7": (16, 14)}
    evening = schedule(ALL_DAY, "2026-03-01", "2026-04-15T02:00:00Z")  # 22:00 on 14 April in Montréal
    assert month([evening], APRIL) == {"HOURS_24_7": (17, 13)}
    ahead = schedule(ALL_DAY, "2026-04-20", "2026-04-15T14:00:00Z")  # declared ahead: from its effective date
    assert month([ahead], APRIL) == {"HOURS_24_7": (11, 19)}


def hours_set(event_id: str, weekly: list[dict[str, Any]], effective: str, occurred: str) -> tuple[Any, bytes]:
    event = CloudEvent(id=event_id, source="/rls/agreements", type="ca.qc.rls.agreements.service-hours-set.v1",
                       time=datetime.fromisoformat(occurred), data=schedule(weekly, effective, occurred))  # fmt: skip
    return event.to_kafka()


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_a_back_dated_schedule_does_not_replace_the_one_declared_for_its_date(tmp_path: Path, order: str) -> None:
    """24/7 declared on 1 March from 1 March; on 15 April mornings only "from 1 March": the board keeps both, so
    March stays met and the mornings count from 15 April."""
    records = [hours_set("h1", ALL_DAY, "2026-03-01", "2026-03-01T15:00:00+00:00"),
               hours_set("h2", MORNINGS, "2026-03-01", "2026-04-15T14:00:00+00:00")]  # fmt: skip
    board = Board(tmp_path)
    board.feed(AGREEMENTS, *(records if order == "in order" else records[::-1]))
    assert board.dead == []
    value = board.worker.schedules["hours|org-a|INFO_SOCIAL"]
    assert sorted(value) == ["2026-03-01", "2026-04-15"]
    versions = [value[k] for k in sorted(value)]
    assert month(versions, MARCH) == {"HOURS_24_7": (31, 0)}
    assert month(versions, APRIL) == {"HOURS_24_7": (14, 16)}


def test_days_before_the_registration_are_never_counted_whatever_the_effective_date() -> None:
    """A schedule effective from 1900 (the directory's range starts there) on an organisation registered on
    1 March 2026: rows from March 2026 only, the schedule counting from its declaration."""
    weekly = [{"day": d, "opens": "08:00", "closes": "22:00", "channels": ["PHONE", "IN_PERSON"]} for d in DAYS]
    old = schedule(weekly, "1900-01-01", "2026-03-01T05:00:00Z", service="AAOR")
    rows = hours_rows("org-a", "AAOR", [old], Period.MONTH, (date.min, date(2026, 12, 4)), BOUNDS, date(2026, 3, 1))
    assert min(k.bucket for k in rows) == "2026-03"
    assert len(rows) == 20  # March to December, two standards
    march = {k.standard: (r.met, r.breached) for k, r in rows.items() if k.bucket == "2026-03"}
    # Sunday 1 March ends a week of which the schedule was in force one day (declared that day): not 70 hours
    assert march == {"AAOR_HOURS_PHONE": (30, 1), "AAOR_HOURS_IN_PERSON": (30, 1)}


def test_each_week_s_openings_are_computed_once_for_all_its_days_and_standards(monkeypatch: pytest.MonkeyPatch) -> None:
    """AAOR's two weekly standards over 2024-2026 (1,096 days): one opening computation per day, not one per day of
    the week of each day of each standard (15,344)."""
    calls = 0
    openings = hours_standards.openings

    def counted(versions: Any, day: date) -> Any:
        nonlocal calls
        calls += 1
        return openings(versions, day)

    monkeypatch.setattr(hours_standards, "openings", counted)
    weekly = [{"day": d, "opens": "08:00", "closes": "22:00", "channels": ["PHONE", "IN_PERSON"]} for d in DAYS]
    declared = schedule(weekly, "2024-01-01", "2024-01-01T05:00:00Z", service="AAOR")
    days = (date(2024, 1, 1), date(2027, 1, 1))
    rows = hours_rows("org-a", "AAOR", [declared], Period.MONTH, days, BOUNDS, date(2024, 1, 1))
    assert sum(r.met for r in rows.values()) == 2 * 1096
    assert calls <= 1096 + 6
