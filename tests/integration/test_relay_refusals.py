"""A stored event Kafka will never take (larger than the producer or the topic accepts) on a real broker: the relay
dead-letters it, with its id and the reason, and publishes every other event; retried, it held back every later event
of the store for ever."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from kafka.admin import NewTopic

from services.common.envelope import CloudEvent, event_id
from services.common.kafka import KafkaPublisher, Outgoing, RecordRefusedError, dlq_topic, make_admin
from services.common.relay import OutboxRelay
from tests.helpers import read_topic
from tests.unit.test_relay import Counter, Counters

pytestmark = pytest.mark.integration

TOPIC_LIMIT = 20_000
"""The topic's `max.message.bytes`: the broker refuses a larger record."""
PADDING = {2: 30_000, 4: 2 * 1024 * 1024}
"""Data sizes by event version: the 2nd is over the topic's limit (the broker refuses it), the 4th over the
producer's `max_request_size` (1 MiB: the producer refuses it before sending)."""


def topic_with_limit(bootstrap: str) -> str:
    topic = f"test.refusals.{uuid.uuid4().hex[:8]}.v1"
    admin = make_admin(bootstrap, "test-refusals")
    try:
        admin.create_topics(
            [
                NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": str(TOPIC_LIMIT)}),
                NewTopic(dlq_topic(topic), 1, 1),
            ]
        )
    finally:
        admin.close()
    return topic


def mapper_to(topic: str) -> Any:
    def to_messages(domain_event: Any) -> Sequence[Outgoing]:
        version = domain_event.originator_version
        event = CloudEvent(
            id=event_id(domain_event.originator_id, version),
            source="/test",
            type="ca.qc.rls.test.changed.v1",
            time=domain_event.timestamp,
            subject=str(domain_event.originator_id),
            data={"version": version, "padding": "x" * PADDING.get(version, 10)},
        )
        return [Outgoing(topic, str(domain_event.originator_id), event)]

    return to_messages


def test_the_publisher_names_the_record_kafka_refuses_after_the_ones_before_it_are_acknowledged(
    kafka_bootstrap: str,
) -> None:
    topic = topic_with_limit(kafka_bootstrap)
    counter = Counter()
    for _ in range(4):
        counter.increment()
    events = counter.collect_events()
    messages = [m for e in events for m in mapper_to(topic)(e)]
    publisher = KafkaPublisher(kafka_bootstrap, "test-refusals")
    try:
        for refused_at in (1, 3):  # the broker's refusal, then the producer's
            with pytest.raises(RecordRefusedError) as refused:
                publisher.publish(messages[refused_at - 1 : refused_at + 1])
            assert (refused.value.index, refused.value.reason) == (1, "MessageSizeTooLargeError")
    finally:
        publisher.close()
    published = [e.data["version"] for _, e in read_topic(kafka_bootstrap, topic) if e]
    assert list(dict.fromkeys(published)) == [1, 3]  # some twice (the same ids): at least once, in order


def test_the_relay_dead_letters_what_kafka_refuses_and_publishes_the_rest(kafka_bootstrap: str) -> None:
    topic = topic_with_limit(kafka_bootstrap)
    app = Counters(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    counter = Counter()
    for _ in range(5):
        counter.increment()
    app.save(counter)
    publisher = KafkaPublisher(kafka_bootstrap, "test-refusals")
    relay = OutboxRelay(app, mapper_to(topic), publisher, name="refusals")
    try:
        assert relay.run_once() == 6
    finally:
        publisher.close()
    assert relay.position == 6
    published = [e.data["version"] for _, e in read_topic(kafka_bootstrap, topic) if e]
    assert list(dict.fromkeys(published)) == [1, 3, 5, 6]
    dead = read_topic(kafka_bootstrap, dlq_topic(topic))
    assert [dict(record.headers)["ce_id"].decode() for record, _ in dead] == [
        str(event_id(counter.id, version)) for version in (2, 4)
    ]
    for record, _ in dead:
        headers = dict(record.headers)
        assert record.value is None and record.key == str(counter.id).encode()
        assert (headers["dlq_reason"], headers["dlq_topic"]) == (b"MessageSizeTooLargeError", topic.encode())
