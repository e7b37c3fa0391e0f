"""A stored event its mapping cannot turn into an integration event, on a real broker: the relay dead-letters it on
the twin of its topic, with its id and the reason and none of its content, and publishes every later event; retried,
it held back every later event of the store for ever (agreements: a terminated agreement stayed ACTIVE for the
consent service)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from services.agreements.application import Agreements
from services.agreements.main import outbox
from services.agreements.terms import Volume
from services.common.clock import ManualClock
from services.common.envelope import event_id
from services.common.eventstore import persistence_env
from services.common.kafka import KafkaPublisher, Outgoing, dlq_topic
from services.common.relay import OutboxRelay
from tests.agreements.conftest import CSSS, NOW, REGIONAL, actor, register_network, service_terms
from tests.helpers import read_topic

pytestmark = pytest.mark.integration


def test_the_relay_dead_letters_an_event_it_cannot_map_and_publishes_the_later_ones(kafka_bootstrap: str) -> None:
    topic = f"test.poison.{uuid.uuid4().hex[:8]}.v1"
    app = Agreements(env=persistence_env("memory://"), clock=ManualClock(NOW))
    register_network(app)
    poisoned, _ = app.draft(service_terms(), actor(CSSS))
    # terms no contract takes: a volume of a service code the contract does not know (a null title, recorded by
    # `/amend` before required terms were checked, now reads as not amended: tests/agreements/test_stored_nulls.py)
    poisoned.amend(poisoned.terms.replace(volumes=(Volume("NOT_A_SERVICE", 10),)), "coordinator-of-csss-a", CSSS, NOW)
    app.save(poisoned)
    later, _ = app.draft(service_terms(), actor(CSSS))
    app.terminate(later.id, "ended", actor(REGIONAL))
    mapper = outbox(app)

    def to_test_topic(domain_event: Any) -> Sequence[Outgoing]:
        return [replace(m, topic=topic) for m in mapper(domain_event)]

    publisher = KafkaPublisher(kafka_bootstrap, "test-poison")
    relay = OutboxRelay(app, to_test_topic, publisher, name="poison", dead_letter_topic=topic)
    try:
        while relay.run_once():
            pass
    finally:
        publisher.close()
    assert relay.position == app.recorder.max_notification_id()
    published = [(e.subject, e.type.split(".")[-2]) for _, e in read_topic(kafka_bootstrap, topic) if e]
    assert (str(later.id), "terminated") in published
    assert (str(poisoned.id), "amended") not in published
    [(record, _)] = read_topic(kafka_bootstrap, dlq_topic(topic))
    headers = dict(record.headers)
    assert record.value is None and record.key == str(poisoned.id).encode()
    assert headers["ce_id"].decode() == event_id(poisoned.id, 2)
    assert headers["ce_type"].decode().endswith("Agreement.Amended")
    assert headers["dlq_reason"] == b"not mapped: VolumeV1 invalid data: service (enum)"
    assert headers["dlq_topic"] == topic.encode()
    assert relay.dead_lettered["unmappable"] == 1
