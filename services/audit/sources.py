"""Replay from the services' event stores (`rls audit replay --from-stores`; operator side, never the REST process).

Each store is read through that service's own outbox mapping (the anti-corruption layer its relay runs), given by the
registry with the store (`StoreRef.open_outbox`), so the audit database receives exactly the integration events the
relay publishes, with the same deterministic ids: events already replayed from Kafka are recognised, events not
relayed yet are added. The audit imports none of those services; stores are opened read-only (`CREATE_TABLE` off:
nothing is created or sealed in a store being read).

A store has no Kafka timestamp: on the recorded axis, an event read from it counts from when its service stored it
(`stored_ms`), which is before its relay published it. In a replay from both (the topics first), the copy already
taken from Kafka is kept (the audit database keeps the first copy of an id), with Kafka's time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from services.audit.inbound import Progress, ReplayStats, row_of
from services.audit.views import HistoryDB, HistoryRow, Rejected, utc_text
from services.common.cipher import CIPHER_TOPIC
from services.common.composition import Outbox
from services.common.eventstore import StoreRef, persistence_env

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def stored_ms(event: DomainEventProtocol[Any]) -> int:
    """When the service stored `event`, in epoch milliseconds as a Kafka record's timestamp (rounded down): the
    timestamp the service gave it as it recorded it, just before the commit its relay publishes it after."""
    stored: Any = event  # an aggregate's event: it has a timestamp
    at: datetime = stored.timestamp
    return (at - EPOCH) // MILLISECOND


def _read_only(store: StoreRef) -> dict[str, str]:
    env = {**persistence_env(store.url), "CREATE_TABLE": "false"}
    if store.cipher_key is not None:  # the store is encrypted at rest: decoding its events needs the service's key
        env |= {
            "CIPHER_TOPIC": CIPHER_TOPIC,
            "CIPHER_KEY": store.cipher_key.get_secret_value(),
        }
    return env


@contextmanager
def open_source(store: StoreRef) -> Iterator[Outbox]:
    """The service's application on its store (read-only) and the mapping its relay applies."""
    if store.open_outbox is None:
        raise ValueError(f"{store.service} publishes no history events")
    app, mapper = store.open_outbox(_read_only(store))
    try:
        yield app, mapper
    finally:
        app.close()


def replay_stores(
    stores: Sequence[StoreRef],
    history: HistoryDB,
    until: datetime | None = None,
    progress: Progress | None = None,
    page: int = 1000,
) -> ReplayStats:
    """Maps every stored event of the stores whose events are published history into the audit database."""
    stats = ReplayStats(source="stores")
    started = time.monotonic()
    limit = utc_text(until) if until is not None else None
    with history.writer() as writer:
        for store in [s for s in stores if s.open_outbox is not None]:
            if store.missing:
                stats.skipped.append(store.service)
                continue
            with open_source(store) as (app, mapper):
                if progress is not None:
                    progress.start(app.recorder.max_notification_id() or 0)
                after = 0
                while True:
                    notifications = app.recorder.select_notifications(start=after, limit=page, inclusive_of_start=False)
                    rows: list[HistoryRow] = []
                    rejected: list[Rejected] = []
                    for notification in notifications:
                        event = app.mapper.to_domain_event(notification)
                        recorded = stored_ms(event)
                        for out in mapper(event):
                            headers, value = out.event.to_kafka()
                            row = row_of(out.topic, None, None, recorded, headers, value)
                            stats.read += 1
                            if isinstance(row, Rejected):
                                rejected.append(row)
                            elif limit is not None and row.effective_at > limit:
                                stats.after_until += 1
                            else:
                                rows.append(row)
                    writer.write(rows, rejected)
                    stats.stored += len(rows)
                    stats.rejected += len(rejected)
                    if progress is not None and notifications:
                        progress.advance(notifications[-1].id - after)
                    if len(notifications) < page:
                        break
                    after = notifications[-1].id
    stats.seconds = time.monotonic() - started
    return stats
