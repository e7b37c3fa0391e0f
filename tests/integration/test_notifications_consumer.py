"""The notifications consumer on a real broker: redelivery has one effect, poison goes to the .dlq (its reason showing
nothing the producer wrote), then the next."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from services.common.consumer import DeadLetterSink, RecordProcessor, TrackingConsumer
from services.common.envelope import CloudEvent
from services.common.eventstore import persistence_env
from services.common.kafka import KafkaPublisher, Outgoing
from services.contract import topics
from services.notifications import inbound
from services.notifications.application import Notifications
from services.notifications.domain import Dispatch
from services.notifications.settings import NotificationsSettings
from tests.helpers import read_topic, wait_for

pytestmark = pytest.mark.integration

PERSON = "Jean Tremblay NAM TREJ12345678"


def referral_event(referral_id: str, to_org: str) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()),
        source="/rls/referral",
        type="ca.qc.rls.referral.submitted.v1",
        time=datetime.now(UTC),
        subject=referral_id,
        data={"referral_id": referral_id, "from_org": "org-sender", "to_org": to_org},
    )


def routed(app: Notifications) -> list[str]:
    """The upstream event ids the application routed, one per Dispatch (the topic is shared with other tests)."""
    notifications = app.recorder.select_notifications(start=0, limit=100_000, inclusive_of_start=False)
    events = (app.mapper.to_domain_event(n) for n in notifications)
    return [e.cloud_event["id"] for e in events if isinstance(e, Dispatch.Routed)]


def run_consumer(app: Notifications, bootstrap: str, group: str, until: Callable[[list[str]], bool]) -> list[str]:
    """Runs the service's consumer until `until(outcomes)` holds; returns the outcome of every record."""
    settings = NotificationsSettings(kafka_bootstrap_servers=bootstrap, consumer_group=group)
    publisher = KafkaPublisher(bootstrap, "test-dlq")
    stop = threading.Event()
    processor = RecordProcessor(app, inbound.handler(app), DeadLetterSink(publisher.send_raw), group, inbound.DECLARED)
    consumer = TrackingConsumer(settings.kafka_access, group, [topics.REFERRAL], processor)
    outcomes: list[str] = []
    process = consumer.processor.process
    consumer.processor.process = lambda record: outcomes.append(process(record)) or outcomes[-1]  # type: ignore[method-assign]
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: until(outcomes), timeout=60)
    finally:
        stop.set()
        thread.join(20)
        publisher.close()
    return outcomes


def test_redelivered_and_poison_records(
    kafka_bootstrap: str, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = KafkaPublisher(kafka_bootstrap, "test-producer")
    referral_id = str(uuid.uuid4())
    to_org = "org-" + uuid.uuid4().hex[:8]
    good = referral_event(referral_id, to_org)
    after = referral_event(str(uuid.uuid4()), to_org)
    # an attribute named by a person's name (before `good`, on its partition), the same event twice (a relay
    # re-send), a poison record, then a good one
    named_id = f"named-{uuid.uuid4()}".encode()
    named_headers, named_value = referral_event(referral_id, to_org).to_kafka()
    named_headers = [(n, named_id if n == "ce_id" else v) for n, v in named_headers] + [(f"ce_{PERSON}", b"x")]
    publisher.send_raw(topics.REFERRAL, referral_id.encode(), named_value, named_headers)
    publisher.publish([Outgoing(topics.REFERRAL, referral_id, good), Outgoing(topics.REFERRAL, referral_id, good)])
    poison_id = f"poison-{uuid.uuid4()}".encode()
    publisher.send_raw(topics.REFERRAL, referral_id.encode(), b'{"broken": ', [("ce_id", poison_id)])
    publisher.publish([Outgoing(topics.REFERRAL, after.subject or "", after)])
    publisher.close()

    store = persistence_env(f"sqlite:///{tmp_path}/notifications.db")
    app = Notifications(env=store)
    ours = {good.id, after.id}
    with caplog.at_level(logging.WARNING, logger="services.common.consumer"):
        first = run_consumer(app, kafka_bootstrap, "g-" + uuid.uuid4().hex, until=lambda _: ours <= set(routed(app)))
    assert "dead-lettered" in first
    assert sorted(i for i in routed(app) if i in ours) == sorted(ours)  # the duplicate copy had no effect

    # a new consumer (another group: Kafka would redeliver from offset 0) resumes from the tracked positions
    positions_before = len(routed(app))
    started = time.monotonic()
    again = run_consumer(app, kafka_bootstrap, "g-" + uuid.uuid4().hex, until=lambda _: time.monotonic() > started + 5)
    assert "applied" not in again
    assert "dead-lettered" not in again
    assert len(routed(app)) == positions_before
    app.close()

    dead = [
        record
        for record, _ in read_topic(kafka_bootstrap, topics.REFERRAL + ".dlq")
        if dict(record.headers).get("ce_id") == poison_id
    ]
    assert dead, "the poison record is on the dead-letter topic"
    assert dict(dead[0].headers)["dlq_reason"].startswith(b"record value is not JSON")
    assert dead[0].value == b'{"broken": '

    named = [
        r  # the topic is the test broker's: other tests' dead letters may have no `ce_id`
        for r, _ in read_topic(kafka_bootstrap, topics.REFERRAL + ".dlq")
        if dict(r.headers).get("ce_id") == named_id
    ]
    assert dict(named[0].headers)["dlq_reason"] == b"invalid CloudEvent attributes: <key>"
    assert any(r.getMessage().endswith("dead-lettered: invalid CloudEvent attributes: <key>") for r in caplog.records)
    assert "Tremblay" not in caplog.text
