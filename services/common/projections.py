"""Projections: durable, indexed read models in a service's own database, kept up to date from its notification log.

A `Projection` owns tables in the database of the service's event store (the same SQLite file, or the same
PostgreSQL schema; a private in-memory SQLite database when the store is in memory). A `Projector` applies each new
event of the application's notification log to it and records the position reached **in the same transaction**, so
every event is applied exactly once in effect, whatever crashes in between. Each projection has a version: when it
differs from the one its tables were built with (a changed schema, or configuration its rows depend on), the tables are
dropped and rebuilt from the first event by themselves; `rls projections rebuild <service>` does it on demand.

Ordering: the PostgreSQL recorder inserts events under an exclusive table lock held until commit, so notification ids
become visible in order (a gap is a rolled-back transaction, never an id still to come); SQLite has one writer.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg.conninfo import make_conninfo

from services.common.eventstore import TrackedApplication
from services.common.writer_lock import WriterLock

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]
Statement = tuple[str, Sequence[Any]]
"""A statement with `?` placeholders and its parameters."""
Progress = Callable[[int, int], None]
"""Called with (events applied so far, events to apply) while catching up."""

BATCH = 500
"""Events applied per transaction."""

SQLITE_CACHE_KIB = 64 * 1024
"""Page cache of each SQLite connection (the default 2 MiB makes index maintenance read the disk once tables grow)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A moment as integer microseconds since the epoch (UTC): exact, ordered, indexable on both databases."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - EPOCH) // MICROSECOND


def moment(value: int) -> datetime:
    return EPOCH + value * MICROSECOND


class StateCodec:
    """Rows' opaque state (an aggregate as it stands) in the store's own encoding: transcoded, compressed and
    encrypted like its events, so a projection keeps nothing in clear that the store encrypts."""

    def __init__(self, app: TrackedApplication) -> None:
        self._mapper = app.mapper

    def encode(self, state: Mapping[str, Any]) -> bytes:
        return self.seal(self._mapper.transcoder.encode(dict(state)))

    def decode(self, data: bytes) -> dict[str, Any]:
        decoded: dict[str, Any] = self._mapper.transcoder.decode(self.open(data))
        return decoded

    def seal(self, data: bytes) -> bytes:
        """Bytes already encoded (a document as the API shows it), compressed and encrypted like the state."""
        if self._mapper.compressor:
            data = self._mapper.compressor.compress(data)
        if self._mapper.cipher:
            data = self._mapper.cipher.encrypt(data)
        return data

    def open(self, data: bytes) -> bytes:
        """What `seal` sealed."""
        data = bytes(data)
        if self._mapper.cipher:
            data = self._mapper.cipher.decrypt(data)
        if self._mapper.compressor:
            data = self._mapper.compressor.decompress(data)
        return data


class Tx:
    """One connection in use: statements are written with `?` placeholders on both databases."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.connection.execute(self._sql(sql), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.dialect == "postgres":
            with self.connection.cursor() as cursor:
                cursor.executemany(self._sql(sql), [tuple(r) for r in rows])
        else:
            self.connection.executemany(sql, [tuple(r) for r in rows])

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def together(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Each statement's rows; on PostgreSQL they travel in one pipeline (one round trip for all)."""
        if self.dialect != "postgres":
            return [self.execute(sql, params) for sql, params in statements]
        with self.connection.pipeline():
            cursors = [self.connection.execute(self._sql(sql), tuple(params)) for sql, params in statements]
        return [list(cursor.fetchall()) if cursor.description else [] for cursor in cursors]


