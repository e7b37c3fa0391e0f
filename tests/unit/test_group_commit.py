"""Group commit on a sealed SQLite store: concurrent callers share transactions, each is answered once its events are
committed and sealed, one caller's conflict is that caller's alone."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Notification, Recording
from opentelemetry.trace import SpanKind

from services.audit.verification import verify_store
from services.common import eventstore
from services.common.eventstore import TrackedApplication, persistence_env
from services.common.group_commit import GroupCommit, Pending
from services.common.integrity.sealing import SealedStore
from services.common.tracing import span, traced

CALLERS = 12


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


class Notes(TrackedApplication):
    name = "notes"


@pytest.fixture
def notes(tmp_path: Path) -> Iterator[Notes]:
    with Notes(env=persistence_env(f"sqlite:///{tmp_path / 'notes.db'}")) as app:
        yield app


def held_first_write(app: Notes, callers: int, then: Callable[[], None] = lambda: None) -> GroupCommit:
    """A committer whose first transaction waits (10 s at most) until the other callers (one event each) have queued
    behind it; `then` runs before each later transaction."""
    committer: GroupCommit
    first = threading.Event()

    def write(pending: Pending) -> list[Recording[Any]]:
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 10
            while len(committer._queue) < callers - len(pending.stored) and time.monotonic() < deadline:
                threading.Event().wait(0.005)
        else:
            then()
        return app.write(pending)

    committer = GroupCommit(write)
    return committer


def first_write_held(app: Notes, release: threading.Event) -> tuple[GroupCommit, threading.Event]:
    """A committer whose first transaction waits (10 s at most) until `release` is set, and the event set when it
    starts waiting (set beforehand, it holds no write)."""
    writing = threading.Event()

    def write(pending: Pending) -> list[Recording[Any]]:
        if not writing.is_set():
            writing.set()
            release.wait(10)
        return app.write(pending)

    return GroupCommit(write), writing


def record_concurrently(app: Notes, aggregates: list[Note]) -> dict[int, Any]:
    """Records each aggregate from its own thread; caller index -> its recordings or the error it raised."""
    outcomes: dict[int, Any] = {}

    def call(index: int) -> None:
        try:
            outcomes[index] = app.record(aggregates[index])
        except (IntegrityError, InterruptedError) as error:
            outcomes[index] = error
        except SystemExit as leaving:
            outcomes[index] = leaving

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(aggregates))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_concurrent_callers_share_transactions_and_each_event_is_sealed(notes: Notes) -> None:
    committer = notes.group_commit = held_first_write(notes, CALLERS)
    written = [Note(f"note {i}") for i in range(CALLERS)]

    outcomes = record_concurrently(notes, written)

    assert committer.batches == 2, "the first callers, then everybody who queued behind them"
    for index, note in enumerate(written):
        [recording] = outcomes[index]
        assert recording.domain_event.originator_id == note.id
        assert notes.repository.get(note.id).text == f"note {index}"
    assert isinstance(notes.recorder, SealedStore)
    verification = verify_store(notes.recorder)
    assert verification.ok and verification.sealed == CALLERS


def raced(notes: Notes) -> tuple[Note, Note]:
    """A note amended and recorded (version 2), and a copy of it amended too, whose version 2 is taken."""
    taken = Note("first")
    notes.record(taken)
    winner, loser = notes.repository.get(taken.id), notes.repository.get(taken.id)
    winner.amend("amended")
    notes.record(winner)
    loser.amend("amended concurrently")
    return taken, loser


def test_a_conflict_fails_its_caller_alone(notes: Notes) -> None:
    taken, loser = raced(notes)
    notes.group_commit = held_first_write(notes, CALLERS)
    written = [Note(f"note {i}") for i in range(CALLERS - 1)] + [loser]

    outcomes = record_concurrently(notes, written)

    assert isinstance(outcomes[CALLERS - 1], IntegrityError)
    assert all(isinstance(outcomes[i], Sequence) for i in range(CALLERS - 1))
    assert [notes.repository.get(n.id).text for n in written[:-1]] == [f"note {i}" for i in range(CALLERS - 1)]
    assert notes.repository.get(taken.id).text == "amended"
    assert isinstance(notes.recorder, SealedStore)
    assert verify_store(notes.recorder).ok


def test_a_lone_caller_writes_at_once_and_store_failures_reach_every_caller(notes: Notes) -> None:
    note = Note("alone")
    [recording] = notes.record(note)
    assert notes.group_commit.batches == 1 and recording.notification.id == 1

    def broken(_: Pending) -> list[Recording[Any]]:
        raise OSError("disk full")

    notes.group_commit = GroupCommit(broken)
    with pytest.raises(OSError, match="disk full"):
        notes.record(Note(str(uuid.uuid4())))


def test_callers_whose_leader_was_interrupted_are_not_told_their_events_are_stored(notes: Notes) -> None:
    def interrupt() -> None:
        raise SystemExit

    notes.group_commit = held_first_write(notes, CALLERS, then=interrupt)

    outcomes = record_concurrently(notes, [Note(f"note {i}") for i in range(CALLERS)])

    later = [o for o in outcomes.values() if not isinstance(o, Sequence)]
    assert sum(isinstance(o, SystemExit) for o in later) == 1, "the leader of the second transaction"
    assert later and all(isinstance(o, SystemExit | InterruptedError) for o in later)
    assert len(later) + sum(isinstance(o, Sequence) for o in outcomes.values()) == CALLERS


def parent_of(index: int) -> str:
    """A distinct W3C traceparent for caller `index`."""
    return f"00-{index + 1:032x}-{index + 1:016x}-01"


def test_each_callers_events_keep_its_own_trace_in_a_shared_transaction(notes: Notes) -> None:
    """The events are encoded by their caller, in its context: a batch written by one leader does not store the
    leader's trace with everybody's events."""
    committer = notes.group_commit = held_first_write(notes, CALLERS)
    written = [Note(f"note {i}") for i in range(CALLERS)]

    def call(index: int) -> None:
        with span("write", parent_of(index), SpanKind.INTERNAL):
            notes.record(written[index])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert committer.batches == 2
    for index, note in enumerate(written):
        [stored] = notes.recorder.select_events(note.id)
        parent = traced(notes.mapper, stored)[1]
        assert parent is not None and parent.split("-")[1] == f"{index + 1:032x}"


def test_callers_on_an_event_loop_share_transactions_written_off_the_loop(notes: Notes) -> None:
    """`record_async` waits without blocking the loop: while the committer thread writes the first caller's events,
    the loop runs on and the others queue; they share the next transaction. Each is answered once committed, with
    its own recordings and trace."""
    writing, loop_ran = threading.Event(), threading.Event()

    def write(pending: Pending) -> list[Recording[Any]]:
        if not writing.is_set():
            writing.set()
            if not loop_ran.wait(10):
                raise OSError("the loop was blocked during the write")
        return notes.write(pending)

    committer = notes.group_commit = GroupCommit(write)
    written = [Note(f"note {i}") for i in range(CALLERS)]

    async def call(index: int) -> list[Recording[Any]]:
        with span("write", parent_of(index), SpanKind.INTERNAL):
            return await notes.record_async(written[index])

    async def everybody() -> list[list[Recording[Any]]]:
        first = asyncio.ensure_future(call(0))
        await asyncio.to_thread(writing.wait, 10)
        others = [asyncio.ensure_future(call(i)) for i in range(1, CALLERS)]
        await asyncio.sleep(0)  # they queue behind the write in progress
        loop_ran.set()
        return await asyncio.gather(first, *others)

    outcomes = asyncio.run(everybody())

    assert committer.batches == 2, "the first caller, then everybody who queued behind it"
    for index, (note, [recording]) in enumerate(zip(written, outcomes, strict=True)):
        assert recording.domain_event.originator_id == note.id
        assert notes.repository.get(note.id).text == f"note {index}"
        parent = traced(notes.mapper, notes.recorder.select_events(note.id)[0])[1]
        assert parent is not None and parent.split("-")[1] == f"{index + 1:032x}"
    assert isinstance(notes.recorder, SealedStore)
    assert verify_store(notes.recorder).ok


def test_a_conflict_fails_its_caller_alone_on_the_loop_and_threads_and_loop_share_batches(notes: Notes) -> None:
    taken, loser = raced(notes)
    committer = notes.group_commit = held_first_write(notes, CALLERS)
    on_threads = [Note(f"thread {i}") for i in range(CALLERS // 2)]
    on_loop = [Note(f"loop {i}") for i in range(CALLERS // 2 - 1)] + [loser]
    threaded: dict[int, Any] = {}

    async def everybody() -> list[Any]:
        thread = threading.Thread(target=lambda: threaded.update(record_concurrently(notes, on_threads)))
        thread.start()
        outcomes = await asyncio.gather(*(notes.record_async(n) for n in on_loop), return_exceptions=True)
        await asyncio.to_thread(thread.join, 30)
        return outcomes

    outcomes = asyncio.run(everybody())

    assert isinstance(outcomes[-1], IntegrityError)
    assert all(isinstance(o, Sequence) for o in outcomes[:-1]) and all(
        isinstance(o, Sequence) for o in threaded.values()
    )
    assert len(threaded) == len(on_threads)
    assert committer.batches >= 2
    assert notes.repository.get(taken.id).text == "amended"
    assert [notes.repository.get(n.id).text for n in on_loop[:-1]] == [f"loop {i}" for i in range(len(on_loop) - 1)]
    assert isinstance(notes.recorder, SealedStore)
    assert verify_store(notes.recorder).ok


def test_a_closed_group_commit_refuses_callers_on_a_loop_rather_than_leave_them_waiting(notes: Notes) -> None:
    notes.group_commit.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(notes.record_async(Note("late")))
    [recording] = notes.record(Note("written by its caller"))  # a caller on a thread writes itself
    assert recording.notification.id == 1


@pytest.mark.parametrize("committer_ran_before", [False, True])
def test_callers_on_a_loop_queued_before_close_are_written(notes: Notes, committer_ran_before: bool) -> None:
    """`close` refuses new callers, not those already queued: a caller on the loop that queued behind a leader on a
    thread, before the group commit closed, is written when the lead comes to it (the committer thread serves every
    lead handed to it, then stops), whether the committer thread had run before or not."""
    release = threading.Event()
    committer, writing = first_write_held(notes, release)
    notes.group_commit = committer
    if committer_ran_before:
        writing.set()
        asyncio.run(notes.record_async(Note("before")))
        writing.clear()
    leader = threading.Thread(target=lambda: notes.record(Note("on a thread")))
    leader.start()
    writing.wait(10)

    async def queued_then_closed() -> list[Recording[Any]]:
        waiting = asyncio.ensure_future(notes.record_async(Note("on the loop")))
        await asyncio.sleep(0.05)  # queued behind the leader's write
        committer.close()
        release.set()
        return await asyncio.wait_for(waiting, 10)

    [recording] = asyncio.run(queued_then_closed())
    leader.join(10)
    assert notes.repository.get(recording.domain_event.originator_id).text == "on the loop"
    assert isinstance(notes.recorder, SealedStore)
    assert verify_store(notes.recorder).ok


class PausingLock:
    """The group commit's lock, whose first release by thread `pause_in` waits until `resume` is set."""

    def __init__(self, pause_in: threading.Thread) -> None:
        self._lock = threading.Lock()
        self.pause_in: threading.Thread | None = pause_in
        self.paused, self.resume = threading.Event(), threading.Event()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *_: object) -> None:
        self._lock.release()
        if threading.current_thread() is self.pause_in:
            self.pause_in = None
            self.paused.set()
            self.resume.wait(10)


