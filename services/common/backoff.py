"""Exponential backoff for restarting what crashed: quick at first, then slower, and quick again once it held."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DOUBLINGS = 64
"""Beyond this many doublings any ceiling is reached (0.5 s × 2⁶⁴ is 292 billion years); uncapped, the float power
overflows at 2.0 ** 1024: 1024 quick crashes, some 8.5 hours of an unreachable broker at the 30 s ceiling."""


@dataclass
class Backoff:
    """`next_delay()` doubles from `initial` up to `maximum`; `reset()` after a run that lasted `stable_after`."""

    initial: float = 0.5
    maximum: float = 30.0
    stable_after: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        delay: float = min(self.maximum, self.initial * 2.0 ** min(self.failures, MAX_DOUBLINGS))
        self.failures += 1
        return delay

    def ran_for(self, seconds: float) -> None:
        """Forgets earlier failures when the last run lasted long enough to count as healthy."""
        if seconds >= self.stable_after:
            self.failures = 0