class Database:
    """Connections to the database of an application's event store, from the application's environment."""

    def __init__(self, env: Mapping[str, str]) -> None:
        module = env.get("PERSISTENCE_MODULE", "eventsourcing.popo")
        self.dialect: Dialect = "postgres" if module.endswith("postgres") else "sqlite"
        self._env = env
        self.memory = module.endswith("popo")
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._all: list[Any] = []
        self._guard = threading.Lock()
        self._single = threading.Lock()  # the one connection of an in-memory database

    @property
    def _sqlite_path(self) -> str:
        return ":memory:" if self.memory else self._env.get("SQLITE_DBNAME", ":memory:")

    @property
    def _lock_timeout(self) -> float:
        return float(self._env.get("SQLITE_LOCK_TIMEOUT", 10))

    @property
    def blob(self) -> str:
        return "BYTEA" if self.dialect == "postgres" else "BLOB"

    def _connect(self) -> Any:
        if self.dialect == "postgres":
            options = {
                "dbname": self._env.get("POSTGRES_DBNAME", "postgres"),
                "host": self._env.get("POSTGRES_HOST", "127.0.0.1"),
                "port": self._env.get("POSTGRES_PORT", "5432"),
                "user": self._env.get("POSTGRES_USER", "postgres"),
                "password": self._env.get("POSTGRES_PASSWORD", ""),
            }
            schema = self._env.get("POSTGRES_SCHEMA")
            if schema:
                options["options"] = f"-c search_path={schema}"
            return psycopg.connect(make_conninfo(**options), autocommit=True)
        connection = sqlite3.connect(
            self._sqlite_path, isolation_level=None, check_same_thread=False, timeout=self._lock_timeout
        )
        if not self.memory:
            connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        return connection

    @contextmanager
    def connection(self) -> Iterator[Tx]:
        """A connection of the pool (statements commit one by one unless inside `transaction`)."""
        if self.memory:
            with self._single:
                if not self._all:
                    self._all.append(self._connect())
                yield Tx(self._all[0], self.dialect)
            return
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._connect()
            with self._guard:
                self._all.append(connection)
        try:
            yield Tx(connection, self.dialect)
        finally:
            if _reusable(connection):
                self._idle.put(connection)
            else:  # the next use opens another
                with self._guard:
                    self._all.remove(connection)
                with suppress(Exception):
                    connection.close()

    @contextmanager
    def transaction(self, lock: str) -> Iterator[Tx]:
        """A write transaction, serialised with every other writer of the same `lock` (SQLite: the database, with
        its `WriterLock` held until the connection is back in the pool, rolled back if its commit failed)."""
        if self.dialect == "postgres":
            with self.connection() as tx, tx.connection.transaction():
                tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (lock,))
                yield tx
            return
        writer = WriterLock.for_database(self._sqlite_path)  # None in memory
        with writer.held(self._lock_timeout) if writer else nullcontext(), self.connection() as tx:
            tx.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                tx.execute("ROLLBACK")
                raise
            tx.execute("COMMIT")

    def columns(self, tx: Tx, table: str) -> set[str]:
        """The names of `table`'s columns."""
        if self.dialect == "postgres":
            sql = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND "
            return {str(row[0]) for row in tx.execute(sql + "table_name = ?", (table,))}
        return {str(row[1]) for row in tx.execute(f"PRAGMA table_info({table})")}

    @contextmanager
    def snapshot(self, shared: str, first: Statement | None = None) -> Iterator[tuple[Tx, list[Row]]]:
        """A connection whose statements all see the database as it stood at the first of them (one read-only
        transaction: `REPEATABLE READ` on PostgreSQL, a read transaction of SQLite's WAL), and the rows of `first`, run
        first in it. On PostgreSQL it holds the advisory lock `shared` in shared mode: a writer taking it
        (`Projector._reset`) waits for it, and it for that writer (a snapshot does not cover tables dropped and made
        again after it). That costs two round trips besides its statements: the lock, alone (a transaction whose
        first statement waited for it would have taken its snapshot before), and the transaction's end with the
        lock's release, in one pipeline; its start, with its isolation in one statement, goes in the pipeline of
        `first` (five round trips before)."""
        with self.connection() as tx:
            if self.dialect == "postgres":
                connection = tx.connection
                tx.execute("SELECT pg_advisory_lock_shared(hashtext(?))", (shared,))
                try:
                    begin: Statement = ("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", ())
                    begun = tx.together([begin, first] if first else [begin])
                    yield tx, begun[-1] if first else []
                finally:
                    with suppress(psycopg.Error), connection.pipeline():  # a connection lost has let the lock go
                        connection.execute("COMMIT")  # a read: nothing to undo (in a failed one, the server rolls back)
                        connection.execute("SELECT pg_advisory_unlock_shared(hashtext(%s))", (shared,))
                return
            tx.execute("BEGIN")
            try:
                yield tx, tx.execute(*first) if first else []
            finally:
                tx.execute("COMMIT")  # a read: nothing to undo

    def close(self) -> None:
        with self._guard:
            for connection in self._all:
                connection.close()
            self._all.clear()


