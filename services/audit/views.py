"""The audit database: every integration event of the history, once (by CloudEvent id), indexed by what it is about.

It is a rebuildable read model (SQLite by default, PostgreSQL supported): `rls audit replay` fills it from the Kafka
topics (from offset 0) or from the services' event stores. Each row keeps the event's own JSON payload, when it took
effect (`time`, the domain's occurred-at) and when the platform recorded it (the Kafka record timestamp, or for an
event read from a store the timestamp it was stored with), so states can be rebuilt along either axis. Payloads
carry pseudonymous ids and codes only, never record information.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from services.common.sqlstore import Connection, Migration, SQLStore

Axis = Literal["effective", "recorded"]

KINDS: dict[str, tuple[str, str]] = {
    "referral": ("referral", "referral_id"),
    "agreements.organisation-registered": ("organisation", "org_id"),
    "agreements.referral-counted": ("counted-referral", "referral_id"),
    "agreements.service-hours-set": ("service-hours", "org_id"),
    "agreements": ("agreement", "agreement_id"),
    "consent.recorded": ("consent", "consent_id"),
    "consent.withdrawn": ("consent", "consent_id"),
    "consent.decided": ("decision", "decision_id"),
    "consent.disclosure-registered": ("disclosure", "register_entry_id"),
    "consent.restriction-recorded": ("restriction", "restriction_id"),
    "consent.restriction-lifted": ("restriction", "restriction_id"),
    "consent.refusal-recorded": ("refusal", "refusal_id"),
    "consent.refusal-withdrawn": ("refusal", "refusal_id"),
    "audit.checkpoint": ("checkpoint", "store_id"),
}
"""`<context>.<event>` (or `<context>`) of a type -> what the event is about and the payload field naming it."""


def classify(type_: str) -> tuple[str | None, str | None]:
    """`ca.qc.rls.referral.accepted.v1` -> ("referral", "referral_id"); unknown types -> (None, None)."""
    parts = type_.split(".")
    if len(parts) < 6 or parts[:3] != ["ca", "qc", "rls"]:
        return None, None
    context, name = parts[3], parts[4]
    found = KINDS.get(f"{context}.{name}") or KINDS.get(context)
    return found if found else (None, None)


def event_name(type_: str) -> str:
    """`ca.qc.rls.referral.accepted.v1` -> `accepted`."""
    parts = type_.split(".")
    return parts[4] if len(parts) > 4 else type_


def utc_text(moment: datetime) -> str:
    """Fixed-width UTC text: ordered as text exactly as in time (both databases compare it as text)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class HistoryRow:
    """One integration event in the audit database."""

    event_id: str
    topic: str
    partition: int | None
    offset: int | None
    type: str
    kind: str | None
    entity_id: str | None
    effective_at: str
    recorded_at: str | None
    data: str
    seq: int = 0

    @property
    def payload(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.data)
        return document

    @property
    def name(self) -> str:
        return event_name(self.type)

    def values(self) -> tuple[Any, ...]:
        return (
            self.event_id,
            self.topic,
            self.partition,
            self.offset,
            self.type,
            self.kind,
            self.entity_id,
            self.effective_at,
            self.recorded_at,
            self.data,
        )


@dataclass(frozen=True)
class Rejected:
    """A record that is not a usable CloudEvent (reason names fields, never values)."""

    topic: str
    partition: int | None
    offset: int | None
    reason: str


INDEXES = {
    "history_entity": "CREATE INDEX IF NOT EXISTS history_entity ON history_events (kind, entity_id, seq)",
    "history_type": "CREATE INDEX IF NOT EXISTS history_type ON history_events (type, effective_at)",
}
"""The secondary indexes, by name (a replay into an empty database builds them once at the end)."""

