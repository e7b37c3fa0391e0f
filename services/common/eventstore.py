"""Event store configuration and the application base every service builds on."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    InterfaceError,
    Mapper,
    Notification,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.sqlite import SQLITE3_DEFAULT_LOCK_TIMEOUT, SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment, strtobool
from pydantic import SecretStr

from services.common.group_commit import GroupCommit, Pending
from services.common.integrity import hashing, sealing
from services.common.sqlstore import PostgresTarget, prepared
from services.common.tracing import TracingMapper
from services.common.writer_lock import WriterLock

if TYPE_CHECKING:
    from services.common.composition import Outbox
    from services.common.projections import Projector


STORE_SETTING = "STORE_SETTING"
"""The environment key naming the variable a service's event store URL comes from (for start-up errors)."""


class EventStoreURLError(ValueError):
    """The event store URL is not `memory://`, `sqlite:///<path>` or `postgresql://…`."""


def persistence_env(url: str) -> dict[str, str]:
    """Translates an event store URL into the `eventsourcing` environment it configures."""
    parsed = urlparse(url)
    if parsed.scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if parsed.scheme == "sqlite":
        # As in SQLAlchemy: sqlite:///var/app.db is relative, sqlite:////srv/app.db absolute.
        path = Path(unquote(parsed.path.removeprefix("/")))
        if not path.name:
            raise EventStoreURLError("sqlite event store URL needs a file path: sqlite:///var/app.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    if parsed.scheme in {"postgres", "postgresql"}:
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_POOL_SIZE": options.get("pool_size", "5"),
            "POSTGRES_LOCK_TIMEOUT": options.get("lock_timeout", "5"),
        }
        if "schema" in options:
            env["POSTGRES_SCHEMA"] = options["schema"]
        if "connect_timeout" in options:  # seconds to wait for a connection (the library's default: 30)
            env["POSTGRES_CONNECT_TIMEOUT"] = options["connect_timeout"]
        return env
    raise EventStoreURLError(f"unsupported event store URL scheme {parsed.scheme!r}")


STATEMENT_CACHE = 128
"""Prepared statements each SQLite connection of an event store keeps (sqlite3's default)."""


