"""Sealing recorders: every stored event gets its seal in the transaction that inserts it (SQLite and PostgreSQL).

The seals live beside the events (`integrity_seals` in SQLite, `<application>_seals` in PostgreSQL), with a random
store id that starts the chain (`hashing.genesis`). In-memory stores are not sealed.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any, Protocol, overload, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg import Error as DatabaseError
from psycopg import IntegrityError
from psycopg.errors import PipelineAborted
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from services.common.integrity.hashing import (
    FIRST_VERSION,
    ZERO,
    EventBytes,
    Head,
    Lined,
    Seal,
    StoredRow,
    canonical_id,
    chain_lines,
    genesis,
    line_events,
)
from services.common.sqlstore import LEDGER, Migration, Qmark, apply_migrations

RECORDER_TOPICS = {
    "eventsourcing.sqlite": "services.common.integrity.sealing:SealingSQLiteProcessRecorder",
    "eventsourcing.postgres": "services.common.integrity.sealing:SealingPostgresProcessRecorder",
}
"""Persistence module -> the sealing process recorder used for it (in-memory stores are not sealed)."""

HEADS_REMEMBERED = 65_536
"""Aggregates whose last seal a recorder remembers from its own commits (about 200 bytes each): at most this many,
and at least half as many (`AggregateHeads`)."""

READ_AHEAD_FROM = 64
"""Aggregates a write needs the seals of, not remembered, from which a PostgreSQL recorder reads them ahead."""
READ_AHEAD_STREAMS = 4
"""At most this many connections read one write's seals ahead, each a contiguous range of its aggregates' ids (the
server then reads pages from disk in as many streams: one backend reads one page at a time)."""
READ_AHEAD_CONNECTION_WAIT = 0.05
"""Seconds a read ahead waits for a connection of the pool, then gives up (the write asks the store itself): the write
waits for its reads while it holds the events table's lock, which the pool's other holders may be waiting for."""
READ_AHEAD_LOCK_TIMEOUT = "50ms"
"""How long a read ahead waits for a table lock, then fails: a statement queued for the tables' exclusive lock
(`ALTER TABLE`, `VACUUM FULL`) waits for the writer, which waits for its reads; PostgreSQL sees no deadlock there."""
READ_AHEAD_WAIT = 1.0
"""Seconds a write waits for its reads ahead, holding the events table's lock (a cold read of a thousand seals at 1M
takes 90-160 ms here); the write asks the store for what is not read by then."""
LOOK_AHEAD_WAIT = 2 * READ_AHEAD_WAIT + 1.0
"""Seconds a look-ahead, which holds no lock, waits for its reads: until they end (each within its statement timeout,
twice `READ_AHEAD_WAIT`), with a margin for one queued behind a write's reads."""

STATEMENT_BYTES = 4 * 1024 * 1024
"""The most a PostgreSQL write sends in one statement (its events' states, its seals): psycopg's pipeline, which the
library's insert runs in, stalls for good on one message of about 12 MiB or more (the server waits for the rest of
it, psycopg for a result); a larger write is sent as several statements of one transaction."""
ENCODED_PART = 250
"""Events a PostgreSQL write of many encodes, then sends, at a time (`StoredInParts`); a write of more takes its ids
before it inserts, and sends each part's seals behind it (`_insert_stored_events`)."""
SEALS_SENT_AT_ONCE = 256
"""Seals a PostgreSQL write chains and sends in one statement (about 77 KiB: far below `STATEMENT_BYTES`); the server
inserts them while the write chains the next ones, instead of waiting for all of them."""

Heads = dict[str, tuple[int, bytes]]
"""Aggregate id -> (version, aggregate hash) of a seal."""
Known = tuple[dict[str, bytes], dict[str, int]]
"""What `_known_heads` finds: aggregate id -> the aggregate hash its write chains to, and aggregate id -> its first
version written, for those it is not known of."""


@dataclass(frozen=True)
class _Statements:
    component: str
    scope: str | None
    create: Sequence[str | Composed]
    lock: str | Composed | None
    store_id: str | Composed
    insert_store_id: str | Composed
    head: str | Composed
    count: str | Composed
    """The seals after a notification id (an index range: from a head read before, not from the start)."""
    aggregate_heads: str | Composed
    events_after: str | Composed
    head_and_bounds: str | Composed
    """The last seal (NULLs when there is none) and the first and last event ids after it, in one statement."""
    insert_seal: str | Composed
    columnar: bool
    """Whether `insert_seal` takes the seals a column at a time (one statement: `_seal_columns`), or one row a call."""
    seals_after: str | Composed
    seals_by_aggregate: tuple[str | Composed, str | Composed]
    """The seals in (originator id, version) order: the first page, the page after a key."""
    versions_by_aggregate: tuple[str | Composed, str | Composed]
    """The stored events' (notification id, originator id, version), in that order: first page, page after a key."""


def _sqlite_statements(events: str) -> _Statements:
    return _Statements(
        component="integrity-seals",
        scope=None,
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
        count="SELECT COUNT(*) AS n FROM integrity_seals WHERE notification_id > ?",
        aggregate_heads=(  # one index seek an aggregate, backwards from its last version, then that one row
            "SELECT s.originator_id, s.aggregate_hash FROM json_each(?) AS wanted JOIN integrity_seals AS s "
            "ON s.notification_id = (SELECT notification_id FROM integrity_seals WHERE originator_id = wanted.value "
            "ORDER BY originator_version DESC LIMIT 1)"
        ),
        events_after=(  # the table name comes from the library's recorder, never from input
            "SELECT rowid AS notification_id, originator_id, originator_version, topic, state FROM "  # noqa: S608
            + events
            + " WHERE rowid > ? ORDER BY rowid"
        ),
        head_and_bounds=_head_and_bounds("integrity_seals", events, "rowid"),
        insert_seal="INSERT INTO integrity_seals (notification_id, originator_id, originator_version, body_hash, "
        "aggregate_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?)",
        columnar=False,
        seals_after="SELECT * FROM integrity_seals WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
        seals_by_aggregate=_keyset("SELECT * FROM integrity_seals", "?"),
        versions_by_aggregate=_keyset(
            "SELECT rowid AS notification_id, originator_id, originator_version FROM " + events,  # noqa: S608
            "?",
        ),
    )


