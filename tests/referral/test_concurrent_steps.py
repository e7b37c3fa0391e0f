"""A clock tick landing between a step's read and its write: without If-Match the step is applied again, with
If-Match it is a version conflict; any other write meanwhile is a conflict (applied again, it would be recorded
twice)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.referral.application import Referrals
from services.referral.domain import Meeting, Referral, ReferralVersionConflictError, Step
from tests.referral.conftest import T0
from tests.referral.test_clocks import flags, step, submit


class TickedMeanwhile(Referrals):
    """Referrals whose next read is followed by a clock tick (another replica's), before the caller writes."""

    tick_after_read = False

    def get_referral(self, referral_id: uuid.UUID) -> Referral:
        referral = super().get_referral(referral_id)
        if self.tick_after_read:
            self.tick_after_read = False
            assert self.tick() == 1
        return referral


def at_risk_walk_in() -> tuple[TickedMeanwhile, Referral, ManualClock]:
    clock = ManualClock(T0)
    app = TickedMeanwhile(env=persistence_env("memory://"), clock=clock)
    referral = submit(app, "AAOR", channel="IN_PERSON")
    clock.advance(timedelta(minutes=100))  # past the first contact's at-risk threshold (1 h 30), before its bound
    app.tick_after_read = True
    return app, referral, clock


def test_a_step_without_if_match_is_applied_after_a_concurrent_tick() -> None:
    app, referral, clock = at_risk_walk_in()
    done = app.perform(referral.id, "first-contact", Step("org-b", "worker", clock()), None)
    assert done.status == "FIRST_CONTACT_MADE"
    assert [kind for _, kind, _ in flags(app, referral.id)] == ["AT_RISK"]


def test_a_step_with_if_match_is_a_conflict_after_a_concurrent_tick() -> None:
    app, referral, clock = at_risk_walk_in()
    with pytest.raises(ReferralVersionConflictError):
        app.perform(referral.id, "first-contact", Step("org-b", "worker", clock()), referral.version)
    assert app.get_referral(referral.id).status == "SUBMITTED"


class SentTwice(Referrals):
    """The same meeting sent twice without an Idempotency-Key (a client retrying after a timeout): the other copy is
    recorded between this one's read and its write."""

    twin: Meeting | None = None

    def get_referral(self, referral_id: uuid.UUID) -> Referral:
        referral = super().get_referral(referral_id)
        if self.twin is not None:
            twin, self.twin = self.twin, None
            super().record_meeting(referral_id, twin, None, None)
        return referral


def test_a_meeting_recorded_meanwhile_is_a_conflict_not_a_second_meeting() -> None:
    clock = ManualClock(T0)
    app = SentTwice(env=persistence_env("memory://"), clock=clock)
    referral = step(app, submit(app, "SOCIAL_CONSULT"), "accept", clock.advance(timedelta(minutes=5)))
    meeting = Meeting(Step("org-b", "worker", clock.advance(timedelta(minutes=5))), "IN_PERSON")
    app.twin = meeting
    with pytest.raises(ReferralVersionConflictError):
        app.record_meeting(referral.id, meeting, None, None)
    assert app.get_referral(referral.id).meetings == 1
