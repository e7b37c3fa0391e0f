"""Tamper evidence for every service's event store: sealed, chained event hashes and published checkpoints.

Each stored event gets a *seal*, written by the recorder in the same transaction as the event:

    body      = H(originator id, topic, stored state bytes)        the event itself, wherever it stands
    aggregate = H(previous aggregate seal of this aggregate, version, body)
    chain     = H(previous chain seal of this store, notification id, aggregate)

The seals live beside the events (`integrity_seals` in SQLite, `<application>_seals` in PostgreSQL), with a random
store id that starts the chain. Whoever can write the database could recompute them, so `CheckpointPublisher`
periodically publishes the chain head on a Kafka topic: a store rewritten and re-sealed no longer matches the
checkpoints published before the rewrite.

Hashes cover the stored bytes only (no decoding, no keys). Erasing a person's record information deletes their key
in the referral vault, a separate store, and changes no stored event: every seal still verifies afterwards.

`verify` recomputes everything from the rows and names the first altered, removed, reordered or inserted event.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from psycopg.sql import SQL, Composed, Identifier

from services.common.clock import Clock, system_clock
from services.common.envelope import CloudEvent, derived_id, schema_uri
from services.common.kafka import Outgoing, make_admin
from services.common.kafka_security import Brokers

log = logging.getLogger(__name__)

SEAL_FORMAT = b"rls-seal-v1"
ZERO = bytes(32)
CHECKPOINT_TYPE = "ca.qc.rls.audit.checkpoint.v1"
DEFAULT_CHECKPOINT_TOPIC = "rls.audit.checkpoints.v1"
"""The same name as `services.contract.topics.AUDIT_CHECKPOINTS` (the kernel does not import the contract)."""

RECORDER_TOPICS = {
    "eventsourcing.sqlite": "services.common.integrity:SealingSQLiteProcessRecorder",
    "eventsourcing.postgres": "services.common.integrity:SealingPostgresProcessRecorder",
}
"""Persistence module -> the sealing process recorder used for it (in-memory stores are not sealed)."""


# --- hashes -------------------------------------------------------------------------------------------------------


def _part(value: bytes) -> bytes:
    return len(value).to_bytes(8, "big") + value


def canonical_id(value: object) -> str:
    """An originator id as text, the same whichever store holds it (SQLite keeps UUIDs as hex, PostgreSQL as uuid)."""
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


# --- values -------------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Checkpoint:
    """A published chain head (from the checkpoint topic)."""

    store_id: str
    notification_id: int
    chain_hash: str
    published_at: datetime | None = None
    application: str = ""


def seal_rows(
    rows: Iterable[StoredRow], previous_chain: bytes, previous_aggregate: Callable[[str], bytes]
) -> list[Seal]:
    """Seals rows that follow a chain head, in notification order."""
    seals = []
    aggregates: dict[str, bytes] = {}
    chain = previous_chain
    for row in rows:
        if row.originator_id not in aggregates:
            aggregates[row.originator_id] = previous_aggregate(row.originator_id)
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


# --- sealing recorders --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Statements:
    create: Sequence[str | Composed]
    lock: str | Composed | None
    store_id: str | Composed
    insert_store_id: str | Composed
    head: str | Composed
    count: str | Composed
    aggregate_head: str | Composed
    events_after: str | Composed
    insert_seal: str | Composed
    seals_after: str | Composed


def _sqlite_statements(events: str) -> _Statements:
    return _Statements(
        create=[
            "CREATE TABLE IF NOT EXISTS integrity_seals (notification_id INTEGER PRIMARY KEY, originator_id TEXT NOT "
            "NULL, originator_version INTEGER NOT NULL, body_hash TEXT NOT NULL, aggregate_hash TEXT NOT NULL, "
            "chain_hash TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS integrity_seals_aggregate ON integrity_seals (originator_id, "
            "originator_version)",
            "CREATE TABLE IF NOT EXISTS integrity_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ],
        lock=None,
        store_id="SELECT value FROM integrity_meta WHERE key = 'store_id'",
        insert_store_id="INSERT INTO integrity_meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING",
        head="SELECT notification_id, chain_hash FROM integrity_seals ORDER BY notification_id DESC LIMIT 1",
        count="SELECT COUNT(*) AS n FROM integrity_seals",
        aggregate_head="SELECT aggregate_hash FROM integrity_seals WHERE originator_id = ? "
        "ORDER BY originator_version DESC LIMIT 1",
        events_after=(  # the table name comes from the library's recorder, never from input
            "SELECT rowid AS notification_id, originator_id, originator_version, topic, state FROM "  # noqa: S608
            + events
            + " WHERE rowid > ? ORDER BY rowid"
        ),
        insert_seal="INSERT INTO integrity_seals (notification_id, originator_id, originator_version, body_hash, "
        "aggregate_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?)",
        seals_after="SELECT * FROM integrity_seals WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
    )


def _postgres_names(events_table: str) -> tuple[str, str]:
    base = events_table.removesuffix("_events")
    return f"{base}_seals", f"{base}_integrity"


def _postgres_statements(schema: str, events: str) -> _Statements:
    seals_name, meta_name = _postgres_names(events)
    names = {
        "s": Identifier(schema),
        "events": Identifier(events),
        "seals": Identifier(seals_name),
        "meta": Identifier(meta_name),
        "index": Identifier(f"{seals_name}_aggregate"),
    }

    def q(text: str) -> Composed:
        return SQL(text).format(**names)

    return _Statements(
        create=[
            q(
                "CREATE TABLE IF NOT EXISTS {s}.{seals} (notification_id BIGINT PRIMARY KEY, originator_id TEXT NOT "
                "NULL, originator_version BIGINT NOT NULL, body_hash TEXT NOT NULL, aggregate_hash TEXT NOT NULL, "
                "chain_hash TEXT NOT NULL)"
            ),
            q("CREATE INDEX IF NOT EXISTS {index} ON {s}.{seals} (originator_id, originator_version)"),
            q("CREATE TABLE IF NOT EXISTS {s}.{meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
        ],
        lock=q("LOCK TABLE {s}.{events} IN EXCLUSIVE MODE"),
        store_id=q("SELECT value FROM {s}.{meta} WHERE key = 'store_id'"),
        insert_store_id=q("INSERT INTO {s}.{meta} (key, value) VALUES ('store_id', %s) ON CONFLICT (key) DO NOTHING"),
        head=q("SELECT notification_id, chain_hash FROM {s}.{seals} ORDER BY notification_id DESC LIMIT 1"),
        count=q("SELECT COUNT(*) AS n FROM {s}.{seals}"),
        aggregate_head=q(
            "SELECT aggregate_hash FROM {s}.{seals} WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1"
        ),
        events_after=q(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {s}.{events} "
            "WHERE notification_id > %s ORDER BY notification_id"
        ),
        insert_seal=q(
            "INSERT INTO {s}.{seals} (notification_id, originator_id, originator_version, body_hash, aggregate_hash, "
            "chain_hash) VALUES (%s, %s, %s, %s, %s, %s)"
        ),
        seals_after=q("SELECT * FROM {s}.{seals} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"),
    )


@runtime_checkable
class SealedStore(Protocol):
    """What a sealing recorder offers to checkpoints and verification."""

    def store_id(self) -> str | None: ...

    def sealed_head(self) -> Head | None: ...

    def read_seals(self, after: int, limit: int) -> list[Seal]: ...

    def read_rows(self, after: int, limit: int) -> list[StoredRow]: ...

    def max_notification_id(self) -> int | None: ...


class _Sealing:
    """Seals every event after the last seal, inside the transaction that inserted it (or at start-up)."""

    _statements: _Statements
    _store_id: str | None = None
    datastore: Any
    select_notifications: Any

    def create_table(self) -> None:
        super().create_table()  # type: ignore[misc]
        with self.datastore.transaction(commit=True) as curs:
            self._create_seal_tables(curs)

    def store_id(self) -> str | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._statements.store_id)
            row = curs.fetchone()
        return None if row is None else str(row["value"])

    def sealed_head(self) -> Head | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._statements.store_id)
            store = curs.fetchone()
            curs.execute(self._statements.head)
            head = curs.fetchone()
            curs.execute(self._statements.count)
            count = curs.fetchone()
        return self._head_from(None if store is None else str(store["value"]), head, count)

    def read_seals(self, after: int, limit: int) -> list[Seal]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._statements.seals_after, (after, limit))
            return [_seal(r) for r in curs.fetchall()]

    def read_rows(self, after: int, limit: int) -> list[StoredRow]:
        return _rows(self.select_notifications(start=after, limit=limit, inclusive_of_start=False))

    def _create_seal_tables(self, curs: Any) -> None:
        for statement in self._statements.create:
            curs.execute(statement)
        if self._statements.lock is not None:
            curs.execute(self._statements.lock)
        curs.execute(self._statements.insert_store_id, (str(uuid.uuid4()),))
        # Events recorded before sealing existed (or by a writer without it) are sealed now, in order.
        self._seal_pending(curs)

    def _read_store_id(self, curs: Any) -> str:
        if self._store_id is None:
            curs.execute(self._statements.store_id)
            row = curs.fetchone()
            if row is None:
                raise LookupError("the event store has no integrity store id (tables not created)")
            self._store_id = str(row["value"])
        return self._store_id

    def _seal_pending(self, curs: Any) -> None:
        store_id = self._read_store_id(curs)
        curs.execute(self._statements.head)
        head = curs.fetchone()
        after, previous = (0, genesis(store_id)) if head is None else (head["notification_id"], _unhex(head))
        curs.execute(self._statements.events_after, (after,))
        rows = [_stored_row(r) for r in curs.fetchall()]
        if not rows:
            return

        def previous_aggregate(originator_id: str) -> bytes:
            curs.execute(self._statements.aggregate_head, (originator_id,))
            found = curs.fetchone()
            return ZERO if found is None else bytes.fromhex(found["aggregate_hash"])

        seals = seal_rows(rows, previous, previous_aggregate)
        curs.executemany(
            self._statements.insert_seal,
            [
                (s.notification_id, s.originator_id, s.originator_version, s.body_hash, s.aggregate_hash, s.chain_hash)
                for s in seals
            ],
        )

    @staticmethod
    def _head_from(store_id: str | None, head: Any, count: Any) -> Head | None:
        if store_id is None or head is None:
            return None
        return Head(store_id, int(head["notification_id"]), str(head["chain_hash"]), int(count["n"]))


def _unhex(head: Any) -> bytes:
    return bytes.fromhex(head["chain_hash"])


def _stored_row(row: Any) -> StoredRow:
    return StoredRow(
        int(row["notification_id"]),
        canonical_id(row["originator_id"]),
        int(row["originator_version"]),
        str(row["topic"]),
        bytes(row["state"]),
    )


def _seal(row: Any) -> Seal:
    return Seal(
        int(row["notification_id"]),
        str(row["originator_id"]),
        int(row["originator_version"]),
        str(row["body_hash"]),
        str(row["aggregate_hash"]),
        str(row["chain_hash"]),
    )


class SealingSQLiteProcessRecorder(_Sealing, SQLiteProcessRecorder):
    """SQLite process recorder that seals each event in the transaction inserting it."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._statements = _sqlite_statements(events_table_name)

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        self._seal_pending(c)
        return returning


