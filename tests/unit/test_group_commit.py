"""Group commit on a sealed SQLite store: concurrent callers share transactions, each is answered once its events are
committed and sealed, one caller's conflict is that caller's alone."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Recording

from services.audit.verification import verify_store
from services.common.eventstore import TrackedApplication, persistence_env
from services.common.group_commit import GroupCommit
from services.common.integrity.sealing import SealedStore

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
    """A committer whose first transaction waits until the other callers (one event each) have queued behind it;
    `then` runs before each later transaction."""
    committer: GroupCommit
    first = threading.Event()

    def write(processing_event: ProcessingEvent[Any]) -> list[Recording[Any]]:
        if not first.is_set():
            first.set()
            while len(committer._queue) < callers - len(processing_event.events):
                threading.Event().wait(0.005)
        else:
            then()
        return app._record(processing_event)

    committer = GroupCommit(write)
    return committer


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


def test_a_conflict_fails_its_caller_alone(notes: Notes) -> None:
    taken = Note("first")
    notes.record(taken)
    winner, loser = notes.repository.get(taken.id), notes.repository.get(taken.id)
    winner.amend("amended")
    notes.record(winner)
    loser.amend("amended concurrently")  # version 2 is taken
    notes.group_commit = held_first_write(notes, CALLERS)
    written = [Note(f"note {i}") for i in range(CALLERS - 1)] + [loser]

    outcomes = record_concurrently(notes, written)

    assert isinstance(outcomes[CALLERS - 1], IntegrityError)
    assert all(isinstance(outcomes[i], list) for i in range(CALLERS - 1))
    assert [notes.repository.get(n.id).text for n in written[:-1]] == [f"note {i}" for i in range(CALLERS - 1)]
    assert notes.repository.get(taken.id).text == "amended"
    assert isinstance(notes.recorder, SealedStore)
    assert verify_store(notes.recorder).ok


def test_a_lone_caller_writes_at_once_and_store_failures_reach_every_caller(notes: Notes) -> None:
    note = Note("alone")
    [recording] = notes.record(note)
    assert notes.group_commit.batches == 1 and recording.notification.id == 1

    def broken(_: ProcessingEvent[Any]) -> list[Recording[Any]]:
        raise OSError("disk full")

    notes.group_commit = GroupCommit(broken)
    with pytest.raises(OSError, match="disk full"):
        notes.record(Note(str(uuid.uuid4())))


def test_callers_whose_leader_was_interrupted_are_not_told_their_events_are_stored(notes: Notes) -> None:
    def interrupt() -> None:
        raise SystemExit

    notes.group_commit = held_first_write(notes, CALLERS, then=interrupt)

    outcomes = record_concurrently(notes, [Note(f"note {i}") for i in range(CALLERS)])

    later = [o for o in outcomes.values() if not isinstance(o, list)]
    assert sum(isinstance(o, SystemExit) for o in later) == 1, "the leader of the second transaction"
    assert later and all(isinstance(o, SystemExit | InterruptedError) for o in later)
    assert len(later) + sum(isinstance(o, list) for o in outcomes.values()) == CALLERS
