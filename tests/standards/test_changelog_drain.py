"""The board's changelog records are in the Kafka producer's hands before the offsets they follow are committed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from services.standards.commits import drain_before_commit

RECORDS = 3


async def flushed(drained: bool) -> int:
    """Records not yet handed to the Kafka producer when `flush` returns, each taking 0.2 s to be taken (the sender
    waiting for room in the producer's batch)."""
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    handed: list[Any] = []

    async def send(record: Any) -> None:
        await asyncio.sleep(0.2)
        handed.append(record)

    buffer._send_pending = send  # type: ignore[method-assign,assignment]
    if drained:
        drain_before_commit(buffer)
    await buffer.start()
    for n in range(RECORDS):
        buffer.put(n)  # type: ignore[arg-type]
    await buffer.flush()
    left = RECORDS - len(handed)
    while buffer.size:  # let the rest leave: faust refuses to stop a buffer that still holds records
        await asyncio.sleep(0.05)
    await buffer.stop()
    return left


def test_fausts_own_flush_returns_with_records_still_buffered() -> None:
    assert asyncio.run(flushed(drained=False)) > 0  # what the consumer would commit past


def test_the_workers_buffer_flushes_until_every_record_is_handed_to_the_producer() -> None:
    assert asyncio.run(flushed(drained=True)) == 0
