"""The seals' hashes: what a stored event, its aggregate's line and the store's chain hash to.

    body      = H(originator id, topic, stored state bytes)        the event itself, wherever it stands
    aggregate = H(previous aggregate seal of this aggregate, version, body)
    chain     = H(previous chain seal of this store, notification id, aggregate)

Hashes cover the stored bytes only (no decoding, no keys).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

SEAL_FORMAT = b"rls-seal-v1"
ZERO = bytes(32)
_BODY, _AGGREGATE, _CHAIN = SEAL_FORMAT + b"/body", SEAL_FORMAT + b"/aggregate", SEAL_FORMAT + b"/chain"

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
    return _body_hash(_part(originator_id.encode()), _part(topic.encode()), state)


def _body_hash(originator_id: bytes, topic: bytes, state: bytes) -> bytes:
    """`body_hash` of an originator id and a topic given as their parts (a write's events share a few topics)."""
    return hashlib.sha256(_BODY + originator_id + topic + _part(state)).digest()


def aggregate_hash(previous: bytes, version: int, body: bytes) -> bytes:
    return hashlib.sha256(_AGGREGATE + previous + version.to_bytes(8, "big") + body).digest()


def chain_hash(previous: bytes, notification_id: int, aggregate: bytes) -> bytes:
    return hashlib.sha256(_CHAIN + previous + notification_id.to_bytes(8, "big") + aggregate).digest()


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


class Seal(NamedTuple):
    """The hashes recorded with one stored event (hex), in the seals table's column order (a write sends its seals'
    columns as they are: a thousand made in a tick)."""

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


class Lined(NamedTuple):
    """An event's place in its aggregate's line: its seal but for the store's chain, which needs its notification id
    (known once the store has numbered it)."""

    originator_id: str
    originator_version: int
    body: bytes
    aggregate: bytes


EventBytes = tuple[str, int, str, bytes]
"""An event to seal as stored: canonical originator id, version, topic, state."""


def line_events(
    events: Iterable[EventBytes], previous_aggregate: Callable[[str], bytes], aggregates: dict[str, bytes] | None = None
) -> list[Lined]:
    """Each event's body and aggregate hashes, in order (`previous_aggregate` is asked only about aggregates already
    sealed before: not about one whose first event is in `events`). `aggregates`: each aggregate's hash at its last
    event lined before these (a write lined a part at a time), updated with these."""
    lined = []
    aggregates = {} if aggregates is None else aggregates
    topics: dict[str, bytes] = {}
    for originator_id, version, topic, state in events:
        previous = aggregates.get(originator_id)
        if previous is None:
            previous = ZERO if version == FIRST_VERSION else previous_aggregate(originator_id)
        topic_part = topics.get(topic)
        if topic_part is None:
            topic_part = topics[topic] = _part(topic.encode())
        body = _body_hash(_part(originator_id.encode()), topic_part, state)
        aggregates[originator_id] = aggregate = aggregate_hash(previous, version, body)
        lined.append(Lined(originator_id, version, body, aggregate))
    return lined


def chain_lines(lined: Sequence[Lined], ids: Sequence[int], previous_chain: bytes) -> list[Seal]:
    """The seals of lined events stored at `ids` (in notification order), following a chain head."""
    seals = []
    chain = previous_chain
    for line, notification_id in zip(lined, ids, strict=True):
        chain = chain_hash(chain, notification_id, line.aggregate)
        seals.append(
            Seal(
                notification_id,
                line.originator_id,
                line.originator_version,
                line.body.hex(),
                line.aggregate.hex(),
                chain.hex(),
            )
        )
    return seals
