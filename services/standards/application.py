"""Reading the board: its rows for a filter and a period of time, hours rows counted for the days asked."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo

from services.contract.standards_events import BoardRowV1, HoursInForceV1, InfoSocialRowV1
from services.standards.bounds import Bounds, Period, bucket_start
from services.standards.hours import hours_rows
from services.standards.state import BOARD_ROW, HOURS_IN_FORCE, INFOSOCIAL_ROW, board_row
from services.standards.views import BoardView


@dataclass(frozen=True)
class BoardFilter:
    org: str | None
    service: str | None
    standard: str | None
    period: Period
    start: datetime | None
    end: datetime | None


DEFAULT_MONTHS = 13
"""Without `from`, the board answers the month holding `to` (or today) and the 12 before it."""


def default_start(today: date, end: datetime | None, zone: tzinfo) -> datetime:
    """The start of the default window: the first day of the month `DEFAULT_MONTHS - 1` months before the month
    holding the last day asked (the day before `to`, or today if earlier or not given), local time."""
    last = today if end is None else min(today, (end - timedelta(microseconds=1)).astimezone(zone).date())
    months = last.year * 12 + last.month - 1 - (DEFAULT_MONTHS - 1)
    return datetime.combine(date(months // 12, months % 12 + 1, 1), datetime.min.time(), zone)


class BoardQueries:
    def __init__(self, view: BoardView, bounds: Bounds) -> None:
        self.view = view
        self.bounds = bounds

    def _within(self, label: str, period: Period, start: datetime | None, end: datetime | None) -> bool:
        at = bucket_start(label, period, self.bounds.zone)
        return (start is None or at >= start) and (end is None or at < end)

    def board(self, f: BoardFilter, today: date) -> list[BoardRowV1]:
        """Delay, duration and hours rows matching the filter, bucket by bucket (without `from`: the last
        `DEFAULT_MONTHS` months, so that a request never counts hours days since the platform began)."""
        if f.start is None:
            f = replace(f, start=default_start(today, f.end, self.bounds.zone))
        prefix = "|".join(p for p in ("board", f.org) if p)
        rows = [BoardRowV1.model_validate(d) for d in self.view.rows(BOARD_ROW, prefix)]
        hours_prefix = "|".join(p for p in ("hours", f.org) if p)
        for record in self.view.rows(HOURS_IN_FORCE, hours_prefix):
            rows += self._hours(HoursInForceV1.model_validate(record), f, today)
        return sorted(
            (
                r
                for r in rows
                if (f.org is None or r.org == f.org)
                and (f.service is None or r.service == f.service)
                and (f.standard is None or r.standard == f.standard)
                and r.period == f.period
                and self._within(r.bucket, f.period, f.start, f.end)
            ),
            key=lambda r: (r.org, r.service, r.standard, r.bucket),
        )

    def _hours(self, record: HoursInForceV1, f: BoardFilter, today: date) -> list[BoardRowV1]:
        zone = self.bounds.zone
        first = date.min if f.start is None else f.start.astimezone(zone).date()
        last = today + timedelta(days=1)
        if f.end is not None:
            last = min(last, (f.end - timedelta(microseconds=1)).astimezone(zone).date() + timedelta(days=1))
        schedules = [s.model_dump(mode="json") for s in record.schedules]
        computed = hours_rows(
            record.org_id, record.service, schedules, f.period, (first, last), self.bounds, record.offered_from
        )
        return [board_row(key, row) for key, row in computed.items()]

    def infosocial(
        self, region: str | None, period: Period, start: datetime | None, end: datetime | None
    ) -> list[InfoSocialRowV1]:
        prefix = "|".join(p for p in ("infosocial", region) if p)
        rows = (InfoSocialRowV1.model_validate(d) for d in self.view.rows(INFOSOCIAL_ROW, prefix))
        return sorted(
            (
                r
                for r in rows
                if (region is None or r.region == region)
                and r.period == period
                and self._within(r.bucket, period, start, end)
            ),
            key=lambda r: (r.region, bucket_start(r.bucket, period, self.bounds.zone)),
        )


CSV_COLUMNS = ("org", "service", "standard", "period", "bucket", "total", "met", "breached", "pct_met")


def to_csv(rows: list[BoardRowV1]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return out.getvalue()