def _head_and_bounds(seals: str, events: str, event_id: str) -> str:
    after = f"FROM {events} WHERE {event_id} > COALESCE(h.notification_id, 0)"
    return (  # the table names come from the library's recorder, never from input
        f"SELECT h.notification_id, h.chain_hash, (SELECT MIN({event_id}) {after}) AS first, "  # noqa: S608
        f"(SELECT MAX({event_id}) {after}) AS last FROM (SELECT 1 AS one) AS o LEFT JOIN (SELECT notification_id, "
        f"chain_hash FROM {seals} ORDER BY notification_id DESC LIMIT 1) AS h ON 1 = 1"
    )


def _keyset(select: str, mark: str) -> tuple[str, str]:
    """A select paged in (originator id, version) order, on the index both tables have on that key (the notification
    id breaks ties: a seal's version may have been edited)."""
    order = f" ORDER BY originator_id, originator_version, notification_id LIMIT {mark}"
    key = "(originator_id, originator_version, notification_id)"
    return select + order, f"{select} WHERE {key} > ({mark}, {mark}, {mark}){order}"


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
        component=seals_name,
        scope=schema,
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
        count=q("SELECT COUNT(*) AS n FROM {s}.{seals} WHERE notification_id > %s"),
        aggregate_heads=q(  # one index seek an aggregate, backwards from its last version, then that one row
            "SELECT last.originator_id, last.aggregate_hash FROM unnest(%s::text[]) AS wanted (id) "
            "CROSS JOIN LATERAL (SELECT originator_id, aggregate_hash FROM {s}.{seals} WHERE originator_id = wanted.id "
            "ORDER BY originator_version DESC LIMIT 1) AS last"
        ),
        events_after=q(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {s}.{events} "
            "WHERE notification_id > %s ORDER BY notification_id"
        ),
        head_and_bounds=q(_head_and_bounds("{s}.{seals}", "{s}.{events}", "notification_id")),
        insert_seal=q(
            "INSERT INTO {s}.{seals} (notification_id, originator_id, originator_version, body_hash, aggregate_hash, "
            "chain_hash) SELECT * FROM unnest(string_to_array(%s, ',')::bigint[], %b::text[], "
            "string_to_array(%s, ',')::bigint[], string_to_array(%s, ','), string_to_array(%s, ','), "
            "string_to_array(%s, ','))"
        ),
        columnar=True,
        seals_after=q("SELECT * FROM {s}.{seals} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"),
        seals_by_aggregate=_composed(_keyset("SELECT * FROM {s}.{seals}", "%s"), q),
        versions_by_aggregate=_composed(
            _keyset("SELECT notification_id, originator_id, originator_version FROM {s}.{events}", "%s"), q
        ),
    )


def _columnar_events_insert(schema: str, events: str, originator_id_type: str, *, numbered: bool) -> Composed:
    """The library's events insert (same columns), from one parameter a column (`_columns`): its ids from the table's
    sequence in the rows' order, returned in that order; or, `numbered`, at ids the write took from the sequence
    before it (`_head_and_numbers`)."""
    columns = "notification_id, " if numbered else ""
    ids = f"{_NUMBERS}, " if numbered else ""
    returning = "" if numbered else " RETURNING notification_id"
    return SQL(
        f"INSERT INTO {{s}}.{{events}} AS t ({columns}originator_id, originator_version, topic, state) "  # noqa: S608
        f"SELECT * FROM unnest({ids}%b::{{id_type}}[], {_NUMBERS}, %b::text[], %b::bytea[]){returning}"
    ).format(s=Identifier(schema), events=Identifier(events), id_type=SQL(originator_id_type))


_NUMBERS = "string_to_array(%b, ',')::bigint[]"
"""A column of integers sent as one comma-separated text (`_numbers`), which the server splits: psycopg dumps a list
as an array in Python, an element at a time (250 integers: 41 µs against 25 µs joined; 250 of the seals' hashes,
joined the same way by `_seal_columns`: 60 µs against 3 µs)."""


def _numbers(values: Iterable[int]) -> str:
    return ",".join(map(str, values))


def _seal_columns(seals: Sequence[Seal]) -> tuple[str | list[str], ...]:
    """The columns of `seals` as the seals' insert takes them: the numbers and the hashes (hexadecimal digits) each
    one comma-separated text, the aggregates' ids (any text) one array."""
    ids, originators, versions, bodies, aggregates, chains = zip(*seals, strict=True)
    return (
        _numbers(ids),
        list(originators),
        _numbers(versions),
        ",".join(bodies),
        ",".join(aggregates),
        ",".join(chains),
    )


def _head_and_numbers(schema: str, events: str) -> Composed:
    """The last seal and the bounds of the events after it (`_head_and_bounds`), with `last_number`: the last of the
    next notification ids of the events table's sequence, as many as asked, taken at once. The library's insert takes
    them from the sequence one row at a time; a write takes them before it inserts, so that its seals are chained
    while the server inserts its events. Taken under the events table's lock, which every writer of the table takes
    first (`_lock_table`): no other write takes one between the two calls (one taken from the sequence otherwise
    would make the insert fail on the table's unique notification ids, never store two events at one)."""
    head = _head_and_bounds("{s}.{seals}", "{s}.{events}", "notification_id")
    return SQL(
        f"SELECT b.*, setval(q.sequence, nextval(q.sequence) + %s - 1) AS last_number FROM ({head}) AS b "  # noqa: S608
        "CROSS JOIN (SELECT pg_get_serial_sequence({table}, 'notification_id')::regclass AS sequence) AS q"
    ).format(
        s=Identifier(schema),
        seals=Identifier(_postgres_names(events)[0]),
        events=Identifier(events),
        table=Literal(f'"{schema}"."{events}"'),
    )


