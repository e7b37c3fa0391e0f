"""Replay from the services' event stores (`rls audit replay --from-stores`; operator side, never the REST process).

Each store is read through that service's own outbox mapping (the anti-corruption layer its relay runs), given by the
registry with the store (`StoreRef.open_outbox`), so the audit database receives exactly the integration events the
relay publishes, with the same deterministic ids: events already replayed from Kafka are recognised, events not
relayed yet are added. The audit imports none of those services; stores are opened read-only (`CREATE_TABLE` off:
nothing is created or sealed in a store being read).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from services.audit.inbound import Progress, ReplayStats, row_of
from services.audit.views import HistoryDB, HistoryRow, Rejected, utc_text
from services.common.composition import Outbox
from services.common.eventstore import StoreRef, persistence_env


def _read_only(store: StoreRef) -> dict[str, str]:
    env = {**persistence_env(store.url), "CREATE_TABLE": "false"}
    if store.cipher_key is not None:  # the store is encrypted at rest: decoding its events needs the service's key
        env |= {
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
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
                        for out in mapper(app.mapper.to_domain_event(notification)):
                            headers, value = out.event.to_kafka()
                            row = row_of(out.topic, None, None, None, headers, value)
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
