"""The board's consumer hands every record over in order and commits no offset past a record not processed:
faust-streaming 0.15.3's own consumer can skip records fetched from before the seek that follows an assignment,
commit past a message fetched before a rebalance (its pure-Python stream iterator records it as acked when it skips
it) and past acks that do not start at the committed offset. faust's real consumer, its fetch loop, messages,
channel and stream; the broker's side (fetch, seek, committed offsets) is a partition's log in memory."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faust
import faust.streams
import pytest
from faust.events import Event
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from services.standards.commits import commit_only_processed
from services.standards.settings import StandardsSettings
from services.standards.worker import Worker

TOPIC = "rls.referral.v1"
PARTITION = TP(TOPIC, 0)
GENERATION = 2
"""The group's generation now; a message fetched before the last rebalance carries the one before."""


class Consumer:
    """faust's consumer of a bare app (no broker), delivering as faust's conductor does: onto a channel an agent's
    stream reads. Built on the running event loop, as faust builds it."""

    def __init__(
        self, tmp_path: Path, hooked: bool, committed: int | None, log: Log | None = None, unacked_for_s: float = 10
    ) -> None:
        self.app = faust.App(
            f"commits-{uuid.uuid4().hex[:8]}",
            broker="kafka://localhost:1",
            store="memory://",
            web_enabled=False,
            autodiscover=False,
            datadir=str(tmp_path),
        )
        self.channel = self.app.channel()
        self.stream = self.app.stream(self.channel)  # subscribed: it gets what is put on the channel from now on

        async def deliver(message: Any) -> None:
            message.incref()
            await self.channel.put(Event(self.app, message.key, message.value, message.headers, message))

        async def rebalanced(*_: Any) -> None:
            return None

        self.consumer: Any = self.app.transport.create_consumer(
            callback=deliver, on_partitions_revoked=rebalanced, on_partitions_assigned=rebalanced
        )
        self.app.consumer = self.consumer
        self.log = log or Log(end=0, position=committed or 0)
        self.log.serve(self.consumer, committed)
        if hooked:
            commit_only_processed(self.consumer, unacked_for_s=unacked_for_s)
        self.app.topics.acking_topics.add(TOPIC)
        self.app.flow_control.resume()
        self.app.consumer_generation_id = GENERATION

    async def sought(self) -> None:
        """The seek to the committed offsets that follows an assignment."""
        await self.consumer.perform_seek()

    async def fetched(self, offsets: Iterable[int], generation: int = GENERATION) -> list[Any]:
        messages = [record(n, generation) for n in offsets]
        for message in messages:
            await self.consumer.callback(message)
        return messages

    def commit(self) -> int | None:
        """What a commit would write now for the partition (and the consumer then holds as committed)."""
        offsets = self.consumer._filter_committable_offsets({PARTITION})
        self.consumer._committed_offset.update(offsets)
        return offsets.get(PARTITION)

    async def process(self, last: int) -> list[tuple[int, int | None]]:
        """The agent: for each record it is handed, the offset a commit writes just before processing it."""
        seen = []
        async for event in self.stream.events():
            seen.append((event.message.offset, self.commit()))
            if event.message.offset == last:
                break
        return seen


def record(offset: int, generation: int = GENERATION) -> Any:
    return ConsumerMessage(TOPIC, 0, offset, 0.0, 0, [], b"k", b"v", None, tp=PARTITION, generation_id=generation)


class Log:
    """One partition as the broker serves the consumer: records 0 to `end` - 1, fetched five at a time from a
    position that a seek moves. `stale_until_seek` makes the first fetch read from the position where it is and
    the seek after the assignment land while that fetch is handed over, as faust's recovery lets it happen."""

    def __init__(self, end: int, position: int, stale_until_seek: bool = False, deleted_before: int = 0) -> None:
        self.end, self.position, self.stale = end, position, stale_until_seek
        self.first, self.deleted_before = 0, deleted_before
        self.seeks: list[int] = []

    def serve(self, consumer: Any, committed: int | None, fetch: bool = True) -> None:
        """Puts this log behind `consumer` (its transport-level calls; faust's own logic stays), its fetch too unless
        `fetch` is False (a consumer already hooked)."""

        async def seek_to_committed() -> dict[TP, int]:
            self.first = self.deleted_before  # retention (after the consumer asked for the earliest offsets)
            if committed:  # as aiokafka: nothing committed (or 0), no seek
                self.position = max(committed, self.first)  # out of range: reset to the earliest
            return {PARTITION: committed} if committed is not None else {}

        async def seek(tp: TP, offset: int) -> None:
            self.seeks.append(offset)
            self.position = max(offset, self.first)

        async def earliest_offsets(*tps: TP) -> dict[TP, int]:
            return {tp: self.first for tp in tps}

        async def records(timeout: float) -> Any:
            batch = range(self.position, min(self.position + 5, self.end))
            self.position = batch.stop
            for n, offset in enumerate(batch):
                if n == 1 and self.stale:
                    self.stale = False
                    await consumer.perform_seek()  # the rest of this fetch is handed over after the seek
                yield PARTITION, record(offset)
            await asyncio.sleep(0.001)

        consumer.seek_to_committed, consumer._seek, consumer.earliest_offsets = (
            seek_to_committed,
            seek,
            earliest_offsets,
        )
        consumer.assignment = lambda: {PARTITION}
        if fetch:
            consumer.getmany = records


