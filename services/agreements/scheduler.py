"""The scheduler: applies the transitions that fall due by themselves (activation, expiry, review due)."""

from __future__ import annotations

import threading

from services.agreements.application import Agreements
from services.common.service import Loop


def scheduler_loop(agreements: Agreements, interval_s: float) -> Loop:
    """A background loop calling `agreements.tick()` every `interval_s` (its clock says what is due)."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            agreements.tick()
            stop.wait(interval_s)

    return run
