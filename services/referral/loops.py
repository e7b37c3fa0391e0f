"""Periodic work of the referral service."""

from __future__ import annotations

from services.common.composition import Workers
from services.common.service import periodic
from services.referral.application import Referrals


def delay_clocks(referrals: Referrals, interval_s: float) -> Workers:
    """Raises at-risk and breach events as the clocks' thresholds pass, with their true times (and catches up after
    downtime)."""
    return periodic("referral-clocks", referrals.tick, interval_s)