@pytest.fixture(params=["compiled", "python"])
def iterator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """faust's stream iterator: its compiled one (what it uses when installed) or its pure-Python one."""
    if request.param == "compiled" and faust.streams._CStreamIterator is None:
        pytest.skip("faust's compiled stream iterator is not installed")
    if request.param == "python":
        monkeypatch.setattr(faust.streams, "_CStreamIterator", None)
    return str(request.param)


def read_again_after_a_rebalance(tmp_path: Path, hooked: bool) -> tuple[list[tuple[int, int | None]], Consumer]:
    """Committed 10: a copy of 10 fetched before the rebalance reaches the stream, then 10 and 11 fetched again."""

    async def run() -> tuple[list[tuple[int, int | None]], Consumer]:
        consumer = Consumer(tmp_path, hooked, committed=10)
        await consumer.sought()
        await consumer.fetched([10], generation=GENERATION - 1)
        await consumer.fetched([10, 11])
        return await consumer.process(last=11), consumer

    return asyncio.run(run())


def test_fausts_python_stream_iterator_lets_a_commit_pass_a_message_it_skipped_as_fetched_before_a_rebalance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faust.streams, "_CStreamIterator", None)
    seen, _ = read_again_after_a_rebalance(tmp_path, hooked=False)
    assert seen[0] == (10, 11)  # committed past 10 while its copy fetched again is not processed yet


def test_a_message_fetched_before_a_rebalance_is_read_again_before_a_commit_passes_it(
    tmp_path: Path, iterator: str
) -> None:
    seen, consumer = read_again_after_a_rebalance(tmp_path, hooked=True)
    assert seen == [(10, None), (11, 11)]
    assert not consumer.consumer.unacked  # nothing for a rebalance to wait on


@pytest.mark.parametrize("committed", [10, None], ids=["committed", "just-assigned"])
def test_fausts_consumer_commits_past_an_offset_acked_out_of_order(tmp_path: Path, committed: int | None) -> None:
    first = committed or 0

    async def run() -> int | None:
        consumer = Consumer(tmp_path, hooked=False, committed=committed)
        await consumer.sought()
        messages = await consumer.fetched(range(first, first + 3))
        for message in messages[1:]:  # as faust's conductor acks a record it cannot decode, at once
            message.ack(consumer.consumer)
        return consumer.commit()

    assert asyncio.run(run()) == first + 3  # `first` is not processed


@pytest.mark.parametrize("committed", [10, None], ids=["committed", "just-assigned"])
def test_no_commit_covers_an_offset_delivered_and_not_processed_yet(
    tmp_path: Path, iterator: str, committed: int | None
) -> None:
    first = committed or 0

    async def run() -> list[tuple[int, int | None]]:
        consumer = Consumer(tmp_path, hooked=True, committed=committed)
        await consumer.sought()
        messages = await consumer.fetched(range(first, first + 3))
        for message in messages[1:]:
            message.ack(consumer.consumer)
        assert consumer.commit() is None
        return await consumer.process(last=first + 1)

    assert asyncio.run(run()) == [(first, None), (first + 1, first + 3)]


def drained(
    tmp_path: Path, hooked: bool, log: Log, wanted: range, committed: int | None = 5, fetch_before_seek: bool = False
) -> tuple[set[int], int | None, list[int]]:
    """The records of `log` fetched by faust's fetch loop (with its read offsets and gaps) onto a stream until it
    processed `wanted`: what it processed, what a commit writes at the end, and the offsets the partition was sought
    to after the seek to the committed offset. `fetch_before_seek`: the fetch loop runs a while before the seek."""

    async def run() -> tuple[set[int], int | None, list[int]]:
        consumer = Consumer(tmp_path, hooked, committed=committed, log=log)
        fetcher = type("Fetcher", (), {"_stopped": asyncio.Event()})()
        fetching = asyncio.ensure_future(consumer.consumer._drain_messages(fetcher))
        processed: set[int] = set()

        async def process() -> None:
            async for event in consumer.stream.events():
                processed.add(event.message.offset)
                if processed >= set(wanted):
                    return

        if fetch_before_seek:
            await asyncio.sleep(0.05)
        if not log.stale:  # else the fetch under way meets the seek
            await consumer.sought()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process(), timeout=3)
        fetcher._stopped.set()
        await fetching
        return processed, consumer.commit(), log.seeks

    return asyncio.run(run())


