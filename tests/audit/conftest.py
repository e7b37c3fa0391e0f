"""Audit test helpers: audit settings isolated per test, the services' own outbox mappings turned into history.

Organisations, people and records are synthetic; subject ids are pseudonymous test codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from services.audit.inbound import row_of
from services.audit.settings import AuditSettings
from services.audit.views import HistoryDB, HistoryRow, Rejected
from services.common.eventstore import TrackedApplication
from services.common.kafka import KafkaPublisher, Outgoing
from services.common.relay import Mapper, OutboxRelay

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def audit_settings(service_settings: Callable[..., Any], tmp_path: Path) -> Callable[..., AuditSettings]:
    """`audit_settings(**overrides)` → settings with the audit trail and the audit database under tmp_path."""

    def make(**overrides: Any) -> AuditSettings:
        values: dict[str, Any] = {
            "event_store": f"sqlite:///{tmp_path / 'audit.db'}",
            "database": f"sqlite:///{tmp_path / 'audit-history.db'}",
        }
        values.update(overrides)
        settings: AuditSettings = service_settings(AuditSettings, **values)
        return settings

    return make


def stored_messages(app: TrackedApplication, mapper: Mapper) -> list[Outgoing]:
    """What the service's relay would publish for everything in its store, in order."""
    notifications = app.recorder.select_notifications(start=0, limit=1_000_000, inclusive_of_start=False)
    return [m for n in notifications for m in mapper(app.mapper.to_domain_event(n))]


def rows_of(messages: Iterable[Outgoing]) -> list[HistoryRow]:
    rows = []
    for message in messages:
        headers, value = message.event.to_kafka()
        row = row_of(message.topic, None, None, None, headers, value)
        assert not isinstance(row, Rejected), row
        rows.append(row)
    return rows


def ingest(history: HistoryDB, messages: Iterable[Outgoing]) -> None:
    history.ingest(rows_of(messages))


class PrefixedPublisher:
    """Publishes to `<prefix><topic>`: each test gets topics of its own on the shared broker."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.inner = KafkaPublisher(bootstrap, f"audit-tests-{uuid.uuid4().hex[:6]}")

    def publish(self, messages: Sequence[Outgoing]) -> None:
        self.inner.publish([Outgoing(self.prefix + m.topic, m.key, m.event) for m in messages])

    def close(self) -> None:
        self.inner.close()


def relay_everything(app: TrackedApplication, mapper: Mapper, publisher: PrefixedPublisher) -> None:
    """Runs the service's outbox relay (its real mapping) until the store is fully published."""
    relay = OutboxRelay(app, mapper, publisher, name=f"audit-test-relay-{uuid.uuid4().hex[:6]}")
    while relay.run_once():
        pass


def relay_to_fresh_topics(kafka_bootstrap: str, outboxes: Iterable[tuple[TrackedApplication, Mapper]]) -> str:
    """Publishes every outbox on topics of its own (a fresh prefix, returned), so replays see only this test's."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    publisher = PrefixedPublisher(kafka_bootstrap, prefix)
    try:
        for app, mapper in outboxes:
            relay_everything(app, mapper, publisher)
    finally:
        publisher.close()
    return prefix
