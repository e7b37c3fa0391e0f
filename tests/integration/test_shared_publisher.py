"""One publisher shared by threads (the standards board dead-letters from one agent per topic, each in a thread) on a
real broker: Kafka's refusal of one caller's record must not reach another caller's record in flight. Kafka-python's
idempotent producer fails every record in flight with the refusal it got; the other caller took it for its own,
and its record's dead letter went without the record's content (seen in
tests/standards/test_dead_letters_on_kafka.py, one run in a few)."""

from __future__ import annotations

import threading
import uuid

import pytest
from kafka.admin import NewTopic

from services.common.kafka import KafkaPublisher, RecordRefusedError, make_admin

pytestmark = pytest.mark.integration

ROUNDS = 12


def topics(bootstrap: str) -> tuple[str, str]:
    """A topic taking records of at most 64 bytes, and an ordinary one."""
    tiny, ordinary = (f"test.shared.{name}.{uuid.uuid4().hex[:8]}.v1" for name in ("tiny", "ordinary"))
    admin = make_admin(bootstrap, "test-shared")
    try:
        admin.create_topics([NewTopic(tiny, 1, 1, topic_configs={"max.message.bytes": "64"}), NewTopic(ordinary, 1, 1)])
    finally:
        admin.close()
    return tiny, ordinary


def test_a_record_refused_to_one_caller_is_not_refused_to_another_sharing_the_publisher(kafka_bootstrap: str) -> None:
    tiny, ordinary = topics(kafka_bootstrap)
    publisher = KafkaPublisher(kafka_bootstrap, "test-shared")
    start = threading.Barrier(2)
    refused: dict[str, list[str]] = {"large": [], "small": []}

    def send(name: str, topic: str, value: bytes) -> None:
        for _ in range(ROUNDS):
            start.wait(timeout=30)
            try:
                publisher.send_raw(topic, b"k", value, [])
            except RecordRefusedError as error:
                refused[name].append(error.reason)

    threads = [
        threading.Thread(target=send, args=("large", tiny, b"x" * 500)),
        threading.Thread(target=send, args=("small", ordinary, b"v")),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        publisher.close()
    assert len(refused["large"]) == ROUNDS, "the broker refuses every record too large for its topic"
    assert refused["small"] == [], "a small record is never refused for another caller's"
