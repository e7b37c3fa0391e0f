"""One writer at a time on a SQLite store, across threads and processes (`services.common.writer_lock`): every write
of the event store's pool and every projection transaction holds the database's writer lock, which another process
holds here, and a wait for it gives up after the store's lock timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError

from services.common import writer_lock
from services.common.eventstore import persistence_env
from services.common.projections import Database
from services.common.writer_lock import SUFFIX, WriterLock, WriterLockTimeoutError
from tests.unit.test_group_commit import Note, Notes

HOLDER = """
import sys
from services.common.writer_lock import WriterLock
lock = WriterLock.for_database(sys.argv[1])
lock.acquire(10)
print("held", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""
"""Another process of the platform: holds the database's writer lock until told (a line on stdin) to let it go."""


@contextmanager
def held_elsewhere(database: Path) -> Iterator[Callable[[], None]]:
    """The writer lock held by another process; calling what is yielded makes it let go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None and holder.stdout is not None
    stdin, stdout = holder.stdin, holder.stdout
    try:
        assert stdout.readline().strip() == "held"

        def let_go() -> None:
            stdin.write("\n")
            stdin.flush()
            assert stdout.readline().strip() == "released"

        yield let_go
    finally:
        holder.kill()
        holder.wait(10)


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()
    return thread, done


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "notes.db"


def env_of(database: Path, lock_timeout: int = 10) -> dict[str, str]:
    return {**persistence_env(f"sqlite:///{database}"), "SQLITE_LOCK_TIMEOUT": str(lock_timeout)}


def test_an_event_store_write_waits_for_another_process_holding_the_lock(database: Path) -> None:
    with Notes(env=env_of(database)) as app:
        app.record(Note("first"))  # tables created, the file exists
        with held_elsewhere(database) as let_go:
            note = Note("second")
            writer, done = in_thread(lambda: app.record(note))
            writer.join(0.5)
            assert not done, "the write went ahead while another process held the writer lock"
            with pytest.raises(AggregateNotFoundError):
                app.repository.get(note.id)
            let_go()
            writer.join(10)
            assert done
        assert app.repository.get(note.id).text == "second"
        assert (database.parent / (database.name + SUFFIX)).exists()


def test_a_projection_transaction_waits_for_another_process_holding_the_lock(database: Path) -> None:
    db = Database(env_of(database))
    try:

        def write() -> None:
            with db.transaction("notes") as tx:
                tx.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
                tx.execute("INSERT INTO marks VALUES (1)")

        write()
        with held_elsewhere(database) as let_go:
            writer, done = in_thread(write)
            writer.join(0.5)
            assert not done, "the projection wrote while another process held the writer lock"
            let_go()
            writer.join(10)
            assert done
        with db.connection() as tx:
            assert tx.execute("SELECT COUNT(*) FROM marks") == [(2,)]
    finally:
        db.close()


def test_a_write_gives_up_after_the_lock_timeout_and_stores_nothing(database: Path) -> None:
    with Notes(env=env_of(database, lock_timeout=1)) as app:
        app.record(Note("first"))
        late = Note("late")
        with held_elsewhere(database) as let_go:
            started = time.monotonic()
            with pytest.raises(WriterLockTimeoutError):
                app.record(late)
            assert 0.9 <= time.monotonic() - started < 5
            let_go()
        with pytest.raises(AggregateNotFoundError):
            app.repository.get(late.id)
        # the wait given up on does not keep the lock: this process writes, and so does another one after it
        later = Note("later")
        app.record(later)
        assert app.repository.get(later.id).text == "later"
        with held_elsewhere(database) as let_go:
            let_go()


def test_threads_of_one_process_write_one_at_a_time(database: Path) -> None:
    database.touch()
    lock = WriterLock.for_database(str(database))
    assert lock is not None and WriterLock.for_database(f"file:{database}?mode=rw") is lock
    inside, most = 0, 0
    guard = threading.Lock()

    def hold() -> None:
        nonlocal inside, most
        for _ in range(50):
            with lock.held(10):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1


def test_the_lock_is_beside_the_file_sqlite_opens_and_none_in_memory(tmp_path: Path) -> None:
    assert WriterLock.for_database(":memory:") is None
    assert WriterLock.for_database("file:notes?mode=memory&cache=shared") is None
    spaced = tmp_path / "my notes.db"
    lock = WriterLock.for_database(str(spaced))
    assert lock is not None and lock.path == str(spaced) + SUFFIX
    assert WriterLock.for_database(f"file:{tmp_path}/my%20notes.db?mode=rwc") is lock  # the file SQLite opens


class InterruptedEvent(threading.Event):
    """A writer's wait interrupted (a signal's exception) just after the waiter thread got it the lock."""

    def wait(self, timeout: float | None = None) -> bool:
        super().wait(timeout)
        raise KeyboardInterrupt


def test_an_interrupted_wait_leaves_the_lock_to_others(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database.touch()
    lock = WriterLock.for_database(str(database))
    assert lock is not None
    monkeypatch.setattr(writer_lock._Wait, "__init__", interrupted_wait)
    with held_elsewhere(database) as let_go:
        threading.Timer(0.3, let_go).start()
        with pytest.raises(KeyboardInterrupt):
            lock.acquire(10)
    with held_elsewhere(database) as let_go:  # another process takes it at once: this one does not keep it
        let_go()
    with lock.held(1):  # and so does this one
        pass


def interrupted_wait(wait: Any) -> None:
    wait.done, wait.guard, wait.acquired, wait.abandoned = InterruptedEvent(), threading.Lock(), False, False


def test_a_forked_child_does_not_share_its_parents_lock(database: Path) -> None:
    database.touch()
    lock = WriterLock.for_database(str(database))
    assert lock is not None
    with lock.held(10):
        child = os.fork()
        if child == 0:  # pragma: no cover -- the child: the parent's lock is another process's
            code = 1
            try:
                mine = WriterLock.for_database(str(database))
                try:
                    assert mine is not None and mine is not lock
                    mine.acquire(0.3)
                except WriterLockTimeoutError:
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child took the lock its parent held"
