"""The board's dead letters through aiokafka (the producer faust sends with) on the real broker: a record with neither
key nor value (a keyless tombstone, which Java and librdkafka producers write) is dead-lettered; aiokafka refused the
dead letter as it was ("Need at least one: key or value") and the exception escaped the agent."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.common.kafka import NULL_HEADERS, NULL_VALUE, dlq_topic, ensure_topics, make_admin
from services.standards.settings import StandardsSettings
from services.standards.worker import Worker
from tests.helpers import read_topic

pytestmark = pytest.mark.integration


class AiokafkaTopic:
    """A dead-letter topic sending as faust does: through aiokafka's producer and its checks."""

    def __init__(self, producer: AIOKafkaProducer, name: str) -> None:
        self.producer, self.name = producer, name

    async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> None:
        await self.producer.send_and_wait(self.name, key=key, value=value, headers=headers)


def test_a_record_without_key_nor_value_is_dead_lettered(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"rls.board-tombstone-{uuid.uuid4().hex[:8]}.v1"
    admin = make_admin(kafka_bootstrap, "test-board-dlq")
    try:
        ensure_topics(admin, [topic], partitions=1)
    finally:
        admin.close()
    worker = Worker(StandardsSettings(var_dir=str(tmp_path)))
    message = SimpleNamespace(
        topic=topic, partition=0, offset=7, key=None, value=None, headers=[("ce_id", b"e1"), ("ce_source", None)]
    )

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            dead_letters: Any = AiokafkaTopic(producer, dlq_topic(topic))
            event: Any = SimpleNamespace(message=message)
            await worker._dead_letter(dead_letters, event, "record value must be a JSON object")
        finally:
            await producer.stop()

    asyncio.run(go())
    [(letter, _)] = read_topic(kafka_bootstrap, dlq_topic(topic))
    assert (letter.key, letter.value) == (None, b"")
    headers = dict(letter.headers)
    assert headers[NULL_VALUE] == b"true"
    assert headers["ce_id"] == b"e1" and headers["ce_source"] == b""
    assert json.loads(headers[NULL_HEADERS]) == ["ce_source"]
    assert headers["dlq_reason"] == b"record value must be a JSON object" and headers["dlq_topic"] == topic.encode()
