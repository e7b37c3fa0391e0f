"""Periodic work of the referral service."""

from __future__ import annotations

from datetime import timedelta

from services.common.composition import Workers
from services.common.service import periodic
from services.referral.application import Referrals


def delay_clocks(referrals: Referrals, interval_s: float) -> Workers:
    """Raises at-risk and breach events as the clocks' thresholds pass, with their true times (and catches up after
    downtime). After each tick it looks two intervals ahead (`Referrals.look_ahead`): the next tick finds the seals
    it chains to already read."""
    horizon = timedelta(seconds=2 * interval_s)

    def tick() -> None:
        referrals.tick()
        referrals.look_ahead(referrals.clock() + horizon)

    return periodic("referral-clocks", tick, interval_s)
