"""Poison records whose dead letter kafka-python cannot send as it is, on a real broker and the service's own consumer
loop: a header without value, a record with neither key nor value (Java and librdkafka producers write both), a
record too large for its dead letter. Each is dead-lettered with what can be carried, and the next record processed
(before, the first two crashed the loop at every restart and stopped their partition for ever)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import Tracking

from services.common.consumer import CONTENT_DROPPED, DeadLetterSink, RecordProcessor, TrackingConsumer
from services.common.envelope import CloudEvent
from services.common.eventstore import TrackedApplication
from services.common.kafka import NULL_HEADERS, NULL_VALUE, KafkaPublisher, dlq_topic, ensure_topics, make_admin
from tests.helpers import produce_raw, read_topic, wait_for

pytestmark = pytest.mark.integration


class Seen(TrackedApplication):
    name = "seen"


def test_records_kafka_python_cannot_dead_letter_as_they_are_go_to_the_dlq_and_the_next_is_processed(
    kafka_bootstrap: str,
) -> None:
    topic = f"rls.unsendable-{uuid.uuid4().hex[:8]}.v1"
    admin = make_admin(kafka_bootstrap, "test-unsendable")
    try:
        ensure_topics(admin, [topic], partitions=1)
    finally:
        admin.close()
    good = CloudEvent(
        id=str(uuid.uuid4()), source="/test", type="ca.qc.rls.test.added.v1", time=datetime.now(UTC), data={}
    )
    headers, value = good.to_kafka()
    large = b"x" * 1_048_400  # the broker takes it (1 MiB + 12 bytes), not its dead letter (kafka-python: 1 MiB)
    produce_raw(
        kafka_bootstrap,
        topic,
        [
            (b"k", value, [("ce_id", None), *headers[1:]]),
            (None, None, list(headers)),
            (b"k", large, []),
            (b"k", value, list(headers)),
        ],
    )

    app = Seen(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    seen: list[str] = []
    publisher = KafkaPublisher(kafka_bootstrap, "test-unsendable-dlq")
    group = f"test-unsendable-{uuid.uuid4().hex[:8]}"
    processor = RecordProcessor(
        app=app,
        handler=lambda event, _: seen.append(event.id),
        dead_letters=DeadLetterSink(publisher.send_raw),
        group=group,
        declared=frozenset(),
        retry_sleep=0,
    )
    consumer = TrackingConsumer(kafka_bootstrap, group, [topic], processor)
    outcomes: list[str] = []
    process = processor.process
    processor.process = lambda record: outcomes.append(process(record)) or outcomes[-1]  # type: ignore[method-assign]
    stop, crashed = threading.Event(), []

    def run() -> None:
        try:
            consumer.run(stop)
        except BaseException as error:  # what the loop crashed with is the finding
            crashed.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(outcomes) == 4 or crashed, timeout=60)
    finally:
        stop.set()
        thread.join(20)
        publisher.close()

    assert crashed == []
    assert outcomes == ["dead-lettered", "dead-lettered", "dead-lettered", "applied"]
    assert seen == [good.id]
    assert all(app.has_processed(Tracking(f"{topic}#0", n)) for n in (1, 2, 3, 4))
    letters = sorted((r for r, _ in read_topic(kafka_bootstrap, dlq_topic(topic))), key=lambda r: int(
        dict(r.headers)["dlq_offset"]
    ))  # fmt: skip
    assert len(letters) == 3
    null_header, no_key_no_value, too_large = letters
    assert (null_header.key, null_header.value) == (b"k", value)
    assert null_header.headers[0] == ("ce_id", b"")
    assert json.loads(dict(null_header.headers)[NULL_HEADERS]) == ["ce_id"]
    assert (no_key_no_value.key, no_key_no_value.value) == (None, b"")
    assert dict(no_key_no_value.headers)[NULL_VALUE] == b"true"
    assert dict(no_key_no_value.headers)["ce_id"] == good.id.encode()
    assert (too_large.key, too_large.value) == (None, b"")
    assert dict(too_large.headers)[CONTENT_DROPPED] == b"MessageSizeTooLargeError"
    assert dict(too_large.headers)["dlq_reason"] == b"record value is not JSON (JSONDecodeError)"
    assert processor.dead_lettered == {topic: 3} and processor.dead_letters_refused == {}
