"""Delay-standard clocks: met, at risk, breached, catch-up after a stop, emitted once; bounds are configuration."""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.audit.verification import verify_store
from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.contract import delay_standards
from services.contract.codes import ServiceCode
from services.contract.delay_standards import DEFAULT_BOUNDS, Policy, Rule
from services.contract.referral_events import ClockState, DelayStandard
from services.referral.application import Referrals, Submission
from services.referral.domain import Meeting, Referral, Step
from services.referral.loops import delay_clocks
from services.referral.views import DUE_REFERRALS, ReferralView
from tests.helpers import spied
from tests.referral.conftest import T0
from tests.referral.fakes import FakeDirectory

H = timedelta(hours=1)
D = timedelta(days=1)


def submission(service: str, channel: str = "PHONE", urgency: str = "ROUTINE") -> Submission:
    return Submission(
        subject_id="S-0042",
        from_org="csss-a",
        from_service="INFO_SOCIAL",
        to_org="org-b",
        to_service=service,
        channel=channel,
        urgency=urgency,
        reason_code="ANXIETY",
        accompaniment="NONE",
        agreement_id=None,
    )


def make_app(store: str = "memory://", clock: ManualClock | None = None, policy: Policy | None = None) -> Referrals:
    return Referrals(env=persistence_env(store), clock=clock or ManualClock(T0), policy=policy)


def submit(app: Referrals, service: str, **kwargs: str) -> Referral:
    referral, _ = app.submit(submission(service, **kwargs), "worker", None, FakeDirectory())
    return referral


def step(app: Referrals, referral: Referral, command: str, at: datetime) -> Referral:
    return app.perform(referral.id, command, Step("org-b", "worker", at), None)


def due(standard: str, started: datetime) -> datetime:
    """When a clock of `standard` started at `started` falls due by default: T0's clocks in days span the spring change
    of time, so they are an hour shorter than their bound."""
    return Policy(DEFAULT_BOUNDS).due(DelayStandard(standard), started)


def clock_of(app: Referrals, referral_id: uuid.UUID, standard: str) -> object:
    [clock] = [c for c in app.clocks(app.get_referral(referral_id)) if c.standard == standard]
    return clock


def flags(app: Referrals, referral_id: uuid.UUID) -> list[tuple[str, str, datetime]]:
    events = app.repository.event_store.get(referral_id)
    return [(e.standard, e.kind, e.at) for e in events if isinstance(e, Referral.DelayFlagged)]


