"""Exponential backoff for restarting what crashed: quick at first, then slower, and quick again once it held."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """`next_delay()` doubles from `initial` up to `maximum`; `reset()` after a run that lasted `stable_after`."""

    initial: float = 0.5
    maximum: float = 30.0
    stable_after: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        delay: float = min(self.maximum, self.initial * 2.0**self.failures)
        self.failures += 1
        return delay

    def ran_for(self, seconds: float) -> None:
        """Forgets earlier failures when the last run lasted long enough to count as healthy."""
        if seconds >= self.stable_after:
            self.failures = 0
