"""One writer at a time on a SQLite store, across threads and processes, handed over the moment it is free.

SQLite lets one connection write at a time. A connection that finds the write lock taken waits in its busy handler,
which sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, whatever the holder's transaction lasts: two API processes
on one file, or an event store's write and a projection's in one process, waited up to tens of milliseconds for a
lock held a fraction of one. Every writer of the platform takes this lock first: a thread lock inside a process and
an advisory lock (`flock`) on a file beside the database across processes, which the kernel hands to a waiter as soon
as its holder lets go. SQLite's own lock is then free whenever one of them begins; a writer that does not take it (a
tool on the file) still meets SQLite's busy handler, as before.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import OperationalError

SUFFIX = ".writer.lock"

log = logging.getLogger(__name__)


class WriterLockTimeoutError(OperationalError):
    """The store's writer lock was not free within the lock timeout (another writer held it all that time)."""


@dataclass
class _Wait:
    """A blocking wait for the file's lock, on the waiter thread, that the thread asking may give up."""

    done: threading.Event = field(default_factory=threading.Event)
    guard: threading.Lock = field(default_factory=threading.Lock)
    acquired: bool = False
    abandoned: bool = False


class WriterLock:
    """The writer lock of one SQLite database file (`for_database`: one per file and process)."""

    _locks: ClassVar[dict[str, WriterLock]] = {}
    """By the file's real path, and by each name asked for: a name seen before is not resolved again (a `stat` a
    path component, on every write)."""
    _locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path + SUFFIX
        self._thread_lock = threading.Lock()
        self._fd: int | None = None  # opened at the first write (the database's folder exists by then)
        self._waits: queue.SimpleQueue[_Wait] = queue.SimpleQueue()
        self._waiting = 0  # waits queued and not finished: one given up on may still get the lock
        self._waiter: threading.Thread | None = None
        self._guard = threading.Lock()

    @classmethod
    def for_database(cls, name: str) -> WriterLock | None:
        """The lock of the database `name` (a path, or a `file:` URI as SQLite reads one); None in memory."""
        known = cls._locks.get(name)
        if known is not None:
            return known
        path = _path_of(name)
        if path is None:
            return None
        key = os.path.realpath(path)
        with cls._locks_guard:
            lock = cls._locks.get(key) or cls(key)
            cls._locks[key] = cls._locks[name] = lock
            return lock

    @classmethod
    def _forget_all(cls) -> None:
        """In a forked child: the parent's locks share their open files with the parent's (a `flock` belongs to the
        open file, so the child's would be the parent's) and their threads are gone; the child opens its own."""
        for lock in set(cls._locks.values()):
            if lock._fd is not None:
                os.close(lock._fd)
        cls._locks = {}
        cls._locks_guard = threading.Lock()

    @contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    def acquire(self, timeout: float) -> None:
        """Waits at most `timeout` seconds for this process's other writers, then for other processes' (raises
        `WriterLockTimeoutError`)."""
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=max(0.0, timeout)):
            raise WriterLockTimeoutError(f"another writer of this process held the store for {timeout:g} s")
        try:
            self._lock_file(deadline, timeout)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def _lock_file(self, deadline: float, timeout: float) -> None:
        if self._fd is None:
            try:  # created like SQLite's own files beside the database: as the umask allows
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as error:
                raise OperationalError(f"the store's writer lock cannot be opened: {error.strerror}") from error
        if not self._waiting:  # else the waiter's `flock` for a wait given up on would take this one's lock
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
        # Held by another process: the kernel wakes a blocked `flock` when it is released, but a blocked `flock`
        # cannot time out, so the waiter thread blocks in it and this thread waits for that, or gives up.
        wait = _Wait()
        self._start_waiter()
        with self._guard:
            self._waiting += 1
        self._waits.put(wait)
        try:
            wait.done.wait(max(0.0, deadline - time.monotonic()))
        except BaseException:  # interrupted: the lock must not stay with nobody
            if self._give_up(wait):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            raise
        if not self._give_up(wait):
            raise WriterLockTimeoutError(f"the store's writer lock was not free within {timeout:g} s")

    def _give_up(self, wait: _Wait) -> bool:
        """Whether `wait` got the lock in time; if not, the waiter lets it go as soon as it gets it."""
        with wait.guard:
            wait.abandoned = not wait.acquired
            return wait.acquired

    def _start_waiter(self) -> None:
        if self._waiter is None:
            self._waiter = threading.Thread(target=self._wait_for_file, name="sqlite-writer-lock", daemon=True)
            self._waiter.start()

    def _wait_for_file(self) -> None:
        """One wait at a time (the thread lock lets one thread of the process ask), in the order asked."""
        assert self._fd is not None
        while True:
            wait = self._waits.get()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                with wait.guard:
                    if wait.abandoned:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                    else:
                        wait.acquired = True
            except OSError:
                log.exception("waiting for the store's writer lock failed")  # the writer gives up at once
            finally:
                with self._guard:
                    self._waiting -= 1
                wait.done.set()


def _path_of(name: str) -> str | None:
    """The file a database name opens (a `file:` URI percent-decoded, as SQLite reads it); None in memory."""
    if not name.startswith("file:"):
        return None if name in ("", ":memory:") else name
    uri = urlsplit(name)
    path = unquote(uri.path)
    memory = "memory" in parse_qs(uri.query).get("mode", [])
    return None if memory or path in ("", ":memory:") else path


os.register_at_fork(after_in_child=WriterLock._forget_all)