def test_the_lead_handed_to_a_caller_just_queued_is_not_lost(notes: Notes) -> None:
    """A leader finishing right after a caller queued (the queue's lock released, the caller not yet waiting) hands it
    the lead; the caller then writes its own events, and the next caller after it is written too."""
    finish = threading.Event()
    committer, writing = first_write_held(notes, finish)
    notes.group_commit = committer
    outcomes: dict[str, Any] = {}
    leader = threading.Thread(target=lambda: outcomes.update(leader=notes.record(Note("leader"))))
    follower = threading.Thread(target=lambda: outcomes.update(follower=notes.record(Note("follower"))))
    leader.start()
    assert writing.wait(10)
    committer._lock = PausingLock(follower)  # type: ignore[assignment]
    follower.start()
    assert committer._lock.paused.wait(10)  # queued behind the write in progress, not yet waiting
    finish.set()
    leader.join(10)  # its batch committed: the lead goes to the follower
    committer._lock.resume.set()
    follower.join(10)

    assert not follower.is_alive()
    [recording] = outcomes["follower"]
    assert notes.repository.get(recording.domain_event.originator_id).text == "follower"
    [after] = notes.record(Note("after"))
    assert after.notification.id == 3


def test_a_writes_recordings_are_made_only_when_read_each_the_event_at_its_place_in_the_log(
    notes: Notes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock tick records a thousand events and reads none of its recordings: they are not made for it."""
    made: list[dict[str, Any]] = []

    def notification(**fields: Any) -> Notification:
        made.append(fields)
        return Notification(**fields)

    monkeypatch.setattr(eventstore, "Notification", notification)
    notes.record(Note("first"))
    many = [Note(f"note {i}") for i in range(20)]
    recordings = notes.record(*many)
    assert made == []
    assert len(recordings) == 20
    assert [r.notification.id for r in recordings[5:8]] == [7, 8, 9]
    assert [(r.domain_event.originator_id, r.notification.originator_id) for r in recordings] == [
        (n.id, n.id) for n in many
    ]
    [stored], last = notes.recorder.select_events(many[-1].id), recordings[-1]
    assert (last.notification.state, last.notification.topic) == (stored.state, stored.topic)
    assert len(made) == 3 + 20 + 1
