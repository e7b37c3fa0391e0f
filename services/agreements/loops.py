"""Periodic work of the agreements service."""

from __future__ import annotations

from services.agreements.application import Agreements
from services.common.composition import Workers
from services.common.service import periodic


def scheduler(agreements: Agreements, interval_s: float) -> Workers:
    """Applies the transitions that fall due by themselves (activation, expiry, review due) every `interval_s`; each
    carries the time it fell due, so a late run (after downtime) records the true times."""
    return periodic("agreements-scheduler", agreements.tick, interval_s)
