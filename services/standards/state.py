"""The board as the worker holds it: rows derived from its tables, and the rows to publish next.

Rows are memory only: the tables (changelogged) are the state, and `rebuild_*` derives the rows from them after
every recovery, then marks them all for publication, so the board topic always ends up matching the tables (a crash
between a table write and a row's publication is healed at the next start).

A change is derived (`*_change`: the marks of the old value and of the new one) before the worker stores the new
value, and applied after: a value whose contribution cannot be derived is refused with its record, never stored. A
rebuild derives every value before it replaces any row; a value it cannot derive (one stored by an earlier version,
or whose dates a changed bound pushes out of range) is skipped and returned, its contribution left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TypeVar

from services.contract.standards_events import BoardRowV1, HoursInForceV1, InfoSocialRowV1
from services.standards.bounds import Bounds
from services.standards.calls import CallRecord, call_marks
from services.standards.domain import CallMark, CallRowKey, CallStats, Conformance, RowKey, Rows
from services.standards.hours import OFFERED, offered_from, schedules_in
from services.standards.referrals import StepRecord, referral_marks

History = Mapping[str, StepRecord]


@dataclass(frozen=True)
class Publication:
    """A record of the board topic: its key, and its payload (None deletes the row)."""

    key: str
    type: str
    payload: BoardRowV1 | InfoSocialRowV1 | HoursInForceV1 | None


@dataclass(frozen=True)
class ReferralChange:
    """A referral's history changed: the old history's marks out, the new one's in."""

    out: list[tuple[RowKey, bool]]
    into: list[tuple[RowKey, bool]]


@dataclass(frozen=True)
class CallChange:
    """A call changed: the old call's marks out, the new one's in."""

    out: list[tuple[CallRowKey, CallMark]]
    into: list[tuple[CallRowKey, CallMark]]


@dataclass(frozen=True)
class HoursChange:
    """An organisation's schedules for a service changed: the record the board topic will hold."""

    key: str
    payload: HoursInForceV1


Change = ReferralChange | CallChange | HoursChange


@dataclass(frozen=True)
class Skipped:
    """A table value a rebuild could not derive: its key and the error's type (never the value)."""

    key: str
    error: str


@dataclass
class BoardState:
    bounds: Bounds
    board: Rows[RowKey, bool] = field(default_factory=lambda: Rows(Conformance))
    calls: Rows[CallRowKey, CallMark] = field(default_factory=lambda: Rows(CallStats))
    hours: dict[str, HoursInForceV1] = field(default_factory=dict)
    dirty: set[RowKey | CallRowKey | str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    """Keys found on the board topic that no table value derives any more (`delete_not_derived`)."""

    def referral_change(self, old: History | None, new: History) -> ReferralChange:
        return ReferralChange(referral_marks(old or {}, self.bounds), referral_marks(new, self.bounds))

    def call_change(self, old: CallRecord | None, new: CallRecord) -> CallChange:
        return CallChange(call_marks(old, self.bounds), call_marks(new, self.bounds))

    def hours_change(self, key: str, value: Mapping[str, Any]) -> HoursChange:
        return HoursChange(key, hours_in_force(value, self.bounds.zone))

    def apply(self, change: Change) -> None:
        """Applies a change derived beforehand (nothing here reads the value again)."""
        if isinstance(change, ReferralChange):
            self.dirty |= self.board.replace(change.out, change.into)
        elif isinstance(change, CallChange):
            self.dirty |= self.calls.replace(change.out, change.into)
        else:
            self.hours[change.key] = change.payload
            self.dirty.add(change.key)

    def referral_changed(self, old: History | None, new: History) -> None:
        self.apply(self.referral_change(old, new))

    def call_changed(self, old: CallRecord | None, new: CallRecord) -> None:
        self.apply(self.call_change(old, new))

    def rebuild_referrals(self, histories: Iterable[tuple[str, History]]) -> list[Skipped]:
        """The rows derived again from every history, by key; the histories that cannot be derived are skipped."""
        rows, skipped = _rebuilt(Rows[RowKey, bool](Conformance), histories, lambda h: referral_marks(h, self.bounds))
        self.dirty |= set(self.board.rows) | set(rows.rows)
        self.board = rows
        return skipped

    def rebuild_calls(self, calls: Iterable[tuple[str, CallRecord]]) -> list[Skipped]:
        """The Info-Social rows derived again from every call, by key; the calls that cannot be derived are skipped."""
        rows, skipped = _rebuilt(Rows[CallRowKey, CallMark](CallStats), calls, lambda c: call_marks(c, self.bounds))
        self.dirty |= set(self.calls.rows) | set(rows.rows)
        self.calls = rows
        return skipped

    def rebuild_hours(self, values: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Skipped]:
        """Every organisation's schedules (and offer) again, by key; the ones that cannot be derived are skipped."""
        derived, skipped = _derived(values, lambda v: hours_in_force(v, self.bounds.zone))
        self.hours.update(derived)
        self.dirty |= {key for key, _ in derived}
        return skipped

    def delete_not_derived(self, on_topic: Iterable[str], prefix: str) -> int:
        """Marks for deletion the rows on the board topic under `prefix` (`board|`: referrals' rows; `infosocial|`:
        calls') that the rows held do not derive: a restart derives only what its tables give now, so the rows of a
        bound since changed, of a value the rebuild skipped or of an earlier version's keys would otherwise stay on
        the topic for ever. Returns how many."""
        assert prefix in ROW_PREFIXES
        held = {key.topic_key() for key in self.board.rows} | {key.topic_key() for key in self.calls.rows}
        stale = {key for key in on_topic if key.startswith(prefix) and key not in held}
        self.deleted |= stale
        return len(stale)

    def take(self) -> list[Publication]:
        """The records that bring the board topic up to date, and forget them (deletions first: a row derived again
        since it was marked is published after its deletion)."""
        dirty, self.dirty = self.dirty, set()
        deleted, self.deleted = self.deleted, set()
        return [
            *(Publication(key, _row_type(key), None) for key in sorted(deleted)),
            *(self._publication(key) for key in sorted(dirty, key=_sort_key)),
        ]

    def _publication(self, key: RowKey | CallRowKey | str) -> Publication:
        if isinstance(key, RowKey):
            row = self.board.rows.get(key)
            return Publication(key.topic_key(), BOARD_ROW, None if row is None else board_row(key, row))
        if isinstance(key, CallRowKey):
            stats = self.calls.rows.get(key)
            return Publication(key.topic_key(), INFOSOCIAL_ROW, None if stats is None else self.call_row(key, stats))
        return Publication(key, HOURS_IN_FORCE, self.hours[key])

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
            target_met=stats.meets(self.bounds.answer_target_pct),
        )


