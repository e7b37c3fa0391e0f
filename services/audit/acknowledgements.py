"""Retired store ids acknowledged by network auditors: as the API lists them, a projection
(`services.common.projections`) of the `StoreAcknowledgement` events, in the order they were made; as verification
takes them, those events themselves, each vouched for by its seal.

`integrity_acknowledgements` holds each acknowledgement once (they are never changed nor deleted), its content
encoded like the store's events (the reason is free text: encrypted at rest when the store is). Nothing seals that
table: a row written into it around the application would clear a finding, so verification never reads it. It
reads the `Made` events from the store's events table and keeps those whose seal vouches for them
(`Acknowledgements.sealed`), with the coverage they hold; one edited after it was sealed covers nothing (and is an
`altered` finding of the audit store). An event appended around the application is sealed by its next write, like
any unsealed tail: the store's encryption (a key, not only the database) is what keeps one from being forged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from services.audit.domain import StoreAcknowledgement
from services.common.integrity.hashing import FIRST_VERSION, ZERO, StoredRow, aggregate_hash, canonical_id
from services.common.integrity.sealing import SealedStore
from services.common.projections import Database, Projection, Projector, StateCodec, Tx


@dataclass(frozen=True)
class AcknowledgementEntry:
    """One acknowledged retired store id: which, who said so, when and why, and the checkpoints it covers."""

    acknowledgement_id: str
    application: str
    store_id: str
    reason: str
    auditor: str
    org: str
    at: datetime
    checkpoints: int
    up_to_event: int

    @classmethod
    def of(cls, acknowledgement: StoreAcknowledgement | StoreAcknowledgement.Made) -> AcknowledgementEntry:
        """The acknowledgement an aggregate, or the event that made it, records."""
        fields = {name: getattr(acknowledgement, name) for name in ENTRY_FIELDS}
        identifier = (
            acknowledgement.originator_id
            if isinstance(acknowledgement, StoreAcknowledgement.Made)
            else acknowledgement.id
        )
        return cls(acknowledgement_id=str(identifier), **fields)


ENTRY_FIELDS = ("application", "store_id", "reason", "auditor", "org", "at", "checkpoints", "up_to_event")


class AcknowledgementsView(Projection):
    """Each acknowledgement, by its position in the store's log."""

    name = "integrity_acknowledgements"
    tables = ("integrity_acknowledgements",)
    version = "1"
    topics = frozenset({get_topic(StoreAcknowledgement.Made)})

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE integrity_acknowledgements (acknowledgement_id TEXT PRIMARY KEY,
                position BIGINT NOT NULL UNIQUE, state {db.blob} NOT NULL)"""
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        for position, e in events:
            state = {name: getattr(e, name) for name in ENTRY_FIELDS}
            tx.execute(
                "INSERT INTO integrity_acknowledgements (acknowledgement_id, position, state) VALUES (?, ?, ?) "
                "ON CONFLICT (acknowledgement_id) DO NOTHING",
                (str(e.originator_id), position, self.codec.encode(state)),
            )


class Acknowledgements:
    """Every acknowledgement (a handful: one per store ever retired), each read first applying what was recorded
    since."""

    def __init__(self, projector: Projector, codec: StateCodec) -> None:
        self.projector = projector
        self.codec = codec

    def all(self) -> list[AcknowledgementEntry]:
        """As the read model holds them (what the API lists)."""
        rows = self.projector.read("SELECT acknowledgement_id, state FROM integrity_acknowledgements ORDER BY position")
        return [AcknowledgementEntry(acknowledgement_id=id_, **self.codec.decode(state)) for id_, state in rows]

    def sealed(self) -> list[AcknowledgementEntry]:
        """As the store's own events record them (what verification takes): each `Made` event read from the events
        table, kept when its seal vouches for it (`vouched_for`); none when the store is not sealed (in memory)."""
        app = self.projector.app
        store = app.recorder
        if not isinstance(store, SealedStore):
            return []
        events = (app.mapper.to_domain_event(n) for n in self.projector.stored_events() if vouched_for(store, n))
        return [
            AcknowledgementEntry.of(e) for e in events if isinstance(e, StoreAcknowledgement.Made) and _derived_id(e)
        ]


def vouched_for(store: SealedStore, notification: Notification) -> bool:
    """Whether an acknowledgement's event stands as it was recorded: its seal is at its notification id, names it,
    and hashes its bytes as the first (and only) event of its aggregate. An event without a seal, or whose bytes
    differ from it, was written around the application: no acknowledgement (and a finding of the audit store)."""
    row = StoredRow(
        notification.id,
        canonical_id(notification.originator_id),
        notification.originator_version,
        notification.topic,
        bytes(notification.state),
    )
    seal = next(iter(store.read_seals(row.notification_id - 1, 1)), None)
    body = row.body_hash
    return (
        seal is not None
        and seal.notification_id == row.notification_id
        and (seal.originator_id, seal.originator_version) == (row.originator_id, FIRST_VERSION)
        and row.originator_version == FIRST_VERSION
        and seal.body_hash == body.hex()
        and seal.aggregate_hash == aggregate_hash(ZERO, FIRST_VERSION, body).hex()
    )


def _derived_id(made: StoreAcknowledgement.Made) -> bool:
    """An acknowledgement's id derives from its application and store id: one per store id, and an event cannot be
    read as covering another store id than the one it was made for."""
    return made.originator_id == StoreAcknowledgement.create_id(made.application, made.store_id)
