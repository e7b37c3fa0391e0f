"""Replay from the services' event stores (`rls audit replay --from-stores`; operator side, never the REST process).

Each store is read through that service's own outbox mapping (its `contracts` module, the anti-corruption layer its
relay runs), so the audit database receives exactly the integration events the relay publishes, with the same
deterministic ids: events already replayed from Kafka are recognised, events not relayed yet are added. This is the
one place the audit imports other services' code, and only their composition pieces, read-only (`CREATE_TABLE` off:
nothing is created or sealed in a store being read).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from eventsourcing.domain import DomainEventProtocol

from services.audit.history import HistoryDB, HistoryRow, Rejected, utc_text
from services.audit.replay import Progress, ReplayStats, row_of
from services.audit.settings import AuditSettings, StoreRef
from services.common.eventstore import TrackedApplication, persistence_env
from services.common.kafka import Outgoing

Mapper = Callable[[DomainEventProtocol[Any]], Sequence[Outgoing]]


def _read_only(store: StoreRef) -> dict[str, str]:
    env = {**persistence_env(store.url), "CREATE_TABLE": "false"}
    if store.cipher_key is not None:  # the store is encrypted at rest: decoding its events needs the service's key
        env |= {
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
            "CIPHER_KEY": store.cipher_key.get_secret_value(),
        }
    return env


@contextmanager
def open_source(store: StoreRef, settings: AuditSettings) -> Iterator[tuple[TrackedApplication, Mapper]]:
    """The service's application on its store and the mapping its relay applies."""
    app: TrackedApplication
    mapper: Mapper
    if store.service == "referral":
        from services.referral.application import Referrals
        from services.referral.contracts import ReferralContracts

        referrals = Referrals(env=_read_only(store))
        app = referrals
        mapper = ReferralContracts("http://referral.invalid", lambda i, v: referrals.repository.get(i, version=v))
    elif store.service == "agreements":
        from services.agreements.application import Agreements
        from services.agreements.contracts import AgreementsContracts

        agreements = Agreements(env=_read_only(store))
        app = agreements
        mapper = AgreementsContracts(lambda i, v: agreements.repository.get(i, version=v))
    elif store.service == "consent":
        from services.consent.application import Consents
        from services.consent.contracts import consent_messages

        app, mapper = Consents(env=_read_only(store)), consent_messages
    else:
        raise ValueError(f"{store.service} publishes no history events")
    try:
        yield app, mapper
    finally:
        app.close()


HISTORY_SERVICES = ("referral", "agreements", "consent")


def _missing(store: StoreRef) -> bool:
    parsed = urlparse(store.url)
    return parsed.scheme == "sqlite" and not Path(unquote(parsed.path.removeprefix("/"))).exists()


def replay_stores(
    settings: AuditSettings,
    history: HistoryDB,
    until: datetime | None = None,
    progress: Progress | None = None,
    page: int = 1000,
) -> ReplayStats:
    """Maps every stored event of the referral, agreements and consent stores into the audit database."""
    stats = ReplayStats(source="stores")
    started = time.monotonic()
    limit = utc_text(until) if until is not None else None
    stores = [s for s in settings.stores() if s.service in HISTORY_SERVICES]
    with history.writer() as writer:
        for store in stores:
            if _missing(store):
                stats.skipped.append(store.service)
                continue
            with open_source(store, settings) as (app, mapper):
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