BOARD_ROW = "ca.qc.rls.standards.row.v1"
INFOSOCIAL_ROW = "ca.qc.rls.standards.infosocial-row.v1"
HOURS_IN_FORCE = "ca.qc.rls.standards.hours-in-force.v1"


ROW_PREFIXES = ("board|", "infosocial|")
"""The board topic's keys of rows derived from the tables (`hours|` keys are schedules, published as stored)."""


def _row_type(key: str) -> str:
    return BOARD_ROW if key.startswith("board|") else INFOSOCIAL_ROW


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


def hours_in_force(value: Mapping[str, Any], zone: tzinfo) -> HoursInForceV1:
    """The board record of one organisation's service: its schedules by effective date (each names both) and the
    local day it offers the service from (its registration's; a value without one was stored before the board read
    registrations, or the registration is not read yet)."""
    versions = schedules_in(value)
    named = value[OFFERED] if OFFERED in value else versions[0]
    return HoursInForceV1.model_validate(
        {
            "org_id": named["org_id"],
            "service": named["service"],
            "schedules": versions,
            "offered_from": offered_from(value, zone),
        }
    )


V = TypeVar("V")
D = TypeVar("D")
K = TypeVar("K")
M = TypeVar("M")


def _rebuilt(
    rows: Rows[K, M], values: Iterable[tuple[str, V]], marks_of: Callable[[V], list[tuple[K, M]]]
) -> tuple[Rows[K, M], list[Skipped]]:
    """`rows` (empty) summing the marks of every value that can be derived, and the values skipped."""
    derived, skipped = _derived(values, marks_of)
    for _, marks in derived:
        rows.replace([], marks)
    return rows, skipped


def _derived(values: Iterable[tuple[str, V]], derive: Callable[[V], D]) -> tuple[list[tuple[str, D]], list[Skipped]]:
    """What each value derives to, by key, before anything is replaced: a value that cannot be derived is skipped
    (and returned), never half a rebuild applied."""
    derived, skipped = [], []
    for key, value in values:
        try:
            derived.append((key, derive(value)))
        except Exception as error:  # noqa: BLE001 -- whatever one stored value does, the others are still counted
            skipped.append(Skipped(key, type(error).__name__))
    return derived, skipped