def _heads_at(schema: str, events: str) -> Composed:
    """The seals at given (aggregate, version)s, read ahead of a write, with the stored events at them: the index pages
    the write's own insert reads next; one seek in each table's (originator id, version) index an aggregate. The ids
    (UUIDs) and versions are each one comma-separated text: dumping a thousand-element array costs milliseconds of
    the client's time, joining text microseconds."""
    return SQL(
        "SELECT s.originator_id, s.originator_version, s.aggregate_hash "
        "FROM unnest(string_to_array(%s, ',')::uuid[], string_to_array(%s, ',')::bigint[]) AS wanted (id, version) "
        "JOIN {s}.{seals} AS s ON s.originator_id = wanted.id::text AND s.originator_version = wanted.version "
        "WHERE EXISTS (SELECT FROM {s}.{events} AS e "
        "WHERE e.originator_id = wanted.id AND e.originator_version = wanted.version)"
    ).format(s=Identifier(schema), events=Identifier(events), seals=Identifier(_postgres_names(events)[0]))


def _composed(pair: tuple[str, str], q: Callable[[str], Composed]) -> tuple[Composed, Composed]:
    return q(pair[0]), q(pair[1])


@runtime_checkable
class SealedStore(Protocol):
    """What a sealing recorder offers to checkpoints and verification."""

    def store_id(self) -> str | None: ...

    def sealed_head(self, since: Head | None = None) -> Head | None: ...

    def read_seals(self, after: int, limit: int) -> list[Seal]: ...

    def read_rows(self, after: int, limit: int) -> list[StoredRow]: ...

    def max_notification_id(self) -> int | None: ...

    def seals_by_aggregate(self, page: int) -> Iterator[Seal]: ...

    def versions_by_aggregate(self, page: int) -> Iterator[tuple[int, str, int]]: ...


class SealingAbortedError(BaseException):
    """An error of the sealing (not of the database) carried out of the library's PostgreSQL insert: that insert
    catches every `Exception` inside its transaction and commits before raising it again, which would store the
    events unsealed while their caller is told the write failed. Not an `Exception`, this one escapes the
    transaction, which then rolls back; `insert_events` raises the error it carries."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def _carried_out() -> Iterator[None]:
    """Carries an error of the sealing out of the library's PostgreSQL insert, inside whose transaction it comes
    (`SealingAbortedError`). A database's error passes as it is: its transaction is aborted (the library's COMMIT
    rolls it back, then raises it, or attempts the write again), and a version conflict met as seals are sent behind
    the insert is raised by the library as ever."""
    try:
        yield
    except DatabaseError:
        raise
    except Exception as error:
        raise SealingAbortedError(error) from error


@contextmanager
def _conflict_surfacing(connection: Any) -> Iterator[None]:
    """A version conflict psycopg meets while a large write still sends its parts (it reads the results already in
    as it sends) leaves the write as itself. The pipeline is synced first, so that the library's transaction rolls
    back: left aborted, its commit failed with `PipelineAborted`, an operational error the library attempts the
    whole write again for (ten times, 0.2 s apart, each under the events table's lock), and which a clock tick racing
    another replica's did not take for a conflict (issue 14's replicas, 2026-12-04)."""
    try:
        yield
    except (IntegrityError, PipelineAborted) as error:  # aborted: a command before this one failed
        try:
            with suppress(PipelineAborted), connection.pipeline() as pipeline:  # the commands after it: aborted
                pipeline.sync()  # raises the error of the command that failed, when not raised yet
        except IntegrityError:
            raise  # a conflict
        except DatabaseError:
            raise error from None  # another failure (a plan the table's change made stale): attempted again, as before
        raise


class AggregateHeads:
    """The last seal of the aggregates a recorder sealed itself: (version, aggregate hash), learnt only once the
    transaction holding it has committed, the oldest forgotten first.

    A write asks for the seal of the version just before its own first event's. A remembered seal serves only when
    it is that version: a seal once committed never changes, and an event another writer stored since (another
    process, a replica) makes the versions differ, so the store is asked instead. A transaction that does not
    commit leaves nothing behind: a retry may store other bytes at the same version."""

    def __init__(self, capacity: int = HEADS_REMEMBERED) -> None:
        self._generation = max(1, capacity // 2)
        self._recent: dict[str, tuple[int, bytes]] = {}
        self._older: dict[str, tuple[int, bytes]] = {}
        """The seals remembered, in two generations of half the capacity: once the recent one is full, it becomes the
        older one and the older one is forgotten, at once. Forgetting the oldest seal one at a time cost a tick of
        1,000 flags 20 ms at capacity in a dict (whose first key is found past every key deleted before it), and
        30 ms every twentieth tick in an `OrderedDict` (its table rebuilt): `bench/remembered_seals.py`."""
        self._lock = threading.Lock()
        self._pending = threading.local()
        """What this thread's open transaction sealed, until it commits."""

    def before_each(self, versions: dict[str, int]) -> dict[str, bytes]:
        """The aggregate hash of the seal at `version - 1` of each aggregate id -> version given, those remembered
        (one turn of the lock for all)."""
        with self._lock:
            recent, older = self._recent, self._older
            found = [(i, version, recent.get(i) or older.get(i)) for i, version in versions.items()]
        return {i: head[1] for i, version, head in found if head is not None and head[0] == version - 1}

    def sealed(self, lined: Iterable[Lined]) -> None:
        """The lines of events sealed in this thread's open transaction (in order: an aggregate's last one is its
        head), added to those sealed in it before."""
        pending = getattr(self._pending, "heads", None)
        if pending is None:
            pending = self._pending.heads = {}
        pending.update((line.originator_id, (line.originator_version, line.aggregate)) for line in lined)

    def committed(self) -> None:
        """This thread's transaction committed: its seals are now the store's."""
        self._remember(self.discard())

    def learnt(self, heads: Heads) -> None:
        """Seals read from the store (`look_ahead`): committed, so remembered as this recorder's own are, unless a
        later one of the same aggregate is remembered already."""
        self._remember(heads)

    def _remember(self, heads: Heads) -> None:
        if not heads:
            return
        with self._lock:
            recent, older = self._recent, self._older
            for originator_id, head in heads.items():
                known = recent.get(originator_id) or older.get(originator_id)
                recent[originator_id] = head if known is None or known[0] < head[0] else known  # the last forgotten
                if len(recent) >= self._generation:
                    self._older, self._recent = recent, {}
                    recent, older = self._recent, self._older

    def discard(self) -> dict[str, tuple[int, bytes]]:
        """Forgets (and returns) what this thread's transaction sealed: it rolled back, or has just committed."""
        heads: dict[str, tuple[int, bytes]] = getattr(self._pending, "heads", None) or {}
        self._pending.heads = None
        return heads