def from_before_the_seek() -> Log:
    """30 records, committed 5: a fetch from offset 20 is under way when the partition is sought to 5."""
    return Log(end=30, position=20, stale_until_seek=True)


def test_fausts_consumer_commits_past_records_it_never_handed_over_when_a_fetch_from_before_the_seek_returns(
    tmp_path: Path,
) -> None:
    processed, committed, _ = drained(tmp_path, False, from_before_the_seek(), range(5, 30))
    assert not processed & set(range(5, 20))  # never processed (the copies fetched again are dropped as read)...
    assert committed is not None and committed > 20  # ... and committed past: lost after a crash


def test_records_fetched_from_before_the_seek_are_held_back_and_the_partition_read_again_in_order(
    tmp_path: Path, iterator: str
) -> None:
    processed, committed, seeks = drained(tmp_path, True, from_before_the_seek(), range(5, 30))
    assert processed >= set(range(5, 30))
    assert committed == 30
    assert seeks == [5, 5]  # sought to where its records start, then read again from there once


def test_records_deleted_before_they_are_read_hold_nothing_back(tmp_path: Path) -> None:
    log = Log(end=30, position=5, deleted_before=12)  # committed 5; retention deletes up to 11 meanwhile
    processed, committed, seeks = drained(tmp_path, True, log, range(12, 30))
    assert processed == set(range(12, 30))
    assert committed == 30
    assert seeks == [5, 12]


def test_records_fetched_while_the_partition_is_sought_are_read_again_when_nothing_was_committed(
    tmp_path: Path,
) -> None:
    log = Log(end=10, position=0)  # nothing committed: aiokafka's seek to the committed offsets moves nothing
    processed, committed, seeks = drained(tmp_path, True, log, range(10), committed=None, fetch_before_seek=True)
    assert processed == set(range(10))  # the ten, fetched before the seek and held back, are read again
    assert committed == 10
    assert seeks == [0]


def test_a_broker_that_does_not_answer_for_the_earliest_offsets_stops_nothing(tmp_path: Path) -> None:
    async def run() -> tuple[int | None, list[int]]:
        log = Log(end=0, position=7)
        consumer = Consumer(tmp_path, hooked=True, committed=7, log=log)

        async def unanswered(*tps: TP) -> dict[TP, int]:
            raise TimeoutError

        consumer.consumer.earliest_offsets = unanswered
        await consumer.sought()
        for message in await consumer.fetched([7, 8]):
            message.ack(consumer.consumer)
        return consumer.commit(), log.seeks

    assert asyncio.run(run()) == (9, [7])


def test_no_commit_before_the_partition_is_sought(tmp_path: Path) -> None:
    async def run() -> int | None:
        consumer = Consumer(tmp_path, hooked=True, committed=None)
        for message in await consumer.fetched([0, 1]):  # delivered, then processed, before the seek
            message.ack(consumer.consumer)
        return consumer.commit()

    assert asyncio.run(run()) is None


def test_a_record_handed_over_and_never_acked_is_read_again_and_held_back_meanwhile(tmp_path: Path) -> None:
    async def run() -> tuple[list[int | None], list[int]]:
        log = Log(end=15, position=10)
        consumer = Consumer(tmp_path, hooked=True, committed=10, log=log, unacked_for_s=0)
        await consumer.sought()
        for message in (await consumer.fetched([10, 11, 12]))[1:]:  # 10 lost on its way to the stream
            message.ack(consumer.consumer)
        commits = [consumer.commit(), consumer.commit()]
        await asyncio.sleep(0.01)
        return commits, log.seeks

    assert asyncio.run(run()) == ([None, None], [10])


def test_the_workers_consumer_is_built_with_the_hooks(tmp_path: Path) -> None:
    async def run() -> list[dict[TP, int]]:
        worker = Worker(StandardsSettings(var_dir=str(tmp_path), referral_topic=TOPIC))
        consumer: Any = worker.app.consumer  # built by faust, through the worker's hook
        worker.app.topics.acking_topics.add(TOPIC)
        worker.app.consumer_generation_id = GENERATION
        worker.app.flow_control.resume()
        Log(end=0, position=10).serve(consumer, committed=10, fetch=False)
        before_seek = consumer._filter_committable_offsets({PARTITION})
        await consumer.perform_seek()
        stale = record(10, GENERATION - 1)
        stale.ack(consumer)  # as faust's pure-Python stream iterator acks the message it skips
        assert stale.acked
        after_stale = consumer._filter_committable_offsets({PARTITION})
        record(10).ack(consumer)
        return [before_seek, after_stale, consumer._filter_committable_offsets({PARTITION})]

    assert asyncio.run(run()) == [{}, {}, {PARTITION: 11}]
