"""The board as the worker holds it: rows derived from its tables, and the rows to publish next.

Rows are memory only: the tables (changelogged) are the state, and `rebuild_*` derives the rows from them after
every recovery, then marks them all for publication, so the board topic always ends up matching the tables (a crash
between a table write and a row's publication is healed at the next start).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.contract.standards_events import BoardRowV1, HoursInForceV1, InfoSocialRowV1
from services.standards.bounds import Bounds
from services.standards.calls import CallRecord, call_marks
from services.standards.domain import CallMark, CallRowKey, CallStats, Conformance, RowKey, Rows
from services.standards.hours import ScheduleRecord
from services.standards.referrals import StepRecord, referral_marks

History = Mapping[str, StepRecord]


@dataclass(frozen=True)
class Publication:
    """A record of the board topic: its key, and its payload (None deletes the row)."""

    key: str
    type: str
    payload: BoardRowV1 | InfoSocialRowV1 | HoursInForceV1 | None


@dataclass
class BoardState:
    bounds: Bounds
    board: Rows[RowKey, bool] = field(default_factory=lambda: Rows(Conformance))
    calls: Rows[CallRowKey, CallMark] = field(default_factory=lambda: Rows(CallStats))
    hours: dict[str, list[ScheduleRecord]] = field(default_factory=dict)
    dirty: set[RowKey | CallRowKey | str] = field(default_factory=set)

    def referral_changed(self, old: History | None, new: History) -> None:
        self.dirty |= self.board.replace(referral_marks(old or {}, self.bounds), referral_marks(new, self.bounds))

    def call_changed(self, old: CallRecord | None, new: CallRecord) -> None:
        self.dirty |= self.calls.replace(call_marks(old, self.bounds), call_marks(new, self.bounds))

    def hours_changed(self, key: str, schedules: Mapping[str, ScheduleRecord]) -> None:
        self.hours[key] = [schedules[effective] for effective in sorted(schedules)]
        self.dirty.add(key)

    def rebuild_referrals(self, histories: Iterable[History]) -> None:
        self.dirty |= set(self.board.rows)
        self.board.clear()
        for history in histories:
            self.referral_changed(None, history)

    def rebuild_calls(self, calls: Iterable[CallRecord]) -> None:
        self.dirty |= set(self.calls.rows)
        self.calls.clear()
        for call in calls:
            self.call_changed(None, call)

    def rebuild_hours(self, schedules: Iterable[tuple[str, Mapping[str, ScheduleRecord]]]) -> None:
        for key, versions in schedules:
            self.hours_changed(key, versions)

    def take(self) -> list[Publication]:
        """The records that bring the board topic up to date, and forget them."""
        dirty, self.dirty = self.dirty, set()
        return [self._publication(key) for key in sorted(dirty, key=_sort_key)]

    def _publication(self, key: RowKey | CallRowKey | str) -> Publication:
        if isinstance(key, RowKey):
            row = self.board.rows.get(key)
            return Publication(key.topic_key(), BOARD_ROW, None if row is None else board_row(key, row))
        if isinstance(key, CallRowKey):
            stats = self.calls.rows.get(key)
            return Publication(key.topic_key(), INFOSOCIAL_ROW, None if stats is None else self.call_row(key, stats))
        _, org, service = key.split("|")
        payload = HoursInForceV1.model_validate({"org_id": org, "service": service, "schedules": self.hours[key]})
        return Publication(key, HOURS_IN_FORCE, payload)

    def call_row(self, key: CallRowKey, stats: Any) -> InfoSocialRowV1:
        assert isinstance(stats, CallStats)
        pct = stats.pct_within
        return InfoSocialRowV1(
            region=key.region,
            period=key.period.value,
            bucket=key.bucket,
            offered=stats.offered,
            answered=stats.answered,
            abandoned=stats.abandoned,
            answered_within_240s=stats.within,
            pct_within_240s=pct,
            p90_wait_s=stats.p90_wait_s,
            answer_within_s=self.bounds.answer_within_s,
            target_pct=self.bounds.answer_target_pct,
            target_met=None if pct is None else pct >= self.bounds.answer_target_pct,
        )


BOARD_ROW = "ca.qc.rls.standards.row.v1"
INFOSOCIAL_ROW = "ca.qc.rls.standards.infosocial-row.v1"
HOURS_IN_FORCE = "ca.qc.rls.standards.hours-in-force.v1"


def board_row(key: RowKey, row: Any) -> BoardRowV1:
    assert isinstance(row, Conformance)
    return BoardRowV1(
        org=key.org,
        service=key.service,
        standard=key.standard,
        period=key.period.value,
        bucket=key.bucket,
        total=row.total,
        met=row.met,
        breached=row.breached,
        pct_met=row.pct_met,
    )


def _sort_key(key: RowKey | CallRowKey | str) -> str:
    return key if isinstance(key, str) else key.topic_key()