@dataclass(frozen=True)
class HeadsAhead:
    """The seals a write chains to, being read on other connections while its events are encoded and inserted
    (`read_ahead`). A seal once committed never changes: one read ahead serves when it is at the version
    just before the write's first event of its aggregate; the write asks the store for any other (one that failed
    to read ahead included)."""

    reads: tuple[Future[Heads], ...] = ()
    known: Known | None = None
    """The seals the write's events chain to known here when it started reading (`_known_heads`), and the aggregates
    they were not known of: a seal once committed never changes, so they serve its insert, which does not look them
    up again (None: not looked up; several writes joined in one transaction look theirs up together)."""
    names: tuple[str, ...] = ()
    """The canonical ids of the write's events, in their order, as `read_ahead` made them to look their seals up:
    the write hashes its events with them instead of making them again (empty: it makes them)."""

    @staticmethod
    def joined(aheads: Iterable[HeadsAhead]) -> HeadsAhead:
        return HeadsAhead(tuple(read for ahead in aheads for read in ahead.reads))

    def heads(self, timeout: float = READ_AHEAD_WAIT) -> Heads:
        """What was read ahead within `timeout` seconds (a read cancelled, failed or still under way gives nothing)."""
        found: Heads = {}
        done, _ = wait(self.reads, timeout=timeout)
        for read in done:
            if not read.cancelled() and read.exception() is None:
                found.update(read.result())
        return found