@pytest.mark.parametrize(
    ("service", "channel", "urgency", "standard", "start", "meet", "bound"),
    [
        ("AAOR", "IN_PERSON", "ROUTINE", "AAOR_FIRST_CONTACT", None, "first-contact", 2 * H),
        ("AAOR", "PHONE", "ROUTINE", "AAOR_CALLBACK", None, "callback", 24 * H),
        ("AAOR", "PHONE", "ROUTINE", "AAOR_ANALYSIS", None, "analyse", 10 * D),
        ("SOCIAL_CONSULT", "PHONE", "ROUTINE", "CONSULT_FIRST_CONTACT", "accept", "first-contact", 7 * D),
        ("PSYCH_CONSULT", "PHONE", "ROUTINE", "CONSULT_FOLLOW_UP", "accept", "start-follow-up", 30 * D),
        ("SOCIAL_CONSULT", "PHONE", "URGENT", "URGENT_HANDLING", "accept", "first-contact", 24 * H),
        ("AAOR", "PHONE", "URGENT", "URGENT_HANDLING", None, "first-contact", 24 * H),
        ("CRISIS_24_7", "PHONE", "IMMEDIATE", "CRISIS_IMMEDIATE", None, "first-contact", 1 * H),
    ],
)
class TestEachStandard:
    def _started(self, service: str, channel: str, urgency: str, start: str | None) -> tuple[Referrals, Referral]:
        clock = ManualClock(T0)
        app = make_app(clock=clock)
        referral = submit(app, service, channel=channel, urgency=urgency)
        if start:
            clock.advance(timedelta(minutes=5))
            referral = step(app, referral, start, clock())
        return app, referral

    def test_met_within_the_bound(
        self, service: str, channel: str, urgency: str, standard: str, start: str | None, meet: str, bound: timedelta
    ) -> None:
        app, referral = self._started(service, channel, urgency, start)
        app.clock.advance(bound / 2)  # type: ignore[attr-defined]
        step(app, referral, meet, app.clock())
        clock = clock_of(app, referral.id, standard)
        assert clock.state is ClockState.MET  # type: ignore[attr-defined]
        assert clock.due_at == due(standard, clock.started_at)  # type: ignore[attr-defined]
        app.clock.advance(bound * 2)  # type: ignore[attr-defined]
        app.tick()
        assert [f for f in flags(app, referral.id) if f[0] == standard] == []

    def test_at_risk_then_breached_each_emitted_once_with_its_true_time(
        self, service: str, channel: str, urgency: str, standard: str, start: str | None, meet: str, bound: timedelta
    ) -> None:
        app, referral = self._started(service, channel, urgency, start)
        started = clock_of(app, referral.id, standard).started_at  # type: ignore[attr-defined]
        app.clock.advance(bound * 0.8)  # type: ignore[attr-defined]
        app.tick()
        assert clock_of(app, referral.id, standard).state is ClockState.AT_RISK  # type: ignore[attr-defined]
        app.tick()
        app.clock.advance(bound)  # type: ignore[attr-defined]
        app.tick()
        app.tick()
        ours = [f for f in flags(app, referral.id) if f[0] == standard]
        due_at = due(standard, started)
        assert ours == [(standard, "AT_RISK", started + (due_at - started) * 0.75), (standard, "BREACHED", due_at)]
        assert clock_of(app, referral.id, standard).state is ClockState.BREACHED  # type: ignore[attr-defined]

    def test_catch_up_after_a_stop_reports_the_true_due_time(
        self,
        service: str,
        channel: str,
        urgency: str,
        standard: str,
        start: str | None,
        meet: str,
        bound: timedelta,
        tmp_path: Path,
    ) -> None:
        store = f"sqlite:///{tmp_path / 'referrals.db'}"
        clock = ManualClock(T0)
        with make_app(store, clock) as app:
            referral = submit(app, service, channel=channel, urgency=urgency)
            if start:
                referral = step(app, referral, start, clock.advance(timedelta(minutes=5)))
            started = clock_of(app, referral.id, standard).started_at  # type: ignore[attr-defined]
        clock.advance(bound * 3)  # the service is down while both thresholds pass
        with make_app(store, clock) as restarted:
            restarted.tick()
            restarted.tick()
            ours = [f for f in flags(restarted, referral.id) if f[0] == standard]
        due_at = due(standard, started)
        assert ours == [(standard, "AT_RISK", started + (due_at - started) * 0.75), (standard, "BREACHED", due_at)]


def test_bounds_and_the_at_risk_ratio_are_configuration() -> None:
    clock = ManualClock(T0)
    policy = Policy({**DEFAULT_BOUNDS, "CRISIS_IMMEDIATE": timedelta(minutes=30)}, at_risk_ratio=0.5)
    app = make_app(clock=clock, policy=policy)
    referral = submit(app, "CRISIS_24_7")
    clock.advance(timedelta(minutes=16))
    app.tick()
    assert flags(app, referral.id) == [("CRISIS_IMMEDIATE", "AT_RISK", T0 + timedelta(minutes=15))]


def test_a_late_entry_that_met_the_bound_is_not_breached() -> None:
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "AAOR", channel="IN_PERSON")
    clock.advance(3 * H)
    step(app, referral, "first-contact", T0 + H)  # entered late: it happened within 2 h
    app.tick()
    assert clock_of(app, referral.id, "AAOR_FIRST_CONTACT").state is ClockState.MET  # type: ignore[attr-defined]
    assert flags(app, referral.id) == []