def _reusable(connection: Any) -> bool:
    """Whether a connection may go back to the pool: open (the server may have dropped it: a restart, a failover, an
    idle timeout), and in no transaction (a SQLite `COMMIT` that failed, on a full disk say, leaves its `BEGIN
    IMMEDIATE` open, holding the store's write lock: it is rolled back)."""
    try:
        if isinstance(connection, sqlite3.Connection):
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            return True
        idle = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        return not connection.closed and not connection.broken and idle
    except Exception:  # noqa: BLE001 -- a connection that cannot even say so is not reused
        return False


class Projection(ABC):
    """A read model in tables of its own: `apply` is called once per event of the log, inside the transaction that
    records the position it reached. Its `version` names what its rows depend on (schema, configuration)."""

    name: str
    tables: tuple[str, ...]
    topics: frozenset[str] | None = None
    """The topics of the events it applies (None: every event); a read then waits for no other event."""
    indexed: bool = True
    """Whether its topics get a partial index of the events table (a projection read on every request: whether one
    was recorded since is one seek), or are filtered from the events recorded since its position (one read now and
    then, such as a metric's: no index for every write to maintain)."""

    @property
    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def schema(self, db: Database) -> Sequence[str]:
        """The statements creating its tables and indexes."""

    @abstractmethod
    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        """Applies a batch of domain events in log order, each with its notification id."""


POSITION = "SELECT position FROM projections WHERE name = ?"
STORED_POSITION = f"({POSITION})"
"""The position a projection's tables were brought to, as stored: never the one a process remembers, which another
process resetting the projection (`rls projections rebuild`) leaves stale."""


class Topics:
    """The events a projection applies (its topics, or every event), read from the application's recorder (a store in
    memory)."""

    create: str | None = None
    pending_sql: str | None = None
    """A seek telling whether one was recorded since the projection's stored position, as one statement (its
    parameter: the projection's name) that can travel with others; None: asked of the recorder (`pending`)."""

    def __init__(self, app: TrackedApplication, topics: frozenset[str] | None) -> None:
        self._recorder = app.recorder
        self._topics = sorted(topics or ())  # none: every topic

    def pending(self, tx: Tx, name: str) -> bool:
        """Whether one was recorded since the projection's stored position."""
        row = tx.one(POSITION, (name,))
        return bool(
            self._recorder.select_notifications(
                start=int(row[0]) if row else 0, limit=1, topics=self._topics, inclusive_of_start=False
            )
        )

    def select(self, tx: Tx, start: int, stop: int, limit: int) -> Sequence[Notification]:
        return self._recorder.select_notifications(
            start=start, limit=limit, stop=stop, topics=self._topics, inclusive_of_start=False
        )