MIGRATIONS = (
    Migration(
        1,
        "the history's events once by CloudEvent id, the records that were not events, the replay's metadata",
        (
            "CREATE TABLE IF NOT EXISTS history_events (seq {serial}, event_id TEXT NOT NULL UNIQUE, "
            "topic TEXT NOT NULL, part INTEGER, off BIGINT, type TEXT NOT NULL, kind TEXT, entity_id TEXT, "
            "effective_at TEXT NOT NULL, recorded_at TEXT, data TEXT NOT NULL)",
            *INDEXES.values(),
            "CREATE TABLE IF NOT EXISTS history_rejected (topic TEXT NOT NULL, part INTEGER, off BIGINT, "
            "reason TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
)
"""The audit database's tables, version by version (applied at start: `services.common.sqlstore`)."""

WAL = {"journal_mode": "WAL"}
BULK = {**WAL, "synchronous": "OFF", "cache_size": "-16384"}
"""SQLite replays: a rebuildable read model, speed over durability."""

COLUMNS = "event_id, topic, part, off, type, kind, entity_id, effective_at, recorded_at, data"
INSERT = (
    "INSERT INTO history_events (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 -- constants
    "ON CONFLICT (event_id) DO NOTHING"
)


class Cipher(Protocol):
    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class HistoryDB:
    """The audit database at a URL: `sqlite:///path`, `memory://` or `postgresql://…?schema=…`.

    With a cipher, each event's data (ids of persons, dates) is stored encrypted; the columns queries select on
    (type, kind, entity id, times) stay readable.
    """

    def __init__(self, url: str, cipher: Cipher | None = None, setting: str = "AUDIT_DATABASE") -> None:
        self.url = url
        self._cipher = cipher
        self._store = SQLStore(url, setting, "audit-history", MIGRATIONS)
        self.postgres = self._store.postgres is not None
        self._build_indexes()  # after a replay stopped before it built them

    def _build_indexes(self) -> None:
        with self.connect() as db:
            for statement in INDEXES.values():
                db.execute(statement)

    def connect(self) -> AbstractContextManager[Connection]:
        """One transaction: committed when the block ends, rolled back on error."""
        return self._store.connect(pragmas=WAL)

    def _seal(self, data: str) -> str:
        if self._cipher is None:
            return data
        return base64.b64encode(self._cipher.encrypt(data.encode())).decode()

    def _open(self, data: str) -> str:
        if self._cipher is None:
            return data
        return self._cipher.decrypt(base64.b64decode(data)).decode()

    def clear(self) -> None:
        """Empties the database before a full rebuild."""
        with self.connect() as db:
            for table in ("history_events", "history_rejected", "history_meta"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 -- fixed table names

    # --- writing ------------------------------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[HistoryWriter]:
        """A long-lived writer for replays: one connection, a commit per batch. Into an empty database, the secondary
        indexes are dropped first and built once at the end (cheaper than updating them row by row)."""
        with self.connect() as db:
            deferred = not db.execute("SELECT EXISTS (SELECT 1 FROM history_events)").fetchone()[0]
            if deferred:
                for name in INDEXES:
                    db.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            with self._store.connect(pragmas=BULK) as db:
                yield HistoryWriter(db, self._seal)
        finally:
            if deferred:
                self._build_indexes()

    def ingest(self, rows: Sequence[HistoryRow], rejected: Sequence[Rejected] = ()) -> None:
        with self.writer() as writer:
            writer.write(rows, rejected)

    def set_meta(self, values: dict[str, Any]) -> None:
        with self.connect() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT INTO history_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "value = excluded.value",
                    (key, json.dumps(value)),
                )

    # --- reading ------------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        with self.connect() as db:
            rows = db.execute("SELECT key, value FROM history_meta").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def count(self) -> int:
        with self.connect() as db:
            count: int = db.execute("SELECT COUNT(*) FROM history_events").fetchone()[0]
        return count

    def rejected(self) -> list[Rejected]:
        with self.connect() as db:
            rows = db.execute("SELECT topic, part, off, reason FROM history_rejected").fetchall()
        return [Rejected(*row) for row in rows]

    def entity_events(
        self, kind: str, entity_id: str, until: datetime | None = None, axis: Axis = "effective"
    ) -> list[HistoryRow]:
        """The events about one thing in the order they were published, up to `until` on the chosen time axis."""
        sql = f"SELECT seq, {COLUMNS} FROM history_events WHERE kind = ? AND entity_id = ?"  # noqa: S608
        params: list[Any] = [kind, entity_id]
        if until is not None:
            column = "effective_at" if axis == "effective" else "recorded_at"
            sql += f" AND {column} <= ?"
            params.append(utc_text(until))
        return self._rows(sql + " ORDER BY seq", params)

    def events_of(self, kind: str) -> list[HistoryRow]:
        """Every event about things of one kind, in publication order."""
        return list(self.each_event_of(kind))

    def each_event_of(self, kind: str, page: int = 1000) -> Iterator[HistoryRow]:
        """Every event about things of one kind, in publication order, read `page` at a time (ten years of
        decisions are not held at once)."""
        for rows in self._pages(kind, "seq", lambda row: (row.seq,), page):
            yield from rows

    def each_entity_of(self, kind: str, page: int = 1000) -> Iterator[list[HistoryRow]]:
        """The events of one kind, entity by entity (in id order), each entity's in publication order: read `page`
        at a time along the index on (kind, entity, seq), so one entity's events are held at once, not the kind's."""
        group: list[HistoryRow] = []
        for rows in self._pages(kind, "entity_id, seq", lambda row: (str(row.entity_id), row.seq), page):
            for row in rows:
                if group and row.entity_id != group[0].entity_id:
                    yield group
                    group = []
                group.append(row)
        if group:
            yield group

    def _pages(
        self, kind: str, key: str, key_of: Callable[[HistoryRow], tuple[Any, ...]], page: int
    ) -> Iterator[list[HistoryRow]]:
        """The events of one kind in the order of `key` (columns), a page at a time, each page after the last key
        read (a keyset: one index range a page)."""
        after: tuple[Any, ...] = ("",) * key.count(",") + (0,)
        marks = ", ".join("?" for _ in after)
        sql = (
            f"SELECT seq, {COLUMNS} FROM history_events WHERE kind = ? AND ({key}) > ({marks}) "  # noqa: S608 -- ours
            f"ORDER BY {key} LIMIT ?"
        )
        while True:
            rows = self._rows(sql, [kind, *after, page])
            yield rows
            if len(rows) < page:
                return
            after = key_of(rows[-1])

    def count_of(self, kind: str) -> int:
        """How many events there are about things of one kind (an index range, nothing decoded)."""
        with self.connect() as db:
            count: int = db.execute("SELECT COUNT(*) FROM history_events WHERE kind = ?", (kind,)).fetchone()[0]
        return count

    def _rows(self, sql: str, params: Sequence[Any]) -> list[HistoryRow]:
        with self.connect() as db:
            rows = db.execute(sql, tuple(params)).fetchall()
        return [
            HistoryRow(
                event_id=r[1],
                topic=r[2],
                partition=r[3],
                offset=r[4],
                type=r[5],
                kind=r[6],
                entity_id=r[7],
                effective_at=r[8],
                recorded_at=r[9],
                data=self._open(r[10]),
                seq=r[0],
            )
            for r in rows
        ]


class HistoryWriter:
    """Inserts batches of rows (duplicates by CloudEvent id are ignored: the relays may re-publish)."""

    def __init__(self, db: Connection, seal: Callable[[str], str]) -> None:
        self._db = db
        self._seal = seal

    def write(self, rows: Sequence[HistoryRow], rejected: Sequence[Rejected] = ()) -> None:
        if rows:
            self._db.executemany(INSERT, [(*r.values()[:-1], self._seal(r.data)) for r in rows])
        if rejected:
            self._db.executemany(
                "INSERT INTO history_rejected (topic, part, off, reason) VALUES (?, ?, ?, ?)",
                [(r.topic, r.partition, r.offset, r.reason) for r in rejected],
            )
        self._db.commit()