def test_a_refused_referral_stops_its_clocks_and_a_redirect_starts_the_new_targets() -> None:
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "AAOR", channel="PHONE")
    clock.advance(H)
    step(app, referral, "callback", clock())
    redirect = Step("org-b", "w", clock.advance(H), to_org="org-c", to_service="CRISIS_24_7")
    app.redirect(referral.id, redirect, None, FakeDirectory())
    states = {(c.standard, c.responsible_org): c.state for c in app.clocks(app.get_referral(referral.id))}
    assert states[("AAOR_CALLBACK", "org-b")] is ClockState.MET
    assert states[("AAOR_ANALYSIS", "org-b")] is ClockState.MET  # oriented elsewhere: the request is completed
    assert states[("CRISIS_IMMEDIATE", "org-c")] is ClockState.RUNNING
    clock.advance(5 * H)
    app.tick()
    assert [(s, k) for s, k, _ in flags(app, referral.id)] == [
        ("CRISIS_IMMEDIATE", "AT_RISK"),
        ("CRISIS_IMMEDIATE", "BREACHED"),
    ]


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_a_tick_reading_a_stale_view_neither_duplicates_nor_loses_a_flag(store_url: str) -> None:
    """Two replicas tick at once, and a step lands between a tick's read and its write: the version check sends the
    late tick back to the referral's events."""
    clock = ManualClock(T0)
    with make_app(store_url, clock) as first, make_app(store_url, clock) as second:
        raced = submit(first, "CRISIS_24_7")
        moved = submit(first, "CRISIS_24_7")
        clock.advance(timedelta(minutes=50))
        stale = second.index.due(clock())  # both at risk, as `second` read them before the others wrote
        assert first.tick() == 2  # the other replica flags both
        step(first, moved, "first-contact", clock())  # and `moved` is met after its at-risk threshold
        clock.advance(timedelta(minutes=20))  # both now breached too (`moved` met late: no breach, it was met)
        second.index.due = lambda now: stale  # type: ignore[method-assign]
        assert second.tick() == 1  # `raced` breached, recomputed from its events; no second at-risk flag
        assert [(s, k) for s, k, _ in flags(first, raced.id)] == [
            ("CRISIS_IMMEDIATE", "AT_RISK"),
            ("CRISIS_IMMEDIATE", "BREACHED"),
        ]
        assert [(s, k) for s, k, _ in flags(first, moved.id)] == [("CRISIS_IMMEDIATE", "AT_RISK")]


