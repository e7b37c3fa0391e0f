"""A region adapts a delay bound from a date: the new bound applies to the clocks that start from then on; a clock
keeps the bound in force when it started, so a later change never turns a clock met or stopped under its own bound
into a breach, raises no flag for it and leaves past compliance as it was (review: a change re-judged past clocks)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from services.common.clock import ManualClock
from services.contract.delay_standards import Policy
from services.contract.referral_events import ClockState
from services.referral.application import Referrals
from services.referral.domain import Referral, Step
from services.referral.settings import ReferralSettings
from tests.referral.conftest import T0
from tests.referral.fakes import FakeDirectory
from tests.referral.test_clocks import analysis, make_app, submit

D = timedelta(days=1)
TEN_DAYS, SEVEN_DAYS = 864_000, 604_800


def policy_from(setting: str, monkeypatch: pytest.MonkeyPatch) -> Policy:
    """The policy `REFERRAL_STANDARD_BOUNDS_S=<setting>` gives."""
    monkeypatch.setenv("REFERRAL_STANDARD_BOUNDS_S", setting)
    return ReferralSettings().policy()


def flags_of(app: Referrals, referral_id: uuid.UUID) -> list[tuple[str, str, int]]:
    events = app.repository.event_store.get(referral_id)
    return [(e.standard, e.kind, e.bound_s) for e in events if isinstance(e, Referral.DelayFlagged)]


def analysis_clock(app: Referrals, referral_id: uuid.UUID) -> tuple[ClockState, timedelta]:
    """org-b's analysis clock."""
    clocks = app.clocks(app.get_referral(referral_id))
    [clock] = [c for c in clocks if c.standard == "AAOR_ANALYSIS" and c.responsible_org == "org-b"]
    return clock.state, clock.bound


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_a_shorter_bound_set_later_applies_to_the_clocks_started_from_its_date_only(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under Annexe II's 10 days, one AAOR completed a request on day 8 and another passed a request on to another
    AAOR on day 8 (its clock stops). A year later the region sets 7 days from that day: the clocks table is rebuilt
    (the view's version follows the bounds), yet both clocks stand as they did, nothing is flagged and the compliance
    report is unchanged; a request received from that day on is due in 7 days."""
    clock = ManualClock(T0)
    with make_app(store_url, clock) as app:
        met = submit(app, "AAOR", channel="PHONE")
        passed = submit(app, "AAOR", channel="PHONE")
        clock.advance(8 * D)  # neither called back within 24 h: both call-backs are flagged
        app.perform(met.id, "analyse", Step("org-b", "w", clock()), None)
        to_another_aaor = Step("org-b", "w", clock(), to_org="org-c", to_service="AAOR")
        app.redirect(passed.id, to_another_aaor, None, FakeDirectory())
        app.perform(passed.id, "refuse", Step("org-c", "w", clock()), None)  # org-c's own clocks end at once
        app.tick()
        before = analysis(app), flags_of(app, met.id), flags_of(app, passed.id)
        assert {(s, k) for s, k, _ in before[1] + before[2]} == {  # the analysis only at risk (day 7.5)
            ("AAOR_CALLBACK", "AT_RISK"),
            ("AAOR_CALLBACK", "BREACHED"),
            ("AAOR_ANALYSIS", "AT_RISK"),
        }
    changed_on = (clock.advance(365 * D)).astimezone(ReferralSettings().policy().zone).date()
    setting = f'{{"AAOR_ANALYSIS": [{{"s": {TEN_DAYS}}}, {{"s": {SEVEN_DAYS}, "from": "{changed_on}"}}]}}'
    policy = policy_from(setting, monkeypatch)
    with make_app(store_url, clock, policy) as later:
        assert later.tick() == 0
        assert analysis_clock(later, met.id) == (ClockState.MET, 10 * D)
        assert analysis_clock(later, passed.id) == (ClockState.STOPPED, 10 * D)
        assert (analysis(later), flags_of(later, met.id), flags_of(later, passed.id)) == before

        received = submit(later, "AAOR", channel="PHONE")
        later.perform(received.id, "callback", Step("org-b", "w", clock.advance(timedelta(hours=1))), None)
        clock.advance(8 * D)
        assert later.tick() == 2
        assert analysis_clock(later, received.id) == (ClockState.BREACHED, 7 * D)
        assert flags_of(later, received.id) == [
            ("AAOR_ANALYSIS", "AT_RISK", SEVEN_DAYS),
            ("AAOR_ANALYSIS", "BREACHED", SEVEN_DAYS),
        ]
        assert (flags_of(later, met.id), flags_of(later, passed.id)) == before[1:]


def test_a_bound_given_without_a_date_applies_from_the_beginning_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = policy_from('{"AAOR_ANALYSIS": 604800}', monkeypatch)
    assert policy.bound("AAOR_ANALYSIS", datetime(2001, 1, 1, tzinfo=T0.tzinfo)) == 7 * D
    assert policy.changes == ()
