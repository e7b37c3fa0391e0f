"""Time as a dependency: domain code is given a clock, tests give it one they control."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, timezone-aware; composition roots pass it, domain code never calls it itself."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, replays, benchmarks)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now