@pytest.mark.integration
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_tick_looked_ahead_for_chains_to_seals_read_before_and_asks_only_for_a_referral_moved_since(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's loop looks ahead after each tick: the seals the next ticks' flags chain to are read then, off
    the write path. The tick then reads ahead only the seal of the referral another process moved since (its newer
    one), and asks the store for none in its transaction. The chain verifies."""
    clock = ManualClock(T0)
    with make_app(store_url, clock) as elsewhere:
        referrals = [submit(elsewhere, "CRISIS_24_7") for _ in range(3)]
    with make_app(store_url, clock) as app, make_app(store_url, clock) as other:
        recorder: Any = app.recorder
        assert app.look_ahead(clock() + timedelta(minutes=44)) == 0  # at risk 45 min after submission
        assert app.look_ahead(clock() + timedelta(minutes=46)) == 3  # any number: off the write path
        assert app.look_ahead(clock() + timedelta(minutes=46)) == 0  # remembered: not read again
        recorder.read_ahead_from = 1  # the tick's write reads ahead for three referrals as for a thousand
        clock.advance(timedelta(minutes=1))
        step(other, referrals[0], "receive", clock())
        reads = spied(recorder, monkeypatch, "_read_heads", lambda wanted: wanted)
        asked = spied(recorder, monkeypatch, "_id_list", lambda ids: ids)
        clock.advance(timedelta(minutes=45))
        assert app.tick() == 3
        assert reads == [[(str(referrals[0].id), 3)]]
        assert asked == []
        assert verify_store(recorder).ok


def test_a_tick_after_a_look_ahead_reads_only_the_referrals_due_and_their_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The look-ahead reads the clocks the next ticks will flag; a tick it reached reads which referrals are due
    and their versions, not their clocks again."""
    clock = ManualClock(T0)
    with make_app(clock=clock) as app:
        referrals = [submit(app, "CRISIS_24_7") for _ in range(3)]
        app.look_ahead(clock() + timedelta(minutes=50))
        reads = spied(app.index.projector, monkeypatch, "read", lambda sql, params: sql)
        clock.advance(timedelta(minutes=46))
        assert app.tick() == 3
        assert reads == [DUE_REFERRALS]
        for referral in referrals:
            assert flags(app, referral.id) == [("CRISIS_IMMEDIATE", "AT_RISK", T0 + timedelta(minutes=45))]
        recorded = app.repository.event_store.get  # the tick's flags, written together, share their timestamp
        assert (
            len({e.timestamp for r in referrals for e in recorded(r.id) if isinstance(e, Referral.DelayFlagged)}) == 1
        )


def test_a_ticks_flags_are_the_events_their_constructor_makes_and_its_checks_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`delay_flags` makes each event without calling the event's constructor: the same object all the same (fields,
    their order, its stored bytes), with the constructor's refusals; and the tick builds them, and writes them, with
    the garbage collector paused (`collector_paused`), which it resumes after."""
    timestamp = Referral.DelayFlagged.create_timestamp()
    flag = {
        "standard": "CRISIS_IMMEDIATE",
        "kind": "AT_RISK",
        "started_at": T0,
        "due_at": T0 + H,
        "at": T0 + timedelta(minutes=45),
        "bound_s": 3600,
        "responsible_org": "org-b",
        "service": "CRISIS_24_7",
    }
    referral_id = uuid.uuid4()
    made = Referral.delay_flags(referral_id, 4, [flag, {**flag, "kind": "BREACHED", "at": T0 + H}], timestamp)
    constructed = [
        Referral.DelayFlagged(originator_id=referral_id, originator_version=4 + n, timestamp=timestamp, **f)
        for n, f in enumerate([flag, {**flag, "kind": "BREACHED", "at": T0 + H}], 1)
    ]
    assert made == constructed and [list(vars(e).items()) for e in made] == [list(vars(e).items()) for e in constructed]
    with make_app() as app:
        assert [app.mapper.to_stored_event(e).state for e in made] == [
            app.mapper.to_stored_event(e).state for e in constructed
        ]
    for referral, flags_given in (
        (str(referral_id), [flag]),
        (referral_id, [{k: v for k, v in flag.items() if k != "service"}]),
        (referral_id, [{**flag, "note": "x"}]),
        (referral_id, [dict(reversed(flag.items()))]),
    ):
        with pytest.raises(TypeError):
            Referral.delay_flags(referral, 4, flags_given, timestamp)  # type: ignore[arg-type]

    clock = ManualClock(T0)
    with make_app(clock=clock) as app:
        submit(app, "CRISIS_24_7")
        collecting = spied(app, monkeypatch, "record", lambda *events: gc.isenabled())
        clock.advance(timedelta(minutes=46))
        assert gc.isenabled() and app.tick() == 1
        assert collecting == [False] and gc.isenabled()


@pytest.mark.parametrize(
    ("service", "moves", "reach", "tick_at"),
    [
        # the call-back made after the look-ahead: only the analysis is flagged
        ("AAOR", [(H, "callback")], 11 * D, 11 * D),
        # a step that changes no clock: the referral's version moved all the same
        ("CRISIS_24_7", [(timedelta(minutes=10), "receive")], 2 * H, 2 * H),
        # a tick beyond the look-ahead's reach: the breach it did not read is flagged with the risk it read
        ("CRISIS_24_7", [], timedelta(minutes=50), 2 * H),
        ("AAOR", [], 2 * D, 11 * D),
    ],
)
def test_a_tick_after_a_look_ahead_flags_what_a_tick_without_one_does(
    service: str, moves: list[tuple[timedelta, str]], reach: timedelta, tick_at: timedelta
) -> None:
    """A referral moved since the look-ahead, or a tick later than it reached, has its clocks read again: the flags
    follow the referral's version as it stands (no version conflict to recover from)."""
    raised = []
    for looks_ahead in (True, False):
        clock = ManualClock(T0)
        with make_app(clock=clock) as app:
            referral = submit(app, service, channel="PHONE")
            if looks_ahead:
                app.look_ahead(T0 + reach)
            for after, command in moves:
                referral = step(app, referral, command, clock.advance(after))
            clock.advance(T0 + tick_at - clock())
            due = [(d.version, d.flags) for d in app.index.due(clock())]  # the version the flags follow
            app.tick()
            raised.append((due, flags(app, referral.id)))
    assert raised[0] == raised[1]
    assert raised[0][1] != []


