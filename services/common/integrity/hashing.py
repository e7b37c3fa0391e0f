"""The seals' hashes: what a stored event, its aggregate's line and the store's chain hash to.

    body      = H(originator id, topic, stored state bytes)        the event itself, wherever it stands
    aggregate = H(previous aggregate seal of this aggregate, version, body)
    chain     = H(previous chain seal of this store, notification id, aggregate)

Hashes cover the stored bytes only (no decoding, no keys).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SEAL_FORMAT = b"rls-seal-v1"
ZERO = bytes(32)

FIRST_VERSION = 1
"""An aggregate's first event (eventsourcing starts at 1) follows nothing: its previous aggregate hash is `ZERO`."""


def _part(value: bytes) -> bytes:
    return len(value).to_bytes(8, "big") + value


def canonical_id(value: object) -> str:
    """An originator id as text, the same whichever store holds it (SQLite keeps UUIDs as hex, PostgreSQL as uuid)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    text = str(value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def body_hash(originator_id: str, topic: str, state: bytes) -> bytes:
    """The event itself, independent of where it stands (so a moved event is recognised)."""
    return hashlib.sha256(
        SEAL_FORMAT + b"/body" + _part(originator_id.encode()) + _part(topic.encode()) + _part(state)
    ).digest()


def aggregate_hash(previous: bytes, version: int, body: bytes) -> bytes:
    return hashlib.sha256(SEAL_FORMAT + b"/aggregate" + previous + version.to_bytes(8, "big") + body).digest()


def chain_hash(previous: bytes, notification_id: int, aggregate: bytes) -> bytes:
    return hashlib.sha256(SEAL_FORMAT + b"/chain" + previous + notification_id.to_bytes(8, "big") + aggregate).digest()


def genesis(store_id: str) -> bytes:
    """Where a store's chain starts: a replaced store (new id) cannot take over an old store's checkpoints."""
    return hashlib.sha256(SEAL_FORMAT + b"/genesis" + store_id.encode()).digest()


@dataclass(frozen=True)
class StoredRow:
    """One stored event as the database holds it."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    @property
    def body_hash(self) -> bytes:
        return body_hash(self.originator_id, self.topic, self.state)


@dataclass(frozen=True)
class Seal:
    """The hashes recorded with one stored event (hex)."""

    notification_id: int
    originator_id: str
    originator_version: int
    body_hash: str
    aggregate_hash: str
    chain_hash: str


@dataclass(frozen=True)
class Head:
    """The last seal of a store: what a checkpoint publishes."""

    store_id: str
    notification_id: int
    chain_hash: str
    sealed: int


def seal_rows(
    rows: Iterable[StoredRow], previous_chain: bytes, previous_aggregate: Callable[[str], bytes]
) -> list[Seal]:
    """Seals rows that follow a chain head, in notification order (`previous_aggregate` is asked only about
    aggregates already sealed before: not about one whose first event is in `rows`)."""
    seals = []
    aggregates: dict[str, bytes] = {}
    chain = previous_chain
    for row in rows:
        if row.originator_id not in aggregates:
            first = row.originator_version == FIRST_VERSION
            aggregates[row.originator_id] = ZERO if first else previous_aggregate(row.originator_id)
        body = row.body_hash
        aggregate = aggregate_hash(aggregates[row.originator_id], row.originator_version, body)
        chain = chain_hash(chain, row.notification_id, aggregate)
        aggregates[row.originator_id] = aggregate
        seals.append(
            Seal(
                row.notification_id,
                row.originator_id,
                row.originator_version,
                body.hex(),
                aggregate.hex(),
                chain.hex(),
            )
        )
    return seals
