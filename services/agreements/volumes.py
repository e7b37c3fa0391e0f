"""Use of an agreement's annual volumes, counted from accepted referrals.

One `VolumeUse` per agreement, service and agreement year (from the start date's anniversary). Each accepted
referral is counted once: a `CountedReferral` (id derived from the referral id) is recorded with the count,
so a second copy of the event, or a second acceptance of the same referral, finds it and counts nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from eventsourcing.domain import Aggregate, event

VOLUME_NAMESPACE = uuid.UUID("8e3f2a71-4b5c-4d6e-9a0b-1c2d3e4f5a6b")
THRESHOLD_PERCENT = 80
"""`VolumeThresholdReached` when use reaches this share of the annual volume; `VolumeExceeded` at 100 %."""


def volume_use_id(agreement_id: uuid.UUID, service: str, period_start: date) -> uuid.UUID:
    return uuid.uuid5(VOLUME_NAMESPACE, f"use|{agreement_id}|{service}|{period_start.isoformat()}")


def counted_referral_id(referral_id: str) -> uuid.UUID:
    return uuid.uuid5(VOLUME_NAMESPACE, f"referral|{referral_id}")


class CountedReferral(Aggregate):
    """An accepted referral already counted against an agreement's volume (the duplicate guard)."""

    class Counted(Aggregate.Created):
        referral_id: str
        agreement_id: uuid.UUID
        service: str
        period_start: date

    @event(Counted)
    def __init__(self, id: uuid.UUID, referral_id: str, agreement_id: uuid.UUID, service: str, period_start: date):
        self.referral_id = referral_id
        self.agreement_id = agreement_id
        self.service = service
        self.period_start = period_start


class VolumeUse(Aggregate):
    """How many accepted referrals used one service of an agreement in one agreement year."""

    class Opened(Aggregate.Created):
        agreement_id: uuid.UUID
        service: str
        period_start: date
        period_end: date

    class Used(Aggregate.Event):
        referral_id: str
        occurred_at: datetime

    class ThresholdReached(Aggregate.Event):
        used: int
        per_year: int
        occurred_at: datetime

    class Exceeded(Aggregate.Event):
        used: int
        per_year: int
        occurred_at: datetime

    @event(Opened)
    def __init__(
        self, id: uuid.UUID, agreement_id: uuid.UUID, service: str, period_start: date, period_end: date
    ) -> None:
        self.agreement_id = agreement_id
        self.service = service
        self.period_start = period_start
        self.period_end = period_end
        self.used = 0
        self.threshold_reached = False
        self.exceeded = False

    def use(self, referral_id: str, occurred_at: datetime, per_year: int | None) -> None:
        """Counts one referral; crossing 80 % or 100 % of `per_year` is announced once per period."""
        self._used(referral_id=referral_id, occurred_at=occurred_at)
        if not per_year:
            return
        if not self.threshold_reached and self.used * 100 >= per_year * THRESHOLD_PERCENT:
            self._threshold_reached(used=self.used, per_year=per_year, occurred_at=occurred_at)
        if not self.exceeded and self.used >= per_year:
            self._exceeded(used=self.used, per_year=per_year, occurred_at=occurred_at)

    @event(Used)
    def _used(self, referral_id: str, occurred_at: datetime) -> None:
        self.used += 1

    @event(ThresholdReached)
    def _threshold_reached(self, used: int, per_year: int, occurred_at: datetime) -> None:
        self.threshold_reached = True

    @event(Exceeded)
    def _exceeded(self, used: int, per_year: int, occurred_at: datetime) -> None:
        self.exceeded = True