class SealingPostgresProcessRecorder(_Sealing, PostgresProcessRecorder):
    """PostgreSQL process recorder that seals each event in the transaction inserting it (under the table lock)."""

    def __init__(
        self,
        datastore: Any,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name)
        if datastore.enable_db_functions:
            raise ValueError("sealing needs POSTGRES_ENABLE_DB_FUNCTIONS off (inserts must go through the recorder)")
        self._statements = _postgres_statements(datastore.schema, events_table_name)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        self._seal_pending(curs)  # still inside the insert's transaction, which holds the events table lock
        return ids


def _rows(notifications: Iterable[Any]) -> list[StoredRow]:
    return [
        StoredRow(n.id, canonical_id(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        for n in notifications
    ]


def use_sealing_recorders(env: Any) -> None:
    """Makes an application's factory build a sealing recorder for SQLite and PostgreSQL stores."""
    module = env.get("PERSISTENCE_MODULE") or ""
    topic = RECORDER_TOPICS.get(module.split(":")[0])
    if topic is not None and not env.get("PROCESS_RECORDER_TOPIC"):
        env["PROCESS_RECORDER_TOPIC"] = topic


# --- verification -------------------------------------------------------------------------------------------------


class FindingKind(StrEnum):
    ALTERED = "altered"
    """The event's bytes differ from its seal."""
    REMOVED = "removed"
    """A sealed event is missing."""
    REORDERED = "reordered"
    """A sealed event stands at another position (notification id or version) than the one it was sealed at."""
    INSERTED = "inserted"
    """An event without a seal: written around the application."""
    SEAL_BROKEN = "seal-broken"
    """A seal does not follow from the one before it: seals were edited or removed."""
    REWRITTEN = "rewritten"
    """The chain no longer matches a published checkpoint: the store was rewritten and re-sealed."""
    TRUNCATED = "truncated"
    """A checkpoint names events beyond the end of the store."""
    UNSEALED_STORE = "unsealed-store"
    """The store has no integrity store id."""


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    notification_id: int | None
    detail: str
    originator_id: str | None = None
    originator_version: int | None = None

    def __str__(self) -> str:
        where = f"event #{self.notification_id}" if self.notification_id is not None else "store"
        if self.originator_id is not None:
            where += f" (aggregate {self.originator_id} v{self.originator_version})"
        return f"{self.kind.value}: {where}: {self.detail}"


@dataclass
class Verification:
    """What `verify` found in one store."""

    store_id: str | None
    events: int = 0
    sealed: int = 0
    head: int = 0
    checkpoints_matched: int = 0
    checkpoints_total: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def verify(
    store_id: str | None,
    rows: Iterable[StoredRow],
    seals: Iterable[Seal],
    checkpoints: Iterable[Checkpoint] = (),
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Recomputes every seal from the stored rows; names each altered, removed, reordered or inserted event.

    Findings are ordered by notification id: the first one is where the store stops being trustworthy.
    """
    result = Verification(store_id)
    if store_id is None:
        result.findings.append(Finding(FindingKind.UNSEALED_STORE, None, "no integrity store id: cannot verify"))
        return result
    sealed = {s.notification_id: s for s in seals}
    result.sealed = len(sealed)
    result.head = max(sealed, default=0)
    findings = _check_seal_chain(store_id, sealed)
    findings += _check_rows(rows, sealed, result, progress)
    cps = sorted((c for c in checkpoints if c.store_id == store_id), key=lambda c: c.notification_id)
    result.checkpoints_total = len(cps)
    findings += _check_checkpoints(cps, sealed, result)
    result.findings = sorted(findings, key=lambda f: (f.notification_id or 0, f.kind.value))
    return result


def _check_seal_chain(store_id: str, sealed: Mapping[int, Seal]) -> list[Finding]:
    findings = []
    previous_chain = genesis(store_id)
    previous_aggregate: dict[str, str] = {}
    previous_nid = 0
    for nid in sorted(sealed):
        seal = sealed[nid]
        before = previous_aggregate.get(seal.originator_id)
        expected_aggregate = aggregate_hash(
            ZERO if before is None else bytes.fromhex(before), seal.originator_version, bytes.fromhex(seal.body_hash)
        )
        expected_chain = chain_hash(previous_chain, nid, bytes.fromhex(seal.aggregate_hash))
        if expected_chain.hex() != seal.chain_hash:
            findings.append(
                Finding(
                    FindingKind.SEAL_BROKEN,
                    nid,
                    f"its chain link does not follow seal #{previous_nid}: a sealed event between them was removed, "
                    "or a seal was edited",
                    seal.originator_id,
                    seal.originator_version,
                )
            )
        elif expected_aggregate.hex() != seal.aggregate_hash:
            findings.append(
                Finding(
                    FindingKind.SEAL_BROKEN,
                    nid,
                    "its aggregate link does not follow the aggregate's previous seal: an earlier version was removed, "
                    "or a seal was edited",
                    seal.originator_id,
                    seal.originator_version,
                )
            )
        previous_chain = bytes.fromhex(seal.chain_hash)
        previous_aggregate[seal.originator_id] = seal.aggregate_hash
        previous_nid = nid
    return findings


def _check_rows(
    rows: Iterable[StoredRow],
    sealed: Mapping[int, Seal],
    result: Verification,
    progress: Callable[[int], None] | None,
) -> list[Finding]:
    by_body: dict[str, list[int]] = {}
    for each in sealed.values():
        by_body.setdefault(each.body_hash, []).append(each.notification_id)
    findings = []
    accounted: set[int] = set()
    present: set[int] = set()
    versions: dict[str, set[int]] = {}
    for count, row in enumerate(rows, start=1):
        result.events += 1
        present.add(row.notification_id)
        versions.setdefault(row.originator_id, set()).add(row.originator_version)
        if progress is not None and count % 5000 == 0:
            progress(5000)
        body = row.body_hash.hex()
        seal = sealed.get(row.notification_id)
        at = (row.originator_id, row.originator_version)
        if seal is not None and seal.body_hash == body and (seal.originator_id, seal.originator_version) == at:
            accounted.add(row.notification_id)
            continue
        moved = [m for m in by_body.get(body, []) if m != row.notification_id]
        if seal is not None and seal.body_hash == body:
            moved = [row.notification_id]
        if moved:
            origin = sealed[moved[0]]
            accounted.add(origin.notification_id)
            findings.append(
                Finding(
                    FindingKind.REORDERED,
                    row.notification_id,
                    f"holds the event sealed as #{origin.notification_id} "
                    f"(aggregate {origin.originator_id} v{origin.originator_version})",
                    *at,
                )
            )
        elif seal is None:
            findings.append(Finding(FindingKind.INSERTED, row.notification_id, "no seal: written around the app", *at))
        else:
            findings.append(Finding(FindingKind.ALTERED, row.notification_id, "its bytes differ from its seal", *at))
    if progress is not None:
        progress(result.events % 5000)
    for nid, missing_seal in sealed.items():
        if nid not in accounted and nid not in present:
            findings.append(
                Finding(
                    FindingKind.REMOVED,
                    nid,
                    "sealed but missing from the store",
                    missing_seal.originator_id,
                    missing_seal.originator_version,
                )
            )
    sealed_versions = {(s.originator_id, s.originator_version) for s in sealed.values()}
    for originator_id, seen in versions.items():
        for missing in sorted(set(range(1, max(seen) + 1)) - seen):
            if (originator_id, missing) not in sealed_versions:
                findings.append(
                    Finding(
                        FindingKind.REMOVED,
                        None,
                        "version missing, and its seal too",
                        originator_id,
                        missing,
                    )
                )
    return findings


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint], sealed: Mapping[int, Seal], result: Verification
) -> list[Finding]:
    findings = []
    last_good = 0
    for checkpoint in checkpoints:
        seal = sealed.get(checkpoint.notification_id)
        when = f" (published {checkpoint.published_at.isoformat()})" if checkpoint.published_at else ""
        if seal is not None and seal.chain_hash == checkpoint.chain_hash:
            result.checkpoints_matched += 1
            last_good = checkpoint.notification_id
        elif seal is None and checkpoint.notification_id > result.head:
            findings.append(
                Finding(
                    FindingKind.TRUNCATED,
                    checkpoint.notification_id,
                    f"a checkpoint{when} sealed the store up to here; the store ends at #{result.head}",
                )
            )
        else:
            findings.append(
                Finding(
                    FindingKind.REWRITTEN,
                    checkpoint.notification_id,
                    f"the chain differs from the checkpoint{when}: events after #{last_good} up to here were "
                    "rewritten and re-sealed",
                )
            )
    return findings


def verify_store(
    store: SealedStore,
    checkpoints: Iterable[Checkpoint] = (),
    page: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Reads a sealed store page by page and verifies it, up to the last event or seal stored when it starts (an event
    and its seal commit together, so events recorded meanwhile are left out of both sides, not mistaken for
    insertions, while a deleted last event still leaves its seal behind)."""
    head = store.sealed_head()
    upto = max(store.max_notification_id() or 0, head.notification_id if head is not None else 0)
    return verify(
        store.store_id(),
        _paged(store.read_rows, page, upto),
        _paged(store.read_seals, page, upto),
        checkpoints,
        progress,
    )


def _paged(read: Callable[[int, int], Sequence[Any]], page: int, upto: int) -> Iterator[Any]:
    after = 0
    while True:
        batch = read(after, page)
        for item in batch:
            if item.notification_id > upto:
                return
            yield item
        if len(batch) < page:
            return
        after = batch[-1].notification_id


def sealed_head(recorder: object) -> Head | None:
    """The chain head of a recorder's store (None for stores that are not sealed)."""
    return recorder.sealed_head() if isinstance(recorder, SealedStore) else None


# --- checkpoints --------------------------------------------------------------------------------------------------


def checkpoint_event(application: str, head: Head, source: str, at: datetime) -> CloudEvent:
    """The CloudEvent publishing a chain head (payload: `services.contract.audit_events.IntegrityCheckpointV1`)."""
    return CloudEvent(
        id=derived_id("integrity-checkpoint", head.store_id, str(head.notification_id)),
        source=source,
        type=CHECKPOINT_TYPE,
        time=at,
        subject=application,
        dataschema=schema_uri(CHECKPOINT_TYPE),
        data={
            "application": application,
            "store_id": head.store_id,
            "notification_id": head.notification_id,
            "chain_hash": head.chain_hash,
            "sealed_events": head.sealed,
            "occurred_at": at.isoformat(),
        },
    )


def checkpoint_of(event: CloudEvent) -> Checkpoint | None:
    """A checkpoint read back from the topic (None when the record is not one)."""
    if event.type != CHECKPOINT_TYPE:
        return None
    data = event.data
    try:
        return Checkpoint(
            str(data["store_id"]),
            int(data["notification_id"]),
            str(data["chain_hash"]),
            event.time,
            str(data.get("application", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def ensure_checkpoint_topic(brokers: Brokers, topic: str = DEFAULT_CHECKPOINT_TOPIC) -> None:
    """Creates the checkpoint topic, kept forever (retention -1), unless it exists."""
    admin = make_admin(brokers, "integrity-checkpoints-admin")
    try:
        if topic not in set(admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "-1"})])
    finally:
        admin.close()


class CheckpointSink(Protocol):
    def publish(self, messages: Sequence[Outgoing]) -> None: ...


class CheckpointPublisher:
    """Publishes a store's chain head whenever it moved, every `interval_s`."""

    def __init__(
        self,
        recorder: object,
        sink: CheckpointSink,
        *,
        application: str,
        topic: str = DEFAULT_CHECKPOINT_TOPIC,
        source: str,
        interval_s: float = 60.0,
        clock: Clock = system_clock,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.sink = sink
        self.application = application
        self.topic = topic
        self.source = source
        self.interval_s = interval_s
        self.clock = clock
        self.published: Head | None = None
        self._prepare = prepare

    def run_once(self) -> Head | None:
        """Publishes the head if it moved since the last checkpoint; returns what was published."""
        head = sealed_head(self.recorder)
        if head is None or (self.published is not None and head.notification_id <= self.published.notification_id):
            return None
        if self._prepare is not None:
            self._prepare()
            self._prepare = None
        event = checkpoint_event(self.application, head, self.source, self.clock())
        self.sink.publish([Outgoing(self.topic, head.store_id, event)])
        self.published = head
        return head

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 -- a missed checkpoint is retried at the next interval
                log.warning("integrity checkpoint of %s not published; retrying later", self.application)