def test_the_services_loop_ticks_then_looks_two_intervals_ahead() -> None:
    clock = ManualClock(T0)
    seen: list[tuple[str, datetime | None]] = []
    stop = threading.Event()

    class Clocks:
        def clock(self) -> datetime:
            return clock()

        def tick(self) -> int:
            seen.append(("tick", None))
            return 0

        def look_ahead(self, until: datetime) -> int:
            seen.append(("look ahead", until))
            stop.set()
            return 0

    [loop] = delay_clocks(Clocks(), 5.0).loops.values()  # type: ignore[arg-type]
    loop(stop)
    assert seen == [("tick", None), ("look ahead", T0 + timedelta(seconds=10))]


def perform(app: Referrals, referral: Referral, command: str, at: datetime, org: str = "org-b", **target: str) -> None:
    app.perform(referral.id, command, Step(org, "worker", at, **target), None)


def states(app: Referrals, referral: Referral) -> dict[tuple[str, str], ClockState]:
    return {(c.standard.value, c.responsible_org): c.state for c in app.clocks(app.get_referral(referral.id))}


@pytest.mark.parametrize(
    ("service", "channel", "urgency", "commands", "met"),
    [
        # AAOR, in person: the first contact within 2 h, then the analysis on day 3
        ("AAOR", "IN_PERSON", "ROUTINE", [("first-contact", H), ("analyse", 2 * D)], ["AAOR_ANALYSIS"]),
        # AAOR, by phone: the analysis during the call, the call-back entered afterwards
        ("AAOR", "PHONE", "ROUTINE", [("analyse", H), ("callback", H)], ["AAOR_CALLBACK", "AAOR_ANALYSIS"]),
        # AAOR, by phone: the person reached (first contact) is the call-back; the analysis follows
        ("AAOR", "PHONE", "ROUTINE", [("first-contact", 2 * H), ("analyse", D)], ["AAOR_CALLBACK", "AAOR_ANALYSIS"]),
        ("AAOR", "PHONE", "ROUTINE", [("first-contact", 2 * H), ("callback", H)], ["AAOR_CALLBACK"]),
        # urgent consultation: the follow-up started 3 h after acceptance is a first contact; entered late, too
        (
            "SOCIAL_CONSULT",
            "PHONE",
            "URGENT",
            [("accept", H), ("start-follow-up", 3 * H), ("first-contact", H)],
            ["CONSULT_FIRST_CONTACT", "CONSULT_FOLLOW_UP", "URGENT_HANDLING"],
        ),
    ],
)
def test_steps_in_their_natural_orders_are_recorded_and_meet_their_clocks(
    service: str, channel: str, urgency: str, commands: list[tuple[str, timedelta]], met: list[str]
) -> None:
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, service, channel=channel, urgency=urgency)
    for command, after in commands:
        perform(app, referral, command, clock.advance(after))
    clock.advance(40 * D)
    app.tick()
    found = {standard: state for (standard, _), state in states(app, referral).items()}
    assert {standard: found[standard] for standard in met} == dict.fromkeys(met, ClockState.MET)
    assert [f for f in flags(app, referral.id) if f[0] in met] == []


