"""Retired store ids acknowledged by network auditors, as verification and the API read them: a projection
(`services.common.projections`) of the `StoreAcknowledgement` events, in the order they were made.

`integrity_acknowledgements` holds each acknowledgement once (they are never changed nor deleted), its content
encoded like the store's events (the reason is free text: encrypted at rest when the store is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from services.audit.domain import StoreAcknowledgement
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
    def of(cls, acknowledgement: StoreAcknowledgement) -> AcknowledgementEntry:
        fields = {name: getattr(acknowledgement, name) for name in ENTRY_FIELDS}
        return cls(acknowledgement_id=str(acknowledgement.id), **fields)


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
        rows = self.projector.read("SELECT acknowledgement_id, state FROM integrity_acknowledgements ORDER BY position")
        return [AcknowledgementEntry(acknowledgement_id=id_, **self.codec.decode(state)) for id_, state in rows]
