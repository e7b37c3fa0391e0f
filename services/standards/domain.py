"""The board's rows, as counts derived from what each referral and each call contributes.

The worker's tables hold one value per referral and per call (idempotent: a value is set, never incremented). What
a value contributes to the rows (its *marks*) is a pure function of it, so when a value changes the rows change by
its old marks out and its new marks in; after a restart the rows are rebuilt from the tables. A row is never counted
by `+= 1` on an event: a record read twice sets the same value and moves no count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Generic, Protocol, TypeVar

from services.standards.bounds import Period


class StandardsError(Exception):
    """Every error of the standards board."""


@dataclass(frozen=True)
class RowKey:
    """One row of the board: organisation × service × standard × bucket."""

    org: str
    service: str
    standard: str
    period: Period
    bucket: str

    def topic_key(self) -> str:
        return "|".join(("board", self.org, self.service, self.standard, self.period, self.bucket))


@dataclass(frozen=True)
class CallRowKey:
    """One Info-Social row: region × bucket."""

    region: str
    period: Period
    bucket: str

    def topic_key(self) -> str:
        return "|".join(("infosocial", self.region, self.period, self.bucket))


@dataclass
class Conformance:
    """Decided cases of a standard in a row: met or breached."""

    met: int = 0
    breached: int = 0

    def add(self, met: bool, sign: int) -> None:
        if met:
            self.met += sign
        else:
            self.breached += sign

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def empty(self) -> bool:
        return self.total == 0

    @property
    def pct_met(self) -> float | None:
        return round(100 * self.met / self.total, 1) if self.total else None


@dataclass(frozen=True)
class CallMark:
    """What one call contributes: answered (with its wait), abandoned (with its wait) or still waiting."""

    outcome: str
    wait_s: int | None
    within: bool


@dataclass
class CallStats:
    """The calls offered in a row, and the waits of those answered (to the second, for the 90th percentile)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within: int = 0
    waits: Counter[int] = field(default_factory=Counter)

    def add(self, mark: CallMark, sign: int) -> None:
        self.offered += sign
        self.within += sign if mark.within else 0
        if mark.outcome == "ANSWERED":
            self.answered += sign
            assert mark.wait_s is not None
            self.waits[mark.wait_s] += sign
            if not self.waits[mark.wait_s]:
                del self.waits[mark.wait_s]
        elif mark.outcome == "ABANDONED":
            self.abandoned += sign

    @property
    def empty(self) -> bool:
        return self.offered == 0

    @property
    def decided(self) -> int:
        """The calls answered or abandoned (a call still waiting is not decided)."""
        return self.answered + self.abandoned

    @property
    def pct_within(self) -> float | None:
        """Answered within the bound, over the calls decided, rounded to one decimal (for display only)."""
        return round(100 * self.within / self.decided, 1) if self.decided else None

    def meets(self, target_pct: float) -> bool | None:
        """Whether the calls answered within the bound are at least `target_pct` % of the calls decided, from the
        exact counts (never the rounded share: 8,999 of 10,000 is 90.0 % shown, and short of 90 %)."""
        if not self.decided:
            return None
        return 100 * self.within >= Fraction(str(target_pct)) * self.decided

    @property
    def p90_wait_s(self) -> int | None:
        """Nearest-rank 90th percentile of the answered calls' waits."""
        return percentile(self.waits, 90)


def percentile(histogram: Counter[int], pct: float) -> int | None:
    """Nearest-rank percentile of the values a histogram counts."""
    count = sum(histogram.values())
    if not count:
        return None
    rank, seen = math.ceil(pct / 100 * count), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


M_contra = TypeVar("M_contra", contravariant=True)
K = TypeVar("K", bound=Hashable)
M = TypeVar("M")


class Stats(Protocol[M_contra]):
    def add(self, mark: M_contra, sign: int) -> None: ...
    @property
    def empty(self) -> bool: ...


class Rows(Generic[K, M]):
    """Rows of one kind, each the sum of the marks of the values that fall in it."""

    def __init__(self, new_row: Callable[[], Stats[M]]) -> None:
        self._new_row = new_row
        self.rows: dict[K, Stats[M]] = {}

    def replace(self, old: Iterable[tuple[K, M]], new: Iterable[tuple[K, M]]) -> set[K]:
        """A value changed: its old marks out, its new ones in. Returns the rows touched (an emptied row is gone)."""
        touched: set[K] = set()
        for sign, marks in ((-1, old), (1, new)):
            for key, mark in marks:
                row = self.rows.get(key)
                if row is None:
                    row = self.rows[key] = self._new_row()
                row.add(mark, sign)
                touched.add(key)
        for key in touched:
            if self.rows[key].empty:
                del self.rows[key]
        return touched

    def clear(self) -> None:
        self.rows.clear()