def test_a_new_receiver_records_its_own_call_back_after_a_redirect() -> None:
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "AAOR", channel="PHONE")
    perform(app, referral, "callback", clock.advance(H))
    app.redirect(
        referral.id, Step("org-b", "worker", clock.advance(H), to_org="org-c", to_service="AAOR"), None, FakeDirectory()
    )
    perform(app, referral, "receive", clock.advance(H), "org-c")
    perform(app, referral, "callback", clock.advance(H), "org-c")
    clock.advance(2 * D)
    app.tick()
    found = states(app, referral)
    assert (found[("AAOR_CALLBACK", "org-b")], found[("AAOR_CALLBACK", "org-c")]) == (ClockState.MET, ClockState.MET)
    assert [f for f in flags(app, referral.id) if f[0] == "AAOR_CALLBACK"] == []


@pytest.mark.parametrize(
    ("service", "urgency", "submitted", "accepted"),
    [
        # civil security: an urgent situation is handled immediately, from the referral
        ("CIVIL_SECURITY", "URGENT", {("CRISIS_IMMEDIATE", H)}, set()),
        ("CIVIL_SECURITY", "ROUTINE", set(), set()),
        # Info-Social: no urgent-handling standard (its standard is the call answered)
        ("INFO_SOCIAL", "URGENT", set(), set()),
        ("INFO_SOCIAL", "IMMEDIATE", set(), set()),
        # consultations: every urgent clock starts when the request is accepted
        ("SOCIAL_CONSULT", "IMMEDIATE", set(), {("CRISIS_IMMEDIATE", H)}),
        ("PSYCH_CONSULT", "URGENT", set(), {("URGENT_HANDLING", 24 * H)}),
        ("AAOR", "URGENT", {("URGENT_HANDLING", 24 * H)}, set()),
        ("AAOR", "IMMEDIATE", {("CRISIS_IMMEDIATE", H)}, set()),
        # outside the six general social services Annexe II covers: no urgent standard at all
        ("COMMUNITY_SERVICE", "URGENT", set(), set()),
        ("SPECIFIC_SERVICES", "IMMEDIATE", set(), set()),
        ("SPECIALISED_SERVICES", "URGENT", set(), set()),
    ],
)
def test_urgent_situations_are_timed_as_the_ministry_table_says(
    service: str,
    urgency: str,
    submitted: set[tuple[str, timedelta]],
    accepted: set[tuple[str, timedelta]],
) -> None:
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, service, channel="ELECTRONIC", urgency=urgency)
    perform(app, referral, "accept", clock.advance(H))
    urgent = {"URGENT_HANDLING", "CRISIS_IMMEDIATE"}
    started = {
        (c.standard.value, c.bound, c.started_at)
        for c in app.clocks(app.get_referral(referral.id))
        if c.standard in urgent
    }
    assert started == {(s, b, T0) for s, b in submitted} | {(s, b, T0 + H) for s, b in accepted}


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-03-02T09:00:00-05:00", "2026-03-12T09:00:00-04:00"),  # across the spring change: 239 hours
        ("2026-10-28T09:00:00-04:00", "2026-11-07T09:00:00-05:00"),  # across the fall change: 241 hours
    ],
)
def test_a_bound_in_days_counts_calendar_days_in_quebec_and_one_in_hours_exact_hours(received: str, due: str) -> None:
    """ "Dans les 10 jours suivant sa réception": the analysis falls due at the same local time ten days later, across
    a daylight-saving change too (it moved by an hour as ten blocks of 24 hours); a call-back's 24 hours stay 24."""
    start = datetime.fromisoformat(received)
    app = make_app(clock=ManualClock(start))
    referral = submit(app, "AAOR", channel="PHONE")
    analysis, callback = clock_of(app, referral.id, "AAOR_ANALYSIS"), clock_of(app, referral.id, "AAOR_CALLBACK")
    assert analysis.due_at == datetime.fromisoformat(due)  # type: ignore[attr-defined]
    assert callback.due_at == start + 24 * H  # type: ignore[attr-defined]
    app.clock.now = datetime.fromisoformat(due) - 30 * timedelta(minutes=1)  # type: ignore[attr-defined]
    step(app, referral, "analyse", app.clock.now)  # type: ignore[attr-defined]
    assert clock_of(app, referral.id, "AAOR_ANALYSIS").state == ClockState.MET  # type: ignore[attr-defined]