class TopicIndex(Topics):
    """The events a projection applies, in the application's events table. For a projection naming its topics and
    read on every request (`Projection.indexed`), through a partial index of those topics: whether one was recorded
    since its position, and the next of them, are index seeks whatever number of other events (decisions, register
    entries…) were recorded since. Otherwise a range of the table's key from that position."""

    def __init__(self, app: TrackedApplication, db: Database, projection: Projection) -> None:
        super().__init__(app, projection.topics)
        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        self._id = "rowid" if db.dialect == "sqlite" else "notification_id"
        topics = projection.topics or frozenset()
        literals = ", ".join("'" + topic.replace("'", "''") + "'" for topic in sorted(topics))
        where = f"topic IN ({literals}) AND " if topics else ""
        indexed = "topic" if db.dialect == "sqlite" else "notification_id"  # SQLite keeps the rowid in every index
        self.create = (
            f"CREATE INDEX IF NOT EXISTS {projection.name}_topics ON {table} ({indexed}) WHERE topic IN ({literals})"
            if topics and projection.indexed
            else None
        )
        # PostgreSQL plans the stored position (a sub-select) as unknown, a third of the table: without the order, the
        # first row past it looked one seek away in a scan of the table from its first row (1.2 s an idle clock tick
        # at 1M referrals); in the order of the index's key, it is the seek it is.
        ordered = f" ORDER BY {self._id}" if db.dialect == "postgres" else ""
        self.pending_sql: str = f"SELECT 1 FROM {table} WHERE {where}{self._id} > {STORED_POSITION}{ordered} LIMIT 1"  # noqa: S608
        self._select = (
            f"SELECT {self._id}, originator_id, originator_version, topic, state FROM {table} "  # noqa: S608
            f"WHERE {where}{self._id} > ? AND {self._id} <= ? ORDER BY {self._id} LIMIT ?"
        )
        self._uuid = db.dialect == "sqlite"

    def pending(self, tx: Tx, name: str) -> bool:
        return tx.one(self.pending_sql, (name,)) is not None

    def select(self, tx: Tx, start: int, stop: int, limit: int) -> Sequence[Notification]:
        return [
            Notification(
                id=int(row[0]),
                originator_id=UUID(row[1]) if self._uuid else row[1],
                originator_version=int(row[2]),
                topic=row[3],
                state=bytes(row[4]),
            )
            for row in tx.execute(self._select, (start, stop, limit))
        ]


def topics_of(app: TrackedApplication, db: Database, projection: Projection) -> Topics:
    """How a projection finds the events it applies: its store's events table, or the recorder of a store in
    memory."""
    return Topics(app, projection.topics) if db.memory else TopicIndex(app, db, projection)


class ProjectionVersionError(RuntimeError):
    """The store's tables of a projection were rebuilt for another version by another process (a replica of a newer
    release, during a rolling deployment): this process applies nothing into them with the code of its own version,
    whose rows would differ and never be applied again. It is to be replaced (or restarted, to rebuild them back)."""

    def __init__(self, name: str, version: str, stored: str | None) -> None:
        super().__init__(
            f"projection {name}: the store holds version {stored or '(none)'}, this process builds version {version}"
        )


TRACKING = """CREATE TABLE IF NOT EXISTS projections (
    name TEXT PRIMARY KEY, version TEXT NOT NULL, position BIGINT NOT NULL, resets BIGINT NOT NULL DEFAULT 0)"""
RESETS = "SELECT resets FROM projections WHERE name = ?"
"""How many times a projection's tables were dropped and built again (`Projector._reset`): a read that saw it move
while it ran may have read them empty (`Projector.read`)."""
TRACKING_LOCK = "rls-projections-table"
"""What creating `projections` is serialised on: every projection of a store shares it, and two transactions creating
it at once on PostgreSQL (`IF NOT EXISTS` or not) fail one with a unique violation in the catalog."""