class _Sealing:
    """Seals every event after the last seal, inside the transaction that inserted it (or at start-up)."""

    _statements: _Statements
    _store_id: str | None = None
    datastore: Any
    select_notifications: Any
    heads: AggregateHeads

    def _known_heads(self, events: Iterable[tuple[Any, int]]) -> Known:
        """The aggregate hash each aggregate of `events` (canonical ids, versions) chains to, when known without
        reading the store: ZERO before an aggregate's first event, else the seal this recorder remembers; and the
        aggregates it is not known of, with their first version in `events`."""
        first: dict[str, int] = {}
        for originator_id, version in events:
            first.setdefault(originator_id, version)
        known = {originator_id: ZERO for originator_id, version in first.items() if version == FIRST_VERSION}
        known |= self.heads.before_each({i: version for i, version in first.items() if version != FIRST_VERSION})
        unknown = {originator_id: version for originator_id, version in first.items() if originator_id not in known}
        return known, unknown

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert (its transaction seals the events, chained to the seals read ahead in `ahead`, if
        any); the aggregates' heads it sealed are remembered once it has committed."""
        self.heads.discard()  # what an earlier insert of this thread sealed and did not commit
        try:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)  # type: ignore[misc]
        except SealingAbortedError as aborted:
            raise aborted.error from None
        self.heads.committed()
        return ids

    def create_table(self) -> None:
        super().create_table()  # type: ignore[misc]
        with self.datastore.transaction(commit=True) as curs:
            self._create_seal_tables(curs)

    def store_id(self) -> str | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._statements.store_id)
            row = curs.fetchone()
        return None if row is None else str(row["value"])

    def sealed_head(self, since: Head | None = None) -> Head | None:
        """The chain head and how many events are sealed, counted from `since` on (a head of this store read before,
        such as the last checkpoint: the seals after it, an index range) rather than from the start."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._statements.store_id)
            store = curs.fetchone()
            store_id = None if store is None else str(store["value"])
            base = since if since is not None and since.store_id == store_id else None
            curs.execute(self._statements.head)
            head = curs.fetchone()
            curs.execute(self._statements.count, (0 if base is None else base.notification_id,))
            count = curs.fetchone()
        if store_id is None or head is None:
            return None
        sealed = int(count["n"]) + (0 if base is None else base.sealed)
        return Head(store_id, int(head["notification_id"]), str(head["chain_hash"]), sealed)

    def read_seals(self, after: int, limit: int) -> list[Seal]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._statements.seals_after, (after, limit))
            return [_seal(r) for r in curs.fetchall()]

    def read_rows(self, after: int, limit: int) -> list[StoredRow]:
        return _rows(self.select_notifications(start=after, limit=limit, inclusive_of_start=False))

    def seals_by_aggregate(self, page: int) -> Iterator[Seal]:
        """Every seal, aggregate by aggregate in version order, read `page` at a time."""
        for rows in self._keyset_pages(self._statements.seals_by_aggregate, page):
            yield from (_seal(r) for r in rows)

    def versions_by_aggregate(self, page: int) -> Iterator[tuple[int, str, int]]:
        """Every stored event's (notification id, originator id, version), aggregate by aggregate in version order."""
        for rows in self._keyset_pages(self._statements.versions_by_aggregate, page):
            yield from (
                (int(r["notification_id"]), canonical_id(r["originator_id"]), int(r["originator_version"]))
                for r in rows
            )

    def _keyset_pages(self, statements: tuple[str | Composed, str | Composed], page: int) -> Iterator[list[Any]]:
        first, after = statements
        params: tuple[Any, ...] = (page,)
        while True:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute(first if len(params) == 1 else after, params)
                rows = curs.fetchall()
            yield rows
            if len(rows) < page:
                return
            last = rows[-1]
            params = (last["originator_id"], last["originator_version"], last["notification_id"], page)
            del rows, last

    def _create_seal_tables(self, curs: Any) -> None:
        scope = self._statements.scope
        create = [s if isinstance(s, str) else s.as_string(curs) for s in self._statements.create]
        migrations = (Migration(1, "the seals chaining every stored event, the store's id", create),)
        if scope is None:
            apply_migrations(curs, None, self._statements.component, migrations)
        else:
            ledger = Identifier(scope, LEDGER).as_string(curs)
            apply_migrations(Qmark(curs), scope, self._statements.component, migrations, ledger)
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

    def _seal_pending(
        self,
        curs: Any,
        inserted: Sequence[StoredEvent] = (),
        ids: Sequence[int] | None = None,
        found: Any = None,
        ahead: HeadsAhead | None = None,
        lined: list[Lined] | None = None,
    ) -> None:
        """Seals the events after the last seal: the ones just `inserted` (at `ids`) when they are exactly those,
        else as read back from the table. `found`: the `head_and_bounds` row, when already known; `ahead`: the seals
        they chain to, read ahead; `lined`: the inserted events' lines, computed while the server inserted them."""
        store_id = self._read_store_id(curs)
        if found is None:
            curs.execute(self._statements.head_and_bounds)
            found = curs.fetchone()
        head = None if found["notification_id"] is None else found
        after, previous = (0, genesis(store_id)) if head is None else (head["notification_id"], _unhex(head))
        if _exactly_inserted(found, inserted, ids):
            assert ids is not None
            if lined is None:
                lined = self._lined(curs, _event_bytes(inserted), ahead)
        else:
            curs.execute(self._statements.events_after, (after,))
            rows = [_stored_row(r) for r in curs.fetchall()]
            if not rows:
                return
            events = [(r.originator_id, r.originator_version, r.topic, r.state) for r in rows]
            others = None if ahead is None else HeadsAhead(ahead.reads)  # what it knew was of its own events only
            lined, ids = self._lined(curs, events, others), [r.notification_id for r in rows]
        self._send_seals(curs, lined, ids, previous)

    def _send_seals(
        self, curs: Any, lined: list[Lined], ids: Sequence[int], previous: bytes, *, behind_insert: bool = False
    ) -> bytes:
        """Chains the `lined` events stored at `ids` on from the chain hash `previous` and sends their seals' insert,
        `SEALS_SENT_AT_ONCE` at a time on PostgreSQL: the server inserts each part while the next one is chained.
        `behind_insert`: sent behind the events' insert in one pipeline, so never prepared (`_after_first`). Returns
        the last seal's chain hash."""
        size = SEALS_SENT_AT_ONCE if self._statements.columnar else len(lined)
        for start in range(0, len(lined), size):
            seals = chain_lines(lined[start : start + size], ids[start : start + size], previous)
            self._insert_seals(curs, seals, False if behind_insert else _after_first(start))
            previous = bytes.fromhex(seals[-1].chain_hash)
        self.heads.sealed(lined)
        return previous

    def _insert_seals(self, curs: Any, seals: list[Seal], prepare: bool | None) -> None:
        """Sends the insert of `seals` (PostgreSQL: one statement, a column a parameter; SQLite: one a seal)."""
        if self._statements.columnar:
            curs.execute(self._statements.insert_seal, _seal_columns(seals), prepare=prepare)
        else:
            curs.executemany(self._statements.insert_seal, seals)

    def _lined(self, curs: Any, events: list[EventBytes], ahead: HeadsAhead | None) -> list[Lined]:
        return line_events(events, self._previous_heads(curs, events, ahead or HeadsAhead()).__getitem__)

    def _previous_heads(self, curs: Any, events: list[EventBytes], ahead: HeadsAhead) -> dict[str, bytes]:
        """The aggregate hash each aggregate of `events` sealed before chains to (ZERO: none): what `_heads_here`
        knows, and the rest from the store in one query (not one per aggregate: a round trip each)."""
        heads, unknown = self._heads_here(events, ahead)
        if unknown:
            curs.execute(self._statements.aggregate_heads, (self._id_list(sorted(unknown)),))
            heads.update(
                (str(found["originator_id"]), bytes.fromhex(found["aggregate_hash"])) for found in curs.fetchall()
            )
        return heads

    def _heads_here(self, events: list[EventBytes], ahead: HeadsAhead, wait_s: float = READ_AHEAD_WAIT) -> Known:
        """The aggregate hashes `events` chain to known without asking the store (ZERO for those it may have no seal
        of), and the aggregates to ask it about. An aggregate's first event follows nothing, so a batch of new
        aggregates (decisions, referrals) asks nothing; the rest come from this recorder's own last commits (as
        `ahead` found them, when it did: `events` are then the write's own), else from what was read `ahead` within
        `wait_s` seconds."""
        if ahead.known is not None:
            known, unknown = ahead.known[0], dict(ahead.known[1])
        else:
            known, unknown = self._known_heads((event[0], event[1]) for event in events)
        heads = {**dict.fromkeys(unknown, ZERO), **known}  # one the store has no seal of follows nothing, as before
        if unknown and ahead.reads:
            read = ahead.heads(wait_s)
            for originator_id, version in list(unknown.items()):
                found = read.get(originator_id)
                if found is not None and found[0] == version - 1:
                    heads[originator_id] = found[1]
                    del unknown[originator_id]
        return heads, unknown

    def _id_list(self, originator_ids: list[str]) -> Any:
        """The aggregates' ids as one parameter: a JSON array (SQLite's `json_each`), a list (PostgreSQL's `ANY`)."""
        return originator_ids if self._statements.scope is not None else json.dumps(originator_ids)


def _exactly_inserted(found: Any, inserted: Sequence[StoredEvent], ids: Sequence[int] | None) -> bool:
    """The events this transaction inserted are all the table holds after the last seal (consecutive ids, the first
    and last after it: `found`); else they are read back instead."""
    if not inserted or ids is None or len(ids) != len(inserted) or ids[-1] - ids[0] != len(ids) - 1:
        return False
    return bool((found["first"], found["last"]) == (ids[0], ids[-1]))


def _all_known(ahead: HeadsAhead) -> dict[str, bytes] | None:
    """The aggregate hash every aggregate of a write chains to, when `ahead` knows them all."""
    return None if ahead.known is None or ahead.known[1] else ahead.known[0]


