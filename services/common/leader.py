"""Work that runs once per store however many replicas share it (the outbox relay, its checkpoints, the delivery
worker, periodic loops): each such loop runs only in the process holding the store's lease for it; the others wait.

On PostgreSQL the lease is a session advisory lock held by a connection of its own: a process that dies (even
SIGKILLed) loses its connection, the server releases the lock, and a standby trying every `retry_s` takes over. A
holder that loses its connection stops its loop within `check_s`. On SQLite the lease is an exclusive `flock` on a
file beside the database (the kernel releases it when the process dies). In memory there is one process: no lease.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import psycopg

from services.common.composition import Loop, Workers
from services.common.sqlstore import PostgresTarget, lock_key

log = logging.getLogger(__name__)

RETRY_S = 1.0
"""How often a standby tries to take the lease."""
CHECK_S = 0.5
"""How often the holder checks that it still holds it (and whether it is asked to stop)."""


class Lease(Protocol):
    def acquire(self) -> bool:
        """Takes the lease if free; False when another process holds it (or the store cannot be reached)."""

    def held(self) -> bool:
        """Whether it is still held."""

    def release(self) -> None: ...


class AdvisoryLease:
    """`pg_try_advisory_lock` on the store's schema and the loop's name, on a connection kept while held."""

    def __init__(self, target: PostgresTarget, name: str) -> None:
        self._dsn = target.dsn
        self._key = lock_key("leader", f"{target.scope}/{name}")
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def acquire(self) -> bool:
        try:
            connection = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
        except psycopg.Error:
            log.warning("lease %s: the store cannot be reached", self._key[1])
            return False
        row = connection.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", self._key).fetchone()
        if not (row and row[0]):
            connection.close()
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # the server releases the lock with the session
            self._connection = None


class FileLease:
    """An exclusive `flock` on `path`, kept while held."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def lease_for(url: str, name: str) -> Lease | None:
    """The lease on `name` for the store at `url` (None in memory: nothing else shares it)."""
    target = PostgresTarget.of(url)
    if target is not None:
        return AdvisoryLease(target, name)
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        database = Path(unquote(parsed.path.removeprefix("/")))
        return FileLease(database.with_name(f"{database.name}.{name}.lease"))
    return None


def leader_only(lease: Lease | None, name: str, loop: Loop, retry_s: float = RETRY_S) -> Loop:
    """`loop`, run only while this process holds `lease`: it waits for it, runs the loop until asked to stop or the
    lease is lost, then releases it (a loop that raised is started again by its runner)."""
    if lease is None:
        return loop

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            if not lease.acquire():
                stop.wait(retry_s)
                continue
            log.info("%s: this process leads (the lease is its own)", name)
            try:
                _while_held(lease, loop, stop)
            finally:
                lease.release()

    return run


def _while_held(lease: Lease, loop: Loop, stop: threading.Event) -> None:
    leading = threading.Event()

    def watch() -> None:
        while not leading.is_set() and not stop.wait(CHECK_S):
            if not lease.held():
                log.warning("lease lost; stopping until it is taken again")
                break
        leading.set()

    watcher = threading.Thread(target=watch, name="lease-watch", daemon=True)
    watcher.start()
    try:
        loop(leading)
    finally:
        leading.set()
        watcher.join()


def once_per_store(url: str, workers: Workers) -> Workers:
    """`workers` whose every loop runs in one process at a time among those sharing the store at `url`."""
    loops = {name: leader_only(lease_for(url, name), name, loop) for name, loop in workers.loops.items()}
    return replace(workers, loops=loops)
