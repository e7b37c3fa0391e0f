"""What the worker's offset commits may cover: only records processed, whose table changes are in Kafka's hands.

The board is at least once with idempotent table values: a record read twice does no harm, a record committed past
before it was processed is lost for good after a crash. faust-streaming 0.15.3 can commit past such records in
three ways; the hooks below close them on this app's own objects (their attributes, never faust's classes):

- `drain_before_commit` (the producer's buffer): the changelog records of the tables are handed to the producer
  before the offsets they follow are committed;
- `commit_only_processed` (the consumer): a message a stream skips because it was fetched before a rebalance (or
  reached it while flow was stopped for one) is not recorded as acked, since it will be read again from the
  committed offset; and no commit covers an offset delivered to the streams and not acked yet.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from faust.types import TP, Message


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


def commit_only_processed(consumer: Any) -> None:
    """Makes `consumer` (faust's consumer, before it starts) commit no offset past a record not processed.

    1. A stream skips a message fetched in an earlier generation of the group, or reaching it while flow control is
       stopped for a rebalance. faust-streaming 0.15.3's pure-Python stream iterator (`Stream._py_aiter`, used when
       its compiled one is absent or `NO_CYTHON` is set) acks it all the same: the offset is recorded as acked, while
       the partition is sought back to its committed offset and the record will be fetched again, so a commit can
       pass it before the copy fetched again is processed. (The compiled iterator, `_cython/streams.pyx`, does not
       ack it.) Here such a message (never tracked by a stream, and stale as the stream judges it) is marked acked
       on itself, so that nothing waits on it, and its offset is not recorded.
    2. `Consumer._new_offset` lets a commit start above the committed offset: it refuses only when the first offset
       acked is *more than one* above it, while the committed offset is the next record to process (committed 10,
       acked 11 and 12: it commits 13, 10 unprocessed). It checks nothing while the committed offset is None, which
       it is after every assignment until the partitions are sought, and after that for a partition whose committed
       offset is 0 or none. (It tolerates the one offset because the committed offset need not be a record: a
       transaction marker, a compacted hole.) Here the consumer keeps the offsets it delivered to the streams; one
       not acked yet (nor below the committed offset) is the most a commit may reach. Acks are read from the
       consumer's own record of them, which both stream iterators fill (the compiled one without calling `ack`).
       An offset that is no record is never delivered, so it holds nothing back."""
    app = consumer.app
    deliver, ack, new_offset = consumer.callback, consumer.ack, consumer._new_offset
    revoke = consumer.on_partitions_revoked
    delivered: defaultdict[TP, set[int]] = defaultdict(set)

    def current(message: Message) -> bool:
        return bool(message.generation_id == app.consumer_generation_id)

    async def on_message(message: Message) -> None:
        if current(message) and app.topics.acks_enabled_for(message.topic):
            delivered[message.tp].add(message.offset)
        await deliver(message)

    def on_ack(message: Message) -> bool:
        if not message.tracked and not (current(message) and app.flow_control.is_active()):
            message.acked = True  # skipped by the stream: it will be read again
            consumer._unacked_messages.discard(message)
            return False
        return bool(ack(message))

    def first_unprocessed(tp: TP) -> int | None:
        pending, acked, committed = delivered[tp], consumer._acked_index[tp], consumer._committed_offset[tp]
        pending.difference_update(
            [offset for offset in pending if offset in acked or (committed is not None and offset < committed)]
        )
        return min(pending, default=None)

    def guarded_new_offset(tp: TP) -> int | None:
        unprocessed = first_unprocessed(tp)
        if unprocessed is None:
            offset: int | None = new_offset(tp)
            return offset
        acked, index = consumer._acked[tp], consumer._acked_index[tp]
        saved = list(acked), set(index), consumer._gap[tp].copy()
        offset = new_offset(tp)
        if offset is None or offset <= unprocessed:
            return offset
        acked[:] = saved[0]  # as they were: committed once the offsets before them are processed
        index.clear()
        index.update(saved[1])
        consumer._gap[tp] = saved[2]
        return None

    async def on_partitions_revoked(revoked: set[TP]) -> None:
        await revoke(revoked)  # waits for the streams, committing what they ack meanwhile
        for tp in revoked:
            delivered.pop(tp, None)

    consumer.callback = on_message
    consumer.ack = on_ack
    consumer._new_offset = guarded_new_offset
    consumer.on_partitions_revoked = on_partitions_revoked