def _event_bytes(stored_events: Sequence[StoredEvent], names: Sequence[str] = ()) -> list[EventBytes]:
    """What the events' seals hash; `names`: their canonical ids, when made already (`HeadsAhead.names`)."""
    if len(names) != len(stored_events):
        names = [canonical_id(e.originator_id) for e in stored_events]
    return [(name, e.originator_version, e.topic, bytes(e.state)) for name, e in zip(names, stored_events, strict=True)]


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
        self.heads = AggregateHeads()

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        self._seal_pending(c, stored_events, returning)
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
        self.heads = AggregateHeads()
        id_type = datastore.originator_id_type
        self._insert_columns = _columnar_events_insert(datastore.schema, events_table_name, id_type, numbered=False)
        self._insert_numbered = _columnar_events_insert(datastore.schema, events_table_name, id_type, numbered=True)
        self._head_and_numbers = _head_and_numbers(datastore.schema, events_table_name)
        self._after_insert = threading.local()
        """What a thread's insert sent (`_Written`), until the library's sync hands its transaction back."""
        self._heads_at = _heads_at(datastore.schema, events_table_name)
        self.read_ahead_from = READ_AHEAD_FROM
        """From how many aggregates whose seals are not known a write reads them ahead (`read_ahead`)."""
        self._readers: ThreadPoolExecutor | None = None
        self._readers_closed = False
        self._readers_lock = threading.Lock()

    def read_ahead(self, events: Sequence[tuple[Any, int]], least: int | None = None) -> HeadsAhead:
        """From `least` (default `read_ahead_from`, `READ_AHEAD_FROM`) aggregates whose seals are not known here (a
        clock tick's thousand referrals, not one referral's step; a look-ahead reads any number), with ids of the
        library's default type (UUIDs): their seals are read on up to `READ_AHEAD_STREAMS` other connections, a
        contiguous range of ids each, while the caller encodes the events and inserts them. Those reads also visit
        the stored event before each one written: the index pages the insert reads next, which on a store larger than
        the server's cache come from disk, one at a time in the writing backend."""
        least = self.read_ahead_from if least is None else least
        if len(events) < least or self.datastore.originator_id_type != "uuid":
            return HeadsAhead()  # too few events for that many aggregates (a decision, a step): nothing to look at
        names = tuple([canonical_id(originator_id) for originator_id, _ in events])
        known = self._known_heads(zip(names, [version for _, version in events], strict=True))
        unknown = known[1]
        if len(unknown) < least:
            return HeadsAhead(known=known, names=names)
        wanted = sorted(unknown.items())
        streams = max(1, min(READ_AHEAD_STREAMS, len(wanted) // READ_AHEAD_FROM))  # ranges of 64 or more
        size = -(-len(wanted) // streams)
        reads: list[Future[Heads]] = []
        with self._readers_lock:
            if self._readers_closed:  # the application is closing: its writes ask the store
                return HeadsAhead(known=known, names=names)
            if self._readers is None:
                self._readers = ThreadPoolExecutor(READ_AHEAD_STREAMS, thread_name_prefix="seals-ahead")
            for i in range(0, len(wanted), size):
                try:
                    reads.append(self._readers.submit(self._read_heads, wanted[i : i + size]))
                except RuntimeError:  # the interpreter is shutting down: no new thread
                    break
        return HeadsAhead(tuple(reads), known, names)

    def _read_heads(self, wanted: list[tuple[str, int]]) -> Heads:
        """The seals before `wanted` (canonical UUID, first version written) and the stored events they seal."""
        ids = ",".join(originator_id for originator_id, _ in wanted)
        versions = ",".join(str(version - 1) for _, version in wanted)
        with (
            self.datastore.pool.connection(READ_AHEAD_CONNECTION_WAIT) as connection,
            connection.transaction(force_rollback=True),
            connection.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(  # this transaction's limits: a read waits for no lock, and outlives its write by little
                "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                (READ_AHEAD_LOCK_TIMEOUT, f"{int(READ_AHEAD_WAIT * 2000)}ms"),
            )
            curs.execute(self._heads_at, (ids, versions))
            return {str(i): (int(v), bytes.fromhex(h)) for i, v, h in curs.fetchall()}

    def close_reads_ahead(self) -> None:
        """Stops the connections reading seals ahead (before the datastore closes); later writes read nothing ahead."""
        with self._readers_lock:
            readers, self._readers = self._readers, None
            self._readers_closed = True
        if readers is not None:
            readers.shutdown(wait=True, cancel_futures=True)

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's insert (under its table lock), and the events' seals in the same transaction, one of two ways.

        A write of more than a part of events (`ENCODED_PART`: a clock tick's flags) first asks what it needs of the
        store (`_before_insert`, one round trip): its chain's head, the ids its events take, the seals it neither
        knows nor reads ahead. Then it sends each part's insert at those ids, and when it knows every seal they chain
        to, that part's seals behind it: the server inserts both while the next part is encoded, and the library's
        sync returns once all are stored. Before, the seals were chained once every id was back: the write waited for
        the server to insert all the events, then for it to insert all the seals.

        A smaller write (a request's, a batch of decisions) sends its insert, which takes its ids from the sequence and
        returns them, and reads the chain's head after it in the same round trip; its seals go with the commit. Taking
        its ids first would cost it a round trip more under the lock, for a few seals to send.

        The events go as one parameter a column instead of one array of composites (psycopg dumps those as text, one
        regular expression per field, and the server parses them back: 4x the time of the whole insert for a thousand
        events): a binary array, or for the integers one comma-separated text (`_NUMBERS`), as the seals' hashes.
        Without the library's `NOTIFY`: nothing here listens (the library's `subscribe` is not used: relays are woken
        in their process and poll the log), and each one was a statement more a write and a turn on the server's
        notification queue lock at every commit."""
        self._lock_table(curs)
        ahead = kwargs.get("ahead") or HeadsAhead()
        if len(stored_events) <= ENCODED_PART:
            self._insert_returning(curs, stored_events, ahead)
            return
        store_id = self._read_store_id(curs)
        found, ids, ahead = self._before_insert(curs, stored_events, ahead)
        previous = genesis(store_id) if found["notification_id"] is None else _unhex(found)
        heads = _all_known(ahead) if found["first"] is None else None  # else those stored unsealed before are too
        with _conflict_surfacing(curs.connection):
            aggregates: dict[str, bytes] = {}  # each aggregate's hash at its last event lined so far
            sent = 0
            for part in _parts(stored_events):
                numbers = ids[sent : sent + len(part)]
                columns = (_numbers(numbers), *self._columns(part))
                curs.execute(self._insert_numbered, columns, binary=True, prepare=_after_first(sent))
                if heads is not None:  # the part's seals, chained while the server inserts it, sent behind it
                    with _carried_out():
                        names = ahead.names[sent : sent + len(part)]
                        part_lined = line_events(_event_bytes(part, names), heads.__getitem__, aggregates)
                        previous = self._send_seals(curs, part_lined, numbers, previous, behind_insert=True)
                sent += len(part)
            sealed = heads is not None
            if not sealed and found["first"] is None:  # the seals being read ahead may all be in by now
                with _carried_out():
                    all_lined = self._lined_ahead(stored_events, ahead)
                    if all_lined is not None:
                        self._send_seals(curs, all_lined, ids, previous, behind_insert=True)
                sealed = all_lined is not None
        self._after_insert.written = _Written(ahead, ids, found, sealed)

    def _insert_returning(self, curs: Any, stored_events: Sequence[StoredEvent], ahead: HeadsAhead) -> None:
        """A small write's insert, its ids returned (a cursor a statement: `STATEMENT_BYTES`), the read of the chain's
        head after it, and its lines computed while the server inserts. The head's read is never prepared: psycopg
        prepares a statement at its fifth run, and when the insert before it fails (a version conflict) the server
        skips the preparation while psycopg counts it done; the conflict was then raised as "prepared statement does
        not exist"."""
        returning: list[Any] = []
        sent = 0
        for part in _parts(stored_events):
            inserting = curs if sent == 0 else curs.connection.cursor()
            inserting.execute(self._insert_columns, self._columns(part), binary=True, prepare=_after_first(sent))
            returning.append(inserting)
            sent += len(part)
        head = curs.connection.cursor()
        head.execute(self._statements.head_and_bounds, prepare=False)
        with _carried_out():
            lined = self._lined_ahead(stored_events, ahead)
        self._after_insert.written = _Written(ahead, returning=tuple(returning), head=head, lined=lined)

    def _columns(self, part: Sequence[StoredEvent]) -> tuple[list[Any] | str, ...]:
        """The columns of the events' insert, as the library's insert stores them (the versions as `_NUMBERS`)."""
        return (
            _originator_ids(part, self.datastore.originator_id_type),
            _numbers(e.originator_version for e in part),
            [e.topic for e in part],
            [e.state for e in part],
        )

    def _before_insert(
        self, curs: Any, stored_events: Sequence[StoredEvent], ahead: HeadsAhead
    ) -> tuple[Any, list[int], HeadsAhead]:
        """What a write needs of the store before it inserts, asked in one round trip under its table lock: the last
        seal, the bounds of the events after it and as many notification ids as it has events (`_head_and_numbers`),
        and the seals of the aggregates it neither knows (`_known_heads`) nor reads ahead on other connections;
        `ahead` knowing those too. Never prepared: they follow the lock in the pipeline (`_after_first`).
        A write made a part at a time (`StoredInParts`) knows its aggregates only from its read ahead: reading its
        events' ids here would make them all before the first is sent."""
        known = ahead.known
        if known is None and not ahead.reads and not isinstance(stored_events, StoredInParts):
            known = self._known_heads((canonical_id(e.originator_id), e.originator_version) for e in stored_events)
        unknown = {} if known is None or ahead.reads else known[1]
        curs.execute(self._head_and_numbers, (len(stored_events),), prepare=False)
        with curs.connection.cursor() as asking:
            if unknown:
                asking.execute(self._statements.aggregate_heads, (self._id_list(sorted(unknown)),), prepare=False)
            found = curs.fetchone()
            asked = [(str(row["originator_id"]), row["aggregate_hash"]) for row in asking.fetchall()] if unknown else []
        if known is not None and unknown:  # one the store has no seal of follows nothing
            known = ({**dict.fromkeys(unknown, ZERO), **known[0], **{i: bytes.fromhex(h) for i, h in asked}}, {})
        ids = list(range(found["last_number"] - len(stored_events) + 1, found["last_number"] + 1))
        return found, ids, ahead if known is None else replace(ahead, known=known)

    def _lined_ahead(self, stored_events: Sequence[StoredEvent], ahead: HeadsAhead) -> list[Lined] | None:
        """The events' lines, computed while the server inserts them, when every seal they chain to is known without
        asking the store or waiting (remembered, looked ahead, asked before the insert, or already read ahead);
        None: they are computed once the insert is stored, waiting for reads still under way then, and asking the
        store. Waiting here would make a version conflict wait for reads before it is raised."""
        events = _event_bytes(stored_events, ahead.names)
        heads, unknown = self._heads_here(events, ahead, wait_s=0)
        return None if unknown else line_events(events, heads.__getitem__)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The ids the write's events took; their seals made now when they were not sent behind the insert (still
        inside its transaction, which holds the events table lock): a small write's, chained to its lines computed
        while the server inserted (or to seals asked of the store now), and a larger one's chained to seals read
        ahead that were still being read, or with events stored unsealed before them."""
        written: _Written = self._after_insert.written
        self._after_insert.written = None
        if written.sealed:
            return written.ids
        if written.ids is None:  # a small write's: returned by its insert, the head read after it
            ids: list[int] = []
            for returning in written.returning:
                ids.extend(row["notification_id"] for row in returning.fetchall())
                if returning is not curs:
                    returning.close()
            with written.head as head:
                found = head.fetchone()
        else:
            ids, found = written.ids, written.found
            found = {**found, "first": ids[0], "last": ids[-1]} if found["first"] is None else None
        with _carried_out():
            self._seal_pending(curs, stored_events, ids, found, written.ahead, written.lined)
        return ids


@dataclass(frozen=True)
class _Written:
    """What a thread's insert sent (`_insert_stored_events`), for the library's sync to finish
    (`_fetch_ids_after_insert_events`): what it knew of the seals its events chain to, and either the ids they took
    before the insert, the chain's head before them and whether their seals went behind them, or the cursors of
    its insert (returning the ids) and of the head's read after it, and the events' lines."""

    ahead: HeadsAhead
    ids: list[int] | None = None
    found: Any = None
    sealed: bool = False
    returning: tuple[Any, ...] = ()
    head: Any = None
    lined: list[Lined] | None = None


class StoredInParts(Sequence[StoredEvent]):
    """The stored form of a write's many events (a clock tick's flags), made a part at a time as the PostgreSQL
    recorder's insert asks for it (`_made`): it sends each part's insert once made, and the server inserts it while
    the next part is encoded, instead of waiting for all of them. Read in any other way, it first makes the rest."""

    def __init__(self, events: Sequence[Any], encode: Callable[[Any], StoredEvent]) -> None:
        self._events = events
        self._encode = encode
        self._stored: list[StoredEvent] = []

    def __len__(self) -> int:
        return len(self._events)

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredEvent]: ...

    def __getitem__(self, index: int | slice) -> StoredEvent | Sequence[StoredEvent]:
        return self._all()[index]

    def __iter__(self) -> Iterator[StoredEvent]:
        return iter(self._all())

    def parts(self) -> Iterator[list[StoredEvent]]:
        """Every event's stored form, a part at a time: those made already (by an attempt of the write that failed:
        the library retries it) at once, then `ENCODED_PART` at a time, each part made when asked for."""
        if self._stored:
            yield self._stored[:]
        while len(self._stored) < len(self._events):
            yield self._next_part()

    def _next_part(self) -> list[StoredEvent]:
        start = len(self._stored)
        part = [self._encode(event) for event in self._events[start : start + ENCODED_PART]]
        self._stored += part
        return part

    def _all(self) -> list[StoredEvent]:
        while len(self._stored) < len(self._events):
            self._next_part()
        return self._stored


def encodes_in_parts(recorder: object, events: int) -> bool:
    """Whether a write of so many events to `recorder` is better encoded as it is inserted (`StoredInParts`): more
    than a part, to a PostgreSQL store (SQLite's insert reads them all at once, and waits on no server)."""
    return isinstance(recorder, SealingPostgresProcessRecorder) and events > ENCODED_PART


def _parts(stored_events: Sequence[StoredEvent]) -> Iterator[Sequence[StoredEvent]]:
    """The events to insert, one statement's worth at a time (at most `STATEMENT_BYTES`, and a part of those made a
    part at a time: each is sent before the next is made)."""
    for made in _made(stored_events):
        for start, end in _spans([len(e.state) + len(e.topic) for e in made]):
            yield made[start:end]


def _made(stored_events: Sequence[StoredEvent]) -> Iterator[Sequence[StoredEvent]]:
    """The events, a part at a time when they are made so; a failure to encode one aborts the write (the library's
    transaction would commit what it catches)."""
    if not isinstance(stored_events, StoredInParts):
        yield stored_events
        return
    with _carried_out():
        yield from stored_events.parts()


def _spans(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive [start, end) ranges of items of `sizes` bytes, each of at most `STATEMENT_BYTES` (or one item)."""
    spans, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if total + size > STATEMENT_BYTES and i > start:
            spans.append((start, i))
            start, total = i, 0
        total += size
    return [*spans, (start, len(sizes))]


def _after_first(start: int) -> bool | None:
    """Whether a write's statement starting at item `start` (of its events, or of its seals) may be prepared: its
    first, as psycopg decides (at its fifth run); never one after it, which may follow a failed statement in the
    pipeline, as the last seal's read does (a precaution: no test here has made psycopg miscount one of these)."""
    return None if start == 0 else False


def _originator_ids(stored_events: Sequence[StoredEvent], originator_id_type: str) -> list[UUID] | list[str]:
    """The events' originator ids as the library's insert stores them in a column of that type: a `uuid` column
    parses ids given as text; psycopg dumps a `UUID` into a `text` one as its 32 hex digits."""
    if originator_id_type == "uuid":
        return [i if isinstance(i, UUID) else UUID(i) for i in (e.originator_id for e in stored_events)]
    return [i.hex if isinstance(i, UUID) else i for i in (e.originator_id for e in stored_events)]


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


def read_ahead(recorder: object, events: Iterable[Any]) -> HeadsAhead:
    """Starts reading the seals a write of `events` (domain events) chains to, when its recorder reads ahead."""
    if isinstance(recorder, SealingPostgresProcessRecorder):  # SQLite's reads wait on no server: nothing ahead
        return recorder.read_ahead([(event.originator_id, event.originator_version) for event in events])
    return HeadsAhead()


def look_ahead(recorder: object, positions: Sequence[tuple[Any, int]]) -> int:
    """Reads, before writes at `positions` (aggregate id, first version written) are due, the seals they will chain
    to, and remembers them (a PostgreSQL recorder; elsewhere nothing is read). The reads also visit the stored event
    before each write: the index pages its insert reads next, in the server's cache by then. The write then holds
    the events table's lock only to write. Returns how many seals were read (none for aggregates already known)."""
    if not isinstance(recorder, SealingPostgresProcessRecorder):
        return 0
    heads = recorder.read_ahead(positions, least=1).heads(LOOK_AHEAD_WAIT)  # no write waits: any number, longer
    recorder.heads.learnt(heads)
    return len(heads)


def close_reads_ahead(recorder: object) -> None:
    if isinstance(recorder, SealingPostgresProcessRecorder):
        recorder.close_reads_ahead()


def sealed_head(recorder: object, since: Head | None = None) -> Head | None:
    """The chain head of a recorder's store (None for stores that are not sealed), its count from `since` on."""
    return recorder.sealed_head(since) if isinstance(recorder, SealedStore) else None
