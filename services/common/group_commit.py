"""Group commit: concurrent writers share one transaction, so one commit (one fsync) serves them all.

Each caller hands its events, already encoded (`Pending`: in its own thread and context, so each stored event keeps
the trace of the request that recorded it), to `GroupCommit.record` and returns once the transaction holding them
has committed, with its own recordings, or raises what recording them alone would have raised. The guarantee of a
direct write is unchanged: when `record` returns, the events are stored (and sealed, by the sealing recorders, in
that same transaction); one caller's events stay in one transaction, all or none.

Leader and followers: the first caller to find nobody writing becomes the leader and writes what is queued, itself
included; callers arriving meanwhile wait in the queue. Once its batch has committed, the leader wakes them all and
hands the lead to the first caller still queued, which writes the next batch. A lone caller writes at once, with no
thread hand-off; under load a batch holds whatever arrived during the previous commit.

A caller on an event loop (`record_async`) cannot lead: blocking there would stall every request. It waits on a
future instead, and when it would lead, the committer thread (one a `GroupCommit`, started on first use) writes the
batch in its place; it is woken through the loop once the batch has committed. So a decision answered on the loop
crosses threads once a batch, not once a request. `close` refuses new callers on a loop; those already queued are
still written (the committer thread stops once it has served every lead handed to it).

One caller's conflict (an `IntegrityError`: an aggregate version already taken, an Idempotency-Key raced) rolls the
shared transaction back; each of that batch's callers is then written in a transaction of its own, so only the
conflicting caller sees the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent

from services.common.integrity.sealing import HeadsAhead


@dataclass(frozen=True)
class Pending:
    """A caller's events and their stored form, encoded by the caller, and the seals it needs, being read ahead."""

    event: ProcessingEvent[Any]
    stored: Sequence[StoredEvent]
    ahead: HeadsAhead = field(default_factory=HeadsAhead)

    @staticmethod
    def joined(pendings: list[Pending]) -> Pending:
        together: ProcessingEvent[Any] = ProcessingEvent()
        for pending in pendings:
            together.events.extend(pending.event.events)
            together.aggregates.update(pending.event.aggregates)
        stored = [stored for pending in pendings for stored in pending.stored]
        return Pending(together, stored, HeadsAhead.joined([pending.ahead for pending in pendings]))


Write = Callable[[Pending], Sequence[Recording[Any]]]


@dataclass(eq=False)
class _Waiter:
    pending: Pending
    wake: Callable[[], None]
    """Called once this caller may go on: its batch committed (or failed), or the lead is handed to it."""
    leads: bool = True
    """Whether this caller writes a batch itself when the lead comes to it (False: the committer thread does)."""
    lead: bool = False
    recordings: Sequence[Recording[Any]] = ()
    error: BaseException | None = None


class GroupCommit:
    """Writes concurrent callers' events together through `write` (one transaction per call of it)."""

    def __init__(self, write: Write, max_batch: int = 256) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._leading = False
        self._turns = threading.Semaphore(0)
        """Wakes the committer thread: a lead handed to it, or `close`."""
        self._handed = 0
        """Leads handed to the committer thread and not yet served (batches it is to write for callers that cannot
        lead)."""
        self._committer: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        """How many transactions this committer wrote (a benchmark divides the callers by it)."""

    def record(self, pending: Pending) -> Sequence[Recording[Any]]:
        """Returns once `pending` is committed, with its recordings; raises what writing it alone would raise."""
        woken = threading.Event()
        waiter = _Waiter(pending, woken.set)
        if not self._enqueue(waiter):
            woken.wait()
        if waiter.lead:  # first caller, or handed the lead by the previous leader
            self._lead()
        return _outcome(waiter)

    async def record_async(self, pending: Pending) -> Sequence[Recording[Any]]:
        """`record` for a caller on an event loop: it waits without blocking the loop, never leads."""
        if self._closed:
            raise RuntimeError("the group commit is closed: its committer thread writes nothing more")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        waiter = _Waiter(pending, lambda: _call_soon(loop, done), leads=False)
        if self._enqueue(waiter):
            self._hand_to_committer()
        await done
        return _outcome(waiter)

    def close(self) -> None:
        """Refuses new callers on a loop; the committer thread stops once it has served every lead handed to it,
        those still to come for callers already queued included."""
        self._closed = True
        self._turns.release()

    def _enqueue(self, waiter: _Waiter) -> bool:
        """Queues `waiter`; True when nobody was writing (the lead is this caller's)."""
        with self._lock:  # the lead is set under the lock: a leader finishing may hand it to this waiter at once
            self._queue.append(waiter)
            first = not self._leading
            self._leading = True
            waiter.lead = first and waiter.leads
        return first

    def _hand_to_committer(self) -> None:
        with self._lock:
            self._handed += 1
            if self._committer is None:  # first use, or it stopped after `close` (a caller queued before it)
                self._committer = threading.Thread(target=self._commit_turns, name="group-commit", daemon=True)
                self._committer.start()
        self._turns.release()

    def _commit_turns(self) -> None:
        while True:
            self._turns.acquire()
            with self._lock:
                leads = self._handed > 0
                if leads:
                    self._handed -= 1
            if leads:
                with contextlib.suppress(BaseException):  # its callers were told (InterruptedError); go on
                    self._lead()
            with self._lock:
                if self._closed and not self._handed:
                    self._committer = None
                    return

    def _lead(self) -> None:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            if successor is not None and successor.leads:
                successor.lead = True
                successor.wake()
            elif successor is not None:
                self._hand_to_committer()
            for waiter in batch:
                waiter.lead = False
                waiter.wake()

    def _commit(self, batch: list[_Waiter]) -> None:
        self.batches += 1
        for waiter in batch:  # until written: a leader interrupted mid-write answers nobody with a success
            waiter.error = InterruptedError(
                "the transaction holding these events was interrupted: they may not be stored"
            )
        if len(batch) == 1:
            self._write_alone(batch[0])
            return
        try:
            recordings = self._write(Pending.joined([waiter.pending for waiter in batch]))
        except IntegrityError:
            for waiter in batch:
                self._write_alone(waiter)
            return
        except Exception as error:  # noqa: BLE001 -- the store failed: each caller raises it, nothing was committed
            for waiter in batch:
                waiter.error = error
            return
        start = 0
        for waiter in batch:
            waiter.recordings = recordings[start : start + len(waiter.pending.stored)]
            waiter.error = None
            start += len(waiter.pending.stored)

    def _write_alone(self, waiter: _Waiter) -> None:
        try:
            waiter.recordings = self._write(waiter.pending)
            waiter.error = None
        except Exception as error:  # noqa: BLE001 -- raised by this caller's `record`, as a direct write would
            waiter.error = error


def _outcome(waiter: _Waiter) -> Sequence[Recording[Any]]:
    if waiter.error is not None:
        raise waiter.error
    return waiter.recordings


def _call_soon(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
    """Settles `done` on its loop (from the thread that wrote the batch); a loop already closed has nobody waiting."""
    try:
        loop.call_soon_threadsafe(_settle, done)
    except RuntimeError:
        return


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
