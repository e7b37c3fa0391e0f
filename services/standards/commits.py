"""What the worker's offset commits may cover: only records processed, whose table changes are in Kafka's hands.

The board is at least once with idempotent table values: a record read twice does no harm, a record committed past
before it was processed is lost for good after a crash. faust-streaming 0.15.3 can commit past such records in
several ways; the hooks below close them on this app's own objects (their attributes, never faust's classes):

- `drain_before_commit` (the producer's buffer): the changelog records of the tables are handed to the producer
  before the offsets they follow are committed;
- `commit_only_processed` (the consumer): the streams get each partition's records in order from the offset it was
  sought to, none skipped, and a commit covers only offsets acked without a break from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from faust.types import TP, Message

log = logging.getLogger(__name__)


def drain_before_commit(buffer: Any) -> None:
    """Makes `buffer` (faust's producer buffer, which holds the tables' changelog records) flush until every record
    it was given is in the Kafka producer's hands. Its own `flush` returns as soon as no record left it for 0.1 s
    (faust-streaming 0.15.3, `ProducerBuffer.flush_atmost`), and the consumer commits the offsets right after: when a
    timer holds the event loop that long, offsets are committed whose table changes are still in the buffer. An empty
    buffer is not enough either: the buffer's sending task has taken the last record out of it and may still be
    waiting for room in the Kafka producer's batch, and the producer's own flush that follows waits only for the
    batches it already holds. A crash then loses such changes (seen as an undercounted board after SIGKILLs). The
    hooks are this one buffer's attributes, not faust's class."""
    send, flush_some = buffer._send_pending, buffer.flush_atmost
    sending: set[asyncio.Future[None]] = set()

    async def tracked_send(message: Any) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sending.add(done)
        try:
            await send(message)
        finally:
            sending.discard(done)
            done.set_result(None)

    async def flush() -> None:
        while buffer.size or sending:
            if buffer.size:
                await flush_some(None)
            else:
                await asyncio.wait(list(sending))

    buffer._send_pending = tracked_send
    buffer.flush = flush


def commit_only_processed(consumer: Any, reread_after_s: float = 2.0, unacked_for_s: float = 10.0) -> None:
    """Makes `consumer` (faust's consumer, before it starts) hand the streams every record of a partition in order,
    none skipped, and commit no offset past a record not processed.

    The topics the board reads are neither compacted nor written in transactions (the platform's producers are
    idempotent, not transactional): their offsets are contiguous, so an offset missing between two records handed
    over is a record lost. faust-streaming 0.15.3 loses records in three ways, each closed here:

    1. **A fetch from before the seek.** After an assignment faust resumes the partitions, then seeks them to the
       committed offsets; a fetch already under way can return records from another position (seen: offset 1,920
       while 748 was committed). faust hands them over, counts the offsets between as a gap of records that do not
       exist, and commits past them: those records are never applied (seen as an undercounted board after
       SIGKILLs). Here a partition's records are handed over only once it is sought, and only in order from the
       offset sought: a record beyond the next expected one is held back and the partition is read again from
       the expected offset (at most every `reread_after_s` for the same offset).
    2. **A commit past a record not processed.** `Consumer._new_offset` commits past the next offset to process when
       later ones are acked (committed 10, acked 11 and 12: it commits 13), and checks nothing while the committed
       offset is None (after every assignment). Here a commit reaches only as far as the offsets acked without a
       break from the offset the partition was sought to.
    3. **A skipped message recorded as acked.** A stream skips a message fetched in an earlier generation of the
       group, or reaching it while flow is stopped for a rebalance; faust's pure-Python stream iterator
       (`Stream._py_aiter`, used when its compiled one is absent or `NO_CYTHON` is set) acks it all the same. Here
       such a message (never tracked by a stream, and stale as the stream judges it) is marked acked on itself, so
       that nothing waits on it, and its offset is not recorded: it is read again from the committed offset. The
       compiled iterator (`_cython/streams.pyx`) does not ack it, and records acks without calling `ack`: acks are
       read from the consumer's own record of them, which both iterators fill.

    Should a record handed over still not be acked while later ones are, `unacked_for_s` after it was first seen
    so at a commit, the partition is read again from it: commits never pass it, and they do not stop for good."""
    guard = _InOrder(consumer, reread_after_s, unacked_for_s)
    consumer.getmany = guard.getmany
    consumer.perform_seek = guard.sought
    consumer.ack = guard.ack
    consumer._new_offset = guard.new_offset
    consumer.on_partitions_revoked = guard.on_partitions_revoked


class _InOrder:
    """The state and hooks of `commit_only_processed`, per partition of the topics the agents read (the changelogs,
    read by recovery, are left as faust handles them)."""

    def __init__(self, consumer: Any, reread_after_s: float, unacked_for_s: float) -> None:
        self.consumer, self.app = consumer, consumer.app
        self.reread_after_s, self.unacked_for_s = reread_after_s, unacked_for_s
        self._getmany, self._perform_seek = consumer.getmany, consumer.perform_seek
        self._ack, self._revoke = consumer.ack, consumer.on_partitions_revoked
        self.expected: dict[TP, int] = {}  # the next offset to hand over, per partition sought
        self.processed_to: dict[TP, int] = {}  # every record below is processed: what a commit may write
        self.reread: dict[TP, tuple[int, float]] = {}  # the offset last read again, and when
        self.unacked: dict[TP, tuple[int, float]] = {}  # the first offset unacked while later ones are, and since
        self.pending: dict[TP, int] = {}  # offsets to read again from, at the fetch loop's next fetch

    def read(self, tp: TP) -> bool:
        return bool(self.app.topics.acks_enabled_for(tp.topic))

    async def sought(self) -> None:
        """faust's seek to the committed offsets, then each partition sought again to where its records start: to
        the committed offset, or the earliest kept when nothing is committed (aiokafka then seeks nothing) or the
        committed records are gone. Records the fetch loop drained meanwhile were held back: they are read again."""
        tps = [tp for tp in self.consumer.assignment() if self.read(tp)]
        earliest = await self._earliest(*tps)
        await self._perform_seek()
        for tp in tps:  # committed None: nothing committed yet, or 0
            start = max(self.consumer._committed_offset.get(tp) or 0, earliest.get(tp) or 0)
            self.expected[tp] = self.processed_to[tp] = start
        for tp in tps:
            await self.consumer.seek(tp, self.expected[tp])

    async def _earliest(self, *tps: TP) -> Mapping[TP, int]:
        """The earliest offsets kept (none known when the broker does not answer: the reads then start from the
        committed offsets, and a break in them is read again)."""
        if not tps:
            return {}
        try:
            earliest: Mapping[TP, int] = await self.consumer.earliest_offsets(*tps)
        except Exception as error:  # noqa: BLE001 -- a broker hiccup must not stop the worker
            log.warning("earliest offsets not known (%s)", type(error).__name__)
            return {}
        return earliest

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """faust's fetch, each partition's records in order from the offset expected: one further on is held back
        and the partition read again from the expected one. Run by the fetch loop alone, so that no record is being
        handed over while a partition is sought (faust would then set its read offset past the seek)."""
        for tp, offset in list(self.pending.items()):
            del self.pending[tp]
            await self.read_again(tp, offset, "a record handed over was never acked")
        async for tp, message in self._getmany(timeout=timeout):
            if not self.read(tp):
                yield tp, message
                continue
            next_offset = self.expected.get(tp)
            if next_offset is None:  # not sought since it was assigned: where to start is not known yet
                continue
            if message.offset > next_offset:
                await self.read_again(tp, next_offset, f"the fetch returned offset {message.offset}")
                continue
            if message.offset == next_offset:
                self.expected[tp] = next_offset + 1
                self.consumer._read_offset[tp] = message.offset  # handed over, whatever faust read before
            yield tp, message  # below: a record read again, which faust drops or applies again (idempotent)

    async def read_again(self, tp: TP, offset: int, why: str) -> None:
        last = self.reread.get(tp)
        if last is not None and last[0] == offset and time.monotonic() - last[1] < self.reread_after_s:
            return
        self.reread[tp] = (offset, time.monotonic())
        earliest = (await self._earliest(tp)).get(tp, 0)
        if tp not in self.expected:  # revoked meanwhile
            return
        if earliest > offset:  # deleted by retention before they were read: nothing left to wait for
            log.warning("%s: offsets %d to %d were deleted before the board read them", tp, offset, earliest - 1)
            offset = self.processed_to[tp] = max(self.processed_to[tp], earliest)
        else:
            log.warning("%s: %s: reading again from offset %d", tp, why, offset)
        self.expected[tp] = offset
        self.reread[tp] = (offset, self.reread[tp][1])
        try:
            await self.consumer.seek(tp, offset)
        except Exception as error:  # noqa: BLE001 -- revoked meanwhile, or the broker: read again at the next ask
            log.warning("%s: seek to %d failed (%s)", tp, offset, type(error).__name__)

    def ack(self, message: Message) -> bool:
        if not message.tracked and not (self.current(message) and self.app.flow_control.is_active()):
            message.acked = True  # skipped by the stream: it will be read again
            self.consumer._unacked_messages.discard(message)
            return False
        return bool(self._ack(message))

    def current(self, message: Message) -> bool:
        return bool(message.generation_id == self.app.consumer_generation_id)

    def new_offset(self, tp: TP) -> int | None:
        start = self.processed_to.get(tp)
        if start is None:  # not sought since it was assigned: nothing is known processed from the committed offset
            return None
        index = self.consumer._acked_index[tp]
        end = start
        while end in index:
            end += 1
        self.watch_unacked(tp, end, index)
        if end == start:
            return None
        acked = self.consumer._acked[tp]
        acked[:] = [offset for offset in acked if offset >= end]
        index.difference_update([offset for offset in index if offset < end])
        self.processed_to[tp] = end
        return end

    def watch_unacked(self, tp: TP, first: int, acked: set[int]) -> None:
        """Asks the fetch loop to read the partition again from `first` once it has stayed unacked, with later
        offsets acked, for `unacked_for_s` (a record handed over and lost before its stream processed it)."""
        if not any(offset > first for offset in acked):
            self.unacked.pop(tp, None)
            return
        seen = self.unacked.setdefault(tp, (first, time.monotonic()))
        if seen[0] != first:
            self.unacked[tp] = (first, time.monotonic())
        elif time.monotonic() - seen[1] >= self.unacked_for_s:
            del self.unacked[tp]
            self.pending[tp] = first

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await self._revoke(revoked)  # waits for the streams, committing what they ack meanwhile
        for tp in revoked:
            for state in (self.expected, self.processed_to, self.reread, self.unacked, self.pending):
                state.pop(tp, None)
