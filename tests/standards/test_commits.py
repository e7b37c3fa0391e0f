"""The board's consumer commits no offset past a record not processed: faust-streaming 0.15.3's own consumer can,
for a message fetched before a rebalance (its pure-Python stream iterator records it as acked when it skips it) and
for acks that do not start at the committed offset. faust's real consumer, messages, channel and stream; no broker."""

from __future__ import annotations

import asyncio
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

    def __init__(self, tmp_path: Path, hooked: bool, committed: int | None) -> None:
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
        if hooked:
            commit_only_processed(self.consumer)
        self.app.topics.acking_topics.add(TOPIC)
        self.app.flow_control.resume()
        self.app.consumer_generation_id = GENERATION
        self.consumer._committed_offset[PARTITION] = committed  # as the seek after an assignment leaves it

    async def fetched(self, offsets: Iterable[int], generation: int = GENERATION) -> list[Any]:
        messages = [
            ConsumerMessage(TOPIC, 0, n, 0.0, 0, [], b"k", b"v", None, tp=PARTITION, generation_id=generation)
            for n in offsets
        ]
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
        messages = await consumer.fetched(range(first, first + 3))
        for message in messages[1:]:
            message.ack(consumer.consumer)
        assert consumer.commit() is None
        return await consumer.process(last=first + 1)

    assert asyncio.run(run()) == [(first, None), (first + 1, first + 3)]


def test_an_offset_that_is_no_record_holds_no_commit_back(tmp_path: Path, iterator: str) -> None:
    async def run() -> list[tuple[int, int | None]]:
        consumer = Consumer(tmp_path, hooked=True, committed=10)  # 10 is a transaction marker: 11 is the next record
        await consumer.fetched([11, 12, 13])
        return await consumer.process(last=13)

    assert asyncio.run(run()) == [(11, None), (12, 12), (13, 13)]


def test_the_workers_consumer_is_built_with_the_hooks(tmp_path: Path) -> None:
    async def run() -> dict[TP, int]:
        worker = Worker(StandardsSettings(var_dir=str(tmp_path), referral_topic=TOPIC))
        consumer: Any = worker.app.consumer  # built by faust, through the worker's hook
        worker.app.topics.acking_topics.add(TOPIC)
        worker.app.consumer_generation_id = GENERATION
        consumer._committed_offset[PARTITION] = 10
        stale = ConsumerMessage(TOPIC, 0, 10, 0.0, 0, [], b"k", b"v", None, tp=PARTITION, generation_id=GENERATION - 1)
        stale.ack(consumer)  # as faust's pure-Python stream iterator acks the message it skips
        assert stale.acked
        offsets: dict[TP, int] = consumer._filter_committable_offsets({PARTITION})
        return offsets

    assert asyncio.run(run()) == {}
