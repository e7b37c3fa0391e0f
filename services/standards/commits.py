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
from collections.abc import AsyncIterator
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
    app = consumer.app
    getmany, perform_seek, ack = consumer.getmany, consumer.perform_seek, consumer.ack
    revoke = consumer.on_partitions_revoked
    expected: dict[TP, int] = {}  # the next offset to hand over, per partition sought
    processed_to: dict[TP, int] = {}  # the offset up to which every record is processed (what a commit may write)
    reread: dict[TP, tuple[int, float]] = {}  # the offset last read again, and when
    unacked: dict[TP, tuple[int, float]] = {}  # the first offset not acked while later ones are, and since when
    rereading: set[asyncio.Future[None]] = set()  # kept until done (the event loop keeps weak references only)

    def read(tp: TP) -> bool:
        return bool(app.topics.acks_enabled_for(tp.topic))  # the topics of the agents (not the changelogs)

    async def sought() -> None:
        tps = [tp for tp in consumer.assignment() if read(tp)]
        earliest = await consumer.earliest_offsets(*tps) if tps else {}
        await perform_seek()
        for tp in tps:  # committed None: nothing committed yet, or 0 (set at once: the fetcher goes on meanwhile)
            start = max(consumer._committed_offset.get(tp) or 0, earliest.get(tp) or 0)
            expected[tp] = processed_to[tp] = start

    async def in_order(timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        async for tp, message in getmany(timeout=timeout):
            if not read(tp):
                yield tp, message
                continue
            next_offset = expected.get(tp)
            if next_offset is None:  # not sought since it was assigned: where to start is not known yet
                continue
            if message.offset > next_offset:
                await read_again(tp, next_offset, f"the fetch returned offset {message.offset}")
                continue
            if message.offset == next_offset:
                expected[tp] = next_offset + 1
            yield tp, message  # below: a record read again, which faust drops or applies again (idempotent)

    async def read_again(tp: TP, offset: int, why: str) -> None:
        last = reread.get(tp)
        if last is not None and last[0] == offset and time.monotonic() - last[1] < reread_after_s:
            return
        reread[tp] = (offset, time.monotonic())  # before any wait: the fetch loop and a commit may both ask
        earliest = (await consumer.earliest_offsets(tp)).get(tp) or 0
        if earliest > offset:  # deleted by retention before they were read: nothing left to wait for
            log.warning("%s: offsets %d to %d were deleted before the board read them", tp, offset, earliest - 1)
            offset = processed_to[tp] = max(processed_to[tp], earliest)
        else:
            log.warning("%s: %s: reading again from offset %d", tp, why, offset)
        expected[tp] = offset
        reread[tp] = (offset, reread[tp][1])
        await consumer.seek(tp, offset)

    def on_ack(message: Message) -> bool:
        if not message.tracked and not (current(message) and app.flow_control.is_active()):
            message.acked = True  # skipped by the stream: it will be read again
            consumer._unacked_messages.discard(message)
            return False
        return bool(ack(message))

    def current(message: Message) -> bool:
        return bool(message.generation_id == app.consumer_generation_id)

    def new_offset(tp: TP) -> int | None:
        start = processed_to.get(tp)
        if start is None:  # not sought since it was assigned: nothing is known processed from the committed offset
            return None
        index = consumer._acked_index[tp]
        end = start
        while end in index:
            end += 1
        watch_unacked(tp, end, index)
        if end == start:
            return None
        acked = consumer._acked[tp]
        acked[:] = [offset for offset in acked if offset >= end]
        index.difference_update([offset for offset in index if offset < end])
        processed_to[tp] = end
        return end

    def watch_unacked(tp: TP, first: int, acked: set[int]) -> None:
        """Reads the partition again from `first` once it has stayed unacked, with later offsets acked, for
        `unacked_for_s` (a record handed over and lost before its stream processed it)."""
        if not any(offset > first for offset in acked):
            unacked.pop(tp, None)
            return
        seen = unacked.setdefault(tp, (first, time.monotonic()))
        if seen[0] != first:
            unacked[tp] = (first, time.monotonic())
        elif time.monotonic() - seen[1] >= unacked_for_s:
            del unacked[tp]
            task = asyncio.ensure_future(read_again(tp, first, "a record handed over was never acked"))
            rereading.add(task)
            task.add_done_callback(rereading.discard)

    async def on_partitions_revoked(revoked: set[TP]) -> None:
        await revoke(revoked)  # waits for the streams, committing what they ack meanwhile
        for tp in revoked:
            expected.pop(tp, None)
            processed_to.pop(tp, None)
            reread.pop(tp, None)
            unacked.pop(tp, None)

    consumer.getmany = in_order
    consumer.perform_seek = sought
    consumer.ack = on_ack
    consumer._new_offset = new_offset
    consumer.on_partitions_revoked = on_partitions_revoked
