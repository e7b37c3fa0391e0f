"""Group commit: concurrent writers share one transaction, so one commit (one fsync) serves them all.

Each caller hands its processing event to `GroupCommit.record` and returns once the transaction holding it has
committed, with its own recordings, or raises what recording it alone would have raised. The guarantee of a direct
write is unchanged: when `record` returns, the events are stored (and sealed, by the sealing recorders, in that same
transaction); one caller's events stay in one transaction, all or none.

Leader and followers: the first caller to find nobody writing becomes the leader and writes what is queued, itself
included; callers arriving meanwhile wait in the queue. Once its batch has committed, the leader wakes them all and
hands the lead to the first caller still queued, which writes the next batch. A lone caller writes at once, with no
thread hand-off; under load a batch holds whatever arrived during the previous commit.

One caller's conflict (an `IntegrityError`: an aggregate version already taken, an Idempotency-Key raced) rolls the
shared transaction back; each of that batch's events is then written in a transaction of its own, so only the
conflicting caller sees the error.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

Write = Callable[[ProcessingEvent[Any]], list[Recording[Any]]]


@dataclass(eq=False)
class _Waiter:
    event: ProcessingEvent[Any]
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    recordings: list[Recording[Any]] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit:
    """Writes concurrent callers' processing events together through `write` (one transaction per call of it)."""

    def __init__(self, write: Write, max_batch: int = 256) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._leading = False
        self.batches = 0
        """How many transactions this committer wrote (a benchmark divides the callers by it)."""

    def record(self, event: ProcessingEvent[Any]) -> list[Recording[Any]]:
        """Returns once `event` is committed, with its recordings; raises what writing it alone would raise."""
        waiter = _Waiter(event)
        with self._lock:
            self._queue.append(waiter)
            waiter.lead = not self._leading
            self._leading = True
        if not waiter.lead:
            waiter.woken.wait()
        if waiter.lead:  # first caller, or handed the lead by the previous leader
            self._lead()
        if waiter.error is not None:
            raise waiter.error
        return waiter.recordings

    def _lead(self) -> None:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.woken.set()
                else:
                    self._leading = False
            for waiter in batch:
                waiter.lead = False
                waiter.woken.set()

    def _commit(self, batch: list[_Waiter]) -> None:
        self.batches += 1
        for waiter in batch:  # until written: a leader interrupted mid-write answers nobody with a success
            waiter.error = InterruptedError(
                "the transaction holding these events was interrupted: they may not be stored"
            )
        if len(batch) == 1:
            self._write_alone(batch[0])
            return
        together: ProcessingEvent[Any] = ProcessingEvent()
        for waiter in batch:
            together.events.extend(waiter.event.events)
            together.aggregates.update(waiter.event.aggregates)
        try:
            recordings = self._write(together)
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
            waiter.recordings = recordings[start : start + len(waiter.event.events)]
            waiter.error = None
            start += len(waiter.event.events)

    def _write_alone(self, waiter: _Waiter) -> None:
        try:
            waiter.recordings = self._write(waiter.event)
            waiter.error = None
        except Exception as error:  # noqa: BLE001 -- raised by this caller's `record`, as a direct write would
            waiter.error = error