class Projector:
    """Keeps one projection up to date from an application's notification log (`catch_up`), rebuilds it on demand."""

    def __init__(self, app: TrackedApplication, projection: Projection, batch: int = BATCH) -> None:
        self.app = app
        self.projection = projection
        self.batch = batch
        self.db = Database(app.env)
        self._lock = threading.Lock()
        self._ready = False
        self._resets = 0
        """The projection's `resets` as this process last read it."""
        self._reset_lock = f"rls-projection-reset:{projection.name}"
        """Held shared by each reading (`reading`), alone by a reset of the tables (`_reset`)."""
        self._index = topics_of(app, self.db, projection)

    def _open(self) -> None:
        """Creates the projection's tables, or rebuilds them when they were built for another version."""
        if self._ready:
            return
        with self.db.transaction(TRACKING_LOCK) as tx:  # replicas opening other projections at once
            tx.execute(TRACKING)
            if "resets" not in self.db.columns(tx, "projections"):  # a table made before 2026-12-04
                tx.execute("ALTER TABLE projections ADD COLUMN resets BIGINT NOT NULL DEFAULT 0")
        with self.db.transaction(self.projection.name) as tx:
            if self._index.create:
                tx.execute(self._index.create)
            row = tx.one("SELECT version FROM projections WHERE name = ?", (self.projection.name,))
            if row is None or row[0] != self.projection.version:
                self._reset(tx)
            resets = tx.one(RESETS, (self.projection.name,))
        self._resets = int(resets[0]) if resets else 0
        self._ready = True

    def _reset(self, tx: Tx) -> None:
        if self.db.dialect == "postgres":  # once every reading under way is done, and before any other starts
            tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (self._reset_lock,))
        for table in self.projection.tables:
            tx.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in self.projection.schema(self.db):
            tx.execute(statement)
        tx.execute(
            "INSERT INTO projections (name, version, position) VALUES (?, ?, 0) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0, "
            "resets = projections.resets + 1",
            (self.projection.name, self.projection.version),
        )

    def position(self) -> int:
        """The last event applied (as recorded)."""
        with self._lock:
            self._open()
            with self.db.connection() as tx:
                row = tx.one(POSITION, (self.projection.name,))
        return int(row[0]) if row else 0

    def catch_up(self, progress: Progress | None = None) -> int:
        """Applies every event recorded since the last one applied; returns how many were applied."""
        with self._lock:
            self._open()
            return self._catch_up(progress) if self._pending() else 0

    def _pending(self) -> bool:
        """Whether an event this projection applies was recorded since its stored position (one seek)."""
        with self.db.connection() as tx:
            return self._index.pending(tx, self.projection.name)

    def _catch_up(self, progress: Progress | None = None) -> int:
        head = self.app.recorder.max_notification_id() or 0
        applied, position = 0, -1
        while position < head:
            done, position = self._apply_batch(head)
            applied += done
            if progress is not None:
                progress(position, head)
        return applied

    def _apply_batch(self, head: int) -> tuple[int, int]:
        """Applies the next batch of events up to `head` (only the projection's topics, when it names them) from the
        stored position; returns how many it applied and the position reached."""
        with self.db.transaction(self.projection.name) as tx:
            row = tx.one("SELECT version, position FROM projections WHERE name = ?", (self.projection.name,))
            if row is None or row[0] != self.projection.version:
                raise ProjectionVersionError(
                    self.projection.name, self.projection.version, None if row is None else str(row[0])
                )
            start = int(row[1])
            notifications = self._index.select(tx, start, head, self.batch)
            if notifications:  # none: another process applied them since this one saw them pending
                self.projection.apply(tx, [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications])
            # every id up to `head` is committed (ids become visible in order): a short batch read them all
            position = notifications[-1].id if len(notifications) == self.batch else max(start, head)
            tx.execute("UPDATE projections SET position = ? WHERE name = ?", (position, self.projection.name))
        return len(notifications), position

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drops the projection's rows and applies the whole log again; returns how many events were applied."""
        with self._lock:
            self._open()
            with self.db.transaction(self.projection.name) as tx:
                self._reset(tx)
        return self.catch_up(progress)

    def stored_events(self) -> Iterator[Notification]:
        """The stored events the projection applies, read from the application's events table (through its topics'
        index), not from its own tables: for a reader that may not take the read model's word, which nothing seals.
        In log order, up to the last one recorded when it starts, a batch at a time."""
        if not self._ready:
            with self._lock:
                self._open()
        head = self.app.recorder.max_notification_id() or 0
        start = 0
        while True:
            with self.db.connection() as tx:
                batch = self._index.select(tx, start, head, self.batch)
            yield from batch
            if len(batch) < self.batch:
                return
            start = batch[-1].id

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A connection to query the projection, caught up with everything recorded so far (reads its writes), whose
        statements all see one state of it (`Database.snapshot`): another replica applying events between them, or
        a rebuild beside it emptying its tables, changes nothing they read. Its freshness check is made in that
        snapshot; after a catch-up (outside it), the reading starts again in a new one."""
        if not self._ready:
            with self._lock:
                self._open()
        name = self.projection.name
        pending_sql = self._index.pending_sql
        caught_up = False
        while True:
            seek = (pending_sql, (name,)) if pending_sql is not None and not caught_up else None
            with self.db.snapshot(self._reset_lock, seek) as (tx, found):
                if caught_up or not (found if seek else self._index.pending(tx, name)):
                    yield tx
                    return
            with self._lock:
                self._catch_up()
            caught_up = True

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One query of the projection, caught up with everything recorded so far (as `reading`). The seek telling
        whether anything it applies was recorded since runs with the query on one connection of the pool (on
        PostgreSQL in one round trip instead of two); after a catch-up the query runs again."""
        pending_sql = self._index.pending_sql
        if not self._ready or pending_sql is None:
            with self.reading() as tx:
                return tx.execute(sql, params)
        name = (self.projection.name,)
        caught_up = False
        while True:
            with self.db.connection() as tx:
                pending, rows, resets = tx.together([(pending_sql, name), (sql, params), (RESETS, name)])
            seen = int(resets[0][0]) if resets else 0
            if (caught_up or not pending) and seen == self._resets:  # once caught up, later events may be left
                return rows
            # new events, or the tables were built again since this process last looked: perhaps while the query ran
            # (another process's rebuild: the query then waited for its reset and read the new tables still empty)
            with self._lock:
                self._catch_up()
            self._resets, caught_up = seen, True

    def close(self) -> None:
        self.db.close()