def meet(app: Referrals, referral: Referral, at: datetime) -> None:
    app.record_meeting(referral.id, Meeting(Step("org-b", "worker", at), "IN_PERSON"), None, None)


def analysis(app: Referrals) -> tuple[int, int, int]:
    """The compliance report's AAOR_ANALYSIS row for org-b (read from the view): decided, met, breached."""
    [row] = [c for c in app.compliance("org-b", "AAOR", None, None) if c.standard == "AAOR_ANALYSIS"]
    return row.total, row.met, row.breached


def test_an_aaor_that_takes_the_request_on_itself_has_completed_it_and_is_never_flagged() -> None:
    """Annexe II: "Délai maximal pour compléter la demande suivant la réception … 10 jours". An AAOR that accepts on
    day 1 (it handles the request itself, <= 3 meetings) cannot `analyse` any more: its decision completes it."""
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "AAOR", channel="IN_PERSON")
    perform(app, referral, "first-contact", clock.advance(H))
    perform(app, referral, "accept", clock.advance(D))
    for _ in range(3):
        meet(app, referral, clock.advance(3 * D))
    clock.advance(20 * D)
    app.tick()
    assert states(app, referral)[("AAOR_ANALYSIS", "org-b")] is ClockState.MET
    assert [f for f in flags(app, referral.id) if f[0] == "AAOR_ANALYSIS"] == []
    assert analysis(app) == (1, 1, 0)


def test_an_electronic_request_to_the_aaor_is_not_under_the_analysis_standard() -> None:
    """The analysis standard runs from a request "reçue par téléphone ou en face à face"."""
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "AAOR", channel="ELECTRONIC")
    clock.advance(20 * D)
    app.tick()
    assert ("AAOR_ANALYSIS", "org-b") not in states(app, referral)
    assert [f for f in flags(app, referral.id) if f[0] == "AAOR_ANALYSIS"] == []


def test_a_consultation_followed_in_weekly_meetings_has_started_its_follow_up() -> None:
    """Annexe II: "Délai maximal avant que l'intervenant débute le suivi avec la personne à la suite de
    l'acceptation: 30 jours": the first meeting after acceptance starts it, `start-follow-up` entered or not."""
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "SOCIAL_CONSULT")
    perform(app, referral, "accept", clock.advance(H))
    for _ in range(6):
        meet(app, referral, clock.advance(7 * D))
    clock.advance(D)
    app.tick()
    assert states(app, referral)[("CONSULT_FOLLOW_UP", "org-b")] is ClockState.MET
    assert [f for f in flags(app, referral.id) if f[0] == "CONSULT_FOLLOW_UP"] == []


@pytest.mark.parametrize("service", ["COMMUNITY_SERVICE", "SPECIFIC_SERVICES", "SPECIALISED_SERVICES"])
@pytest.mark.parametrize("urgency", ["URGENT", "IMMEDIATE"])
def test_an_urgent_referral_outside_annexe_ii_is_never_flagged_nor_charged(service: str, urgency: str) -> None:
    """Annexe II's urgent-handling row names the six general social services only: a community organisation (or a
    specific or specialised programme) that receives an urgent referral has no clock, no at-risk or breach flag, and
    no breach in its compliance report."""
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, service, channel="ELECTRONIC", urgency=urgency)
    clock.advance(2 * D)
    assert app.tick() == 0
    assert app.clocks(app.get_referral(referral.id)) == []
    assert flags(app, referral.id) == []
    assert [c.standard for c in app.compliance("org-b", service, None, None) if c.total] == []