class StatementCachingPool(SQLiteConnectionPool):
    """The library's pool of SQLite connections, opened with sqlite3's statement cache. The library passes
    `cached_statements=True`, which sqlite3 reads as a cache of one statement: each of a write's statements (begin,
    insert, the last seal, the seal's insert) was parsed and planned again every time, 0.02–0.1 ms each.

    Its connection for writing holds the database's `WriterLock` while it is out: the pool's own lock orders the
    writers of this pool, the `WriterLock` those of other pools and processes on the file (a projection's, another
    API process's), waking the next one as soon as it is free instead of SQLite's sleeping busy handler."""

    @classmethod
    def like(cls, pool: SQLiteConnectionPool) -> StatementCachingPool:
        return cls(
            db_name=pool.db_name,
            lock_timeout=pool.lock_timeout,
            pool_size=pool.pool_size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.pool_timeout,
            max_age=pool.max_age,
            pre_ping=pool.pre_ping,
        )

    def get_connection(self, timeout: float | None = None, *, is_writer: bool | None = None) -> SQLiteConnection:
        connection = super().get_connection(timeout, is_writer=is_writer)
        lock = WriterLock.for_database(self.db_name) if is_writer else None
        if lock is not None:
            try:
                lock.acquire(self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
            except BaseException:
                super().put_connection(connection)
                raise
        return connection

    def put_connection(self, conn: SQLiteConnection) -> None:
        lock = WriterLock.for_database(self.db_name) if conn.is_writer else None
        try:
            super().put_connection(conn)
        finally:
            if lock is not None:
                lock.release()

    def _create_connection(self) -> SQLiteConnection:
        try:
            connection = sqlite3.connect(
                self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # autocommit: the library begins its transactions itself
                cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            connection.execute("PRAGMA journal_mode=WAL")
            self.is_journal_mode_wal = True
        connection.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class DateAsISO(Transcoding):
    """Calendar dates in stored events (birth dates, agreement terms, periods), as ISO 8601 text."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class StoreRef:
    """One service's event store as the audit reads it: the service, its application's name (table prefix, checkpoint
    subject), its URL, the key of a store encrypted at rest (replaying decodes events; verification needs no key),
    and how to open its application with its relay's mapping (None: nothing of it is published history)."""

    service: str
    application: str
    url: str
    cipher_key: SecretStr | None = None
    open_outbox: Callable[[Mapping[str, str]], Outbox] | None = None

    @property
    def missing(self) -> bool:
        """A SQLite store whose file does not exist (the service never ran here)."""
        parsed = urlparse(self.url)
        return parsed.scheme == "sqlite" and not Path(unquote(parsed.path.removeprefix("/"))).exists()


def redacted(url: str) -> str:
    """The URL without its password, for `rls info` and logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def collected(objs: Iterable[Any], tracking: Tracking | None) -> ProcessingEvent[Any]:
    """The pending events of `objs` (aggregates or events), as `ProcessingEvent.collect_events` collects them, but
    recognising `Aggregate`s and `DomainEvent`s by their classes first: its runtime-protocol checks cost 15-30 µs
    an object, most of the time it takes to record a thousand events."""
    processing_event: ProcessingEvent[Any] = ProcessingEvent(tracking)
    for obj in objs:
        if isinstance(obj, DomainEvent):
            processing_event.events.append(obj)
        elif isinstance(obj, Aggregate):
            processing_event.events.extend(obj.collect_events())
            processing_event.aggregates[obj.id] = obj
        else:
            processing_event.collect_events(obj)
    return processing_event


class Recordings(Sequence[Recording[Any]]):
    """A write's recordings (the library's: each event with its place in the log), each made when read: most callers
    read none, and a clock tick records a thousand events at once (2-3 ms of its time, made for no reader)."""

    def __init__(self, events: Sequence[Any], stored: Sequence[StoredEvent], ids: Sequence[int]) -> None:
        self._events = events
        self._stored = stored
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Recording[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Recordings: ...

    def __getitem__(self, index: int | slice) -> Recording[Any] | Recordings:
        if isinstance(index, slice):
            return Recordings(self._events[index], self._stored[index], self._ids[index])
        stored = self._stored[index]
        notification = Notification(
            id=self._ids[index],
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=stored.state,
        )
        return Recording(self._events[index], notification)


class TrackedApplication(Application[Any]):
    """An eventsourcing Application whose recorder also stores tracking positions.

    Tracking rows are written in the same transaction as the events they cause: this is what makes
    consumers exactly-once in effect and the outbox relay's position durable. On SQLite and PostgreSQL every
    stored event is also sealed in that transaction (`services.common.integrity`: tamper evidence). Writes without
    a tracking position are group-committed (`services.common.group_commit`): concurrent callers share one
    transaction, and each returns once it has committed. A write of many events to PostgreSQL (a clock tick's flags)
    has a transaction of its own instead, in which it encodes its events a part at a time while the server inserts
    the parts before (`sealing.StoredInParts`).
    """

    recorder: ProcessRecorder
    projectors: tuple[Projector, ...] = ()
    """The service's read models (`services.common.projections`): rebuilt by `rls projections rebuild`."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self._listeners: list[threading.Event] = []
        self.group_commit = GroupCommit(self.write)
        self.reads_in_process = PostgresTarget.of_env(self.env) is None
        """Whether reading the store waits on no network round trip (SQLite, memory): then a read may run on an
        event loop, as the consent decision lane's do."""

    def close(self) -> None:
        self.group_commit.close()
        for projector in self.projectors:
            projector.close()
        sealing.close_reads_ahead(self.recorder)
        super().close()

    def listen(self) -> threading.Event:
        """An event set each time this process records something (relays wake up at once instead of polling)."""
        listener = threading.Event()
        self._listeners.append(listener)
        return listener

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        sealing.use_sealing_recorders(env)
        factory = super().construct_factory(env)
        if isinstance(factory, SQLiteFactory):
            factory.datastore.pool = StatementCachingPool.like(factory.datastore.pool)
        return factory

    def construct_mapper(self) -> Mapper[Any]:
        """Stored events keep the trace context of the request that recorded them (`services.common.tracing`)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=TracingMapper)

    def construct_recorder(self) -> ProcessRecorder:
        """The recorder; on PostgreSQL its schema is prepared first and its tables created under the store's startup
        lock (replicas starting at once)."""
        target = PostgresTarget.of_env(self.env)
        if target is None or not strtobool(self.env.get("CREATE_TABLE") or "yes"):
            return self.factory.process_recorder()
        with prepared(target, self.env.get(STORE_SETTING) or "the event store URL"):
            return self.factory.process_recorder()

    def sealed_head(self) -> hashing.Head | None:
        """The last seal of this application's store (None when the store is not sealed, e.g. in memory)."""
        return sealing.sealed_head(self.recorder)

    def record(self, *objs: Any, tracking: Tracking | None = None) -> Sequence[Recording[Any]]:
        """Saves pending events of `objs` and, atomically with them, the tracking position (if any); returns once
        they are committed (without a tracking position, in a transaction shared with concurrent callers)."""
        processing_event = collected(objs, tracking)
        in_parts = sealing.encodes_in_parts(self.recorder, len(processing_event.events))
        pending = self.encoded(processing_event, in_parts)
        # a tracking position is written with its own events only, as are many events (encoded as they are inserted)
        recordings = self.write(pending) if tracking is not None or in_parts else self.group_commit.record(pending)
        self._recorded()
        return recordings

    async def record_async(self, *objs: Any) -> Sequence[Recording[Any]]:
        """`record` (without a tracking position) for a caller on an event loop: the events are encoded here, and
        written with concurrent callers' by the group commit while the loop goes on."""
        recordings = await self.group_commit.record_async(self.encoded(collected(objs, None)))
        self._recorded()
        return recordings

    def read_seals_ahead(self, positions: Sequence[tuple[Any, int]]) -> int:
        """Reads now the seals that writes due soon at `positions` (aggregate id, first version written) will chain
        to (`sealing.look_ahead`); returns how many were read."""
        return sealing.look_ahead(self.recorder, positions)

    def encoded(self, processing_event: ProcessingEvent[Any], in_parts: bool = False) -> Pending:
        """The events with their stored form, encoded in the caller's context (its trace is stored with them): now,
        or `in_parts` as the caller's own write inserts them (`sealing.StoredInParts`); the seals they chain to are
        read ahead meanwhile, when the recorder does (many aggregates written at once)."""
        ahead = sealing.read_ahead(self.recorder, processing_event.events)
        events = processing_event.events
        encode = cast(TracingMapper, self.mapper).encoder()  # the mapper `construct_mapper` makes
        stored = sealing.StoredInParts(events, encode) if in_parts else [encode(event) for event in events]
        return Pending(processing_event, stored, ahead)

    def write(self, pending: Pending) -> Sequence[Recording[Any]]:
        """Inserts encoded events, and their tracking position if any, in one transaction (what `Application._record`
        does after encoding them)."""
        ids = self.recorder.insert_events(pending.stored, tracking=pending.event.tracking, ahead=pending.ahead)
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in pending.event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        if not ids:  # a recorder without a notification log numbers nothing (as `EventStore.put`)
            return []
        return Recordings(pending.event.events, pending.stored, ids)

    def _recorded(self) -> None:
        """Wakes this process's relays (the library's `_notify` hook, which nothing here overrides, is not called:
        it would need the recordings made)."""
        for listener in self._listeners:
            listener.set()

    def mark_processed(self, tracking: Tracking) -> None:
        """Records a position that caused no event; a concurrent duplicate is not an error."""
        try:
            self.recorder.insert_tracking(tracking)
        except IntegrityError:
            if not self.has_processed(tracking):
                raise

    def has_processed(self, tracking: Tracking) -> bool:
        return self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id)

    def position(self, name: str) -> int:
        """Last tracked position under `name` (0 when nothing was tracked)."""
        return self.recorder.max_tracking_id(name) or 0

    def check_store(self) -> None:
        """Raises when the event store cannot be read (used by /readyz)."""
        self.recorder.max_notification_id()