Labels = tuple[str, ...]
Classifier = Callable[[Any], Iterable[Labels]]
"""The label values a stored domain event counts under (none: it is not counted)."""


class EventTally(Projection):
    """Counts of a store's domain events by label values: a projection of the events of the classes it classifies (a
    table of counts in the service's database), so the counts are the store's, the same after a restart and in every
    process on the store, and a scrape applies only the events recorded since the last one. Read it with
    `counts` (a metric: `services.common.metrics.tally_reading`).

    `classify` maps domain event classes to what each counts under; events of other classes are not decoded. Change
    `version` when what an event counts under changes: the counts are then rebuilt from the log."""

    indexed = False  # read at scrapes only: no partial index for every write to maintain

    def __init__(self, name: str, classify: Mapping[type, Classifier], version: str = "1") -> None:
        self.name = name
        self.tables = (name,)
        self.topics = frozenset(get_topic(cls) for cls in classify)
        self._classify = dict(classify)
        self._version = version

    @property
    def version(self) -> str:
        return f"1:{self._version}"

    def schema(self, db: Database) -> Sequence[str]:
        return [f"CREATE TABLE {self.name} (labels TEXT PRIMARY KEY, events BIGINT NOT NULL)"]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        counts: Counter[Labels] = Counter()
        for _, domain_event in events:
            counts.update(self._classify[type(domain_event)](domain_event))
        tx.executemany(
            f"INSERT INTO {self.name} (labels, events) VALUES (?, ?) "  # noqa: S608 -- the projection's own table
            f"ON CONFLICT (labels) DO UPDATE SET events = {self.name}.events + excluded.events",
            [(json.dumps(labels), n) for labels, n in sorted(counts.items())],
        )

    def counts(self, tx: Tx) -> list[tuple[Labels, int]]:
        """The counts by label values, in label order."""
        rows = tx.execute(f"SELECT labels, events FROM {self.name}")  # noqa: S608 -- the projection's own table
        return sorted((tuple(json.loads(labels)), int(n)) for labels, n in rows)