@contextmanager
def former_release(monkeypatch: pytest.MonkeyPatch, rules: tuple[Rule, ...], version: int) -> Iterator[None]:
    """The referral service of an earlier release: its definition of the clocks (`rules`) and its view's version."""
    current = ReferralView.version.fget
    assert current is not None
    with monkeypatch.context() as former:
        former.setattr(delay_standards, "RULES", rules)
        former.setattr(ReferralView, "version", property(lambda view: f"{version}:" + current(view).split(":", 1)[1]))
        yield


FORMER_RULES = tuple(
    replace(rule, met_by=frozenset({"analysed"}), channels=None)
    if rule.standard == DelayStandard.AAOR_ANALYSIS
    else replace(rule, met_by=frozenset({"follow-up-started"}))
    if rule.standard == DelayStandard.CONSULT_FOLLOW_UP
    else rule
    for rule in delay_standards.RULES
)
"""The definition of the previous release: the analysis met by `analyse` alone, the follow-up by `start-follow-up`."""


def test_clock_rows_stored_under_the_former_definition_are_recomputed_and_its_flags_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose view and flags the previous release wrote: its view's version differs from this one's, so the
    clock rows are rebuilt from the log under the corrected definition; the flags its tick recorded are events and
    stay in the history, and no new one is raised."""
    store = f"sqlite:///{tmp_path / 'referrals.db'}"
    clock = ManualClock(T0)
    with former_release(monkeypatch, FORMER_RULES, 8), make_app(store, clock) as app:
        referral = submit(app, "AAOR", channel="IN_PERSON")
        perform(app, referral, "first-contact", clock.advance(H))
        perform(app, referral, "accept", clock.advance(D))
        clock.advance(12 * D)
        app.tick()
        raised = [(s, k) for s, k, _ in flags(app, referral.id)]
        assert raised == [("AAOR_ANALYSIS", "AT_RISK"), ("AAOR_ANALYSIS", "BREACHED")]
        assert analysis(app) == (1, 0, 1)  # the view caught up with the flags, under the former definition
    with make_app(store, clock) as upgraded:
        assert analysis(upgraded) == (1, 1, 0)
        assert upgraded.tick() == 0
        assert [(s, k) for s, k, _ in flags(upgraded, referral.id)] == raised


FORMER_URGENT_RULES = tuple(
    replace(rule, services=frozenset(ServiceCode) - delay_standards.OWN_URGENT_RULES)
    if rule.services == frozenset({"AAOR"}) and rule.urgencies is not None  # the generic urgent rules
    else rule
    for rule in delay_standards.RULES
)
"""The definition of release 10: the generic urgent rules for every service without an urgent rule of its own,
those Annexe II does not cover included."""


def test_urgent_clocks_stored_for_a_community_organisation_are_dropped_and_their_flags_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose view and flags release 10 wrote for an urgent referral to a community organisation: the view
    (version 11) is rebuilt without its clock, so compliance no longer charges the breach and the tick raises
    nothing; the flags recorded then stay in the referral's history."""
    store = f"sqlite:///{tmp_path / 'referrals.db'}"
    clock = ManualClock(T0)
    with former_release(monkeypatch, FORMER_URGENT_RULES, 10), make_app(store, clock) as app:
        referral = submit(app, "COMMUNITY_SERVICE", channel="ELECTRONIC", urgency="URGENT")
        clock.advance(2 * D)
        app.tick()
        raised = [(s, k) for s, k, _ in flags(app, referral.id)]
        assert raised == [("URGENT_HANDLING", "AT_RISK"), ("URGENT_HANDLING", "BREACHED")]
        assert [(c.standard, c.breached) for c in app.compliance("org-b", None, None, None) if c.total] == [
            ("URGENT_HANDLING", 1)
        ]
    with make_app(store, clock) as upgraded:
        assert [c.standard for c in upgraded.compliance("org-b", None, None, None) if c.total] == []
        assert upgraded.index.due(clock.advance(D)) == []
        assert upgraded.tick() == 0
        assert [(s, k) for s, k, _ in flags(upgraded, referral.id)] == raised
