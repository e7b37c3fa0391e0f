"""The sealing PostgreSQL recorder inserts stored events from one parameter a column (a binary array, or the integers'
text): the same rows, notification ids, conflicts and tracking as the library's own insert (an array of composites),
read back by the library unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder

from services.common.integrity.sealing import SealingPostgresProcessRecorder
from tests.conftest import fresh_postgres_store

pytestmark = pytest.mark.integration

TABLE = "counters_events"
SEALS = "counters_seals"


def _datastore(dsn: str, schema: str, originator_id_type: str) -> PostgresDatastore:
    parsed = urlparse(dsn)
    return PostgresDatastore(
        dbname=parsed.path.lstrip("/") or "postgres",
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or "",
        schema=schema,
        originator_id_type=originator_id_type,  # type: ignore[arg-type]
    )


@contextmanager
def _recorder(
    dsn: str, originator_id_type: str = "uuid", *, sealing: bool = True
) -> Iterator[tuple[PostgresProcessRecorder, str]]:
    """A recorder on a schema of its own: the sealing one, or the library's."""
    schema = parse_qs(urlparse(fresh_postgres_store(dsn)).query)["schema"][0]
    datastore = _datastore(dsn, schema, originator_id_type)
    recorder_class = SealingPostgresProcessRecorder if sealing else PostgresProcessRecorder
    recorder = recorder_class(datastore, events_table_name=TABLE)
    recorder.create_table()
    try:
        yield recorder, schema
    finally:
        datastore.close()


def _events(originators: list[uuid.UUID], version: int) -> list[StoredEvent]:
    """Events whose fields exercise the encodings: every byte value, an empty state, non-ASCII topics."""
    return [
        StoredEvent(
            originator_id=originator,
            originator_version=version,
            topic=f"services.referral.domain:Référral.Évent{n}",
            state=bytes(range(256)) * n + b"\x00\\\"'{},()",
        )
        for n, originator in enumerate(originators)
    ]


def _rows(dsn: str, schema: str, table: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(
            psycopg.sql.SQL("SELECT * FROM {}.{} ORDER BY notification_id").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
            )
        ).fetchall()


@pytest.mark.parametrize("originator_id_type", ["uuid", "text"])
def test_columns_insert_the_rows_and_ids_the_librarys_insert_does(postgres_dsn: str, originator_id_type: str) -> None:
    originators = [uuid.uuid4() for _ in range(7)]
    batches = [_events(originators, 1), _events(originators[:3], 2)]
    if originator_id_type == "text":  # a text store takes ids given as strings as well
        batches[1] = [StoredEvent(str(e.originator_id), e.originator_version, e.topic, e.state) for e in batches[1]]
    with (
        _recorder(postgres_dsn, originator_id_type) as (ours, ours_schema),
        _recorder(postgres_dsn, originator_id_type, sealing=False) as (library, library_schema),
    ):
        for batch in batches:
            assert ours.insert_events(batch) == library.insert_events(batch)
        assert _rows(postgres_dsn, ours_schema, TABLE) == _rows(postgres_dsn, library_schema, TABLE)
        # read back by the library's own reading path, unchanged
        reader = PostgresProcessRecorder(ours.datastore, events_table_name=TABLE)
        for originator in originators:
            key = originator if originator_id_type == "uuid" else originator.hex  # how a text store keeps a UUID
            assert reader.select_events(key) == library.select_events(key) != []
        notifications = reader.select_notifications(start=None, limit=100)
        assert [n.id for n in notifications] == list(range(1, 11))
        assert [(n.originator_version, n.topic, n.state) for n in notifications] == [
            (e.originator_version, e.topic, e.state) for batch in batches for e in batch
        ]
        assert len(_rows(postgres_dsn, ours_schema, SEALS)) == 10


def test_a_version_conflict_raises_and_inserts_nothing_nor_the_tracking_position(postgres_dsn: str) -> None:
    originators = [uuid.uuid4() for _ in range(3)]
    with _recorder(postgres_dsn) as (recorder, schema):
        assert recorder.insert_events(_events(originators, 1), tracking=Tracking("upstream", 1)) == [1, 2, 3]
        conflicting = [*_events([uuid.uuid4()], 1), *_events(originators[1:2], 1)]
        with pytest.raises(IntegrityError):
            recorder.insert_events(conflicting, tracking=Tracking("upstream", 2))
        assert len(_rows(postgres_dsn, schema, TABLE)) == 3
        assert len(_rows(postgres_dsn, schema, SEALS)) == 3
        assert recorder.max_tracking_id("upstream") == 1
        ids = recorder.insert_events(_events(originators, 2), tracking=Tracking("upstream", 2))
        assert ids is not None and len(ids) == 3 and ids == sorted(ids) and ids[0] > 3
        assert recorder.max_tracking_id("upstream") == 2


def test_the_insert_needs_not_the_librarys_composite_type(postgres_dsn: str) -> None:
    """The library's insert casts an array of its `stored_event_uuid` composites; ours reads plain columns."""
    with _recorder(postgres_dsn) as (recorder, schema):
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(
                psycopg.sql.SQL("DROP TYPE {}.stored_event_uuid CASCADE").format(psycopg.sql.Identifier(schema))
            )
        assert recorder.insert_events(_events([uuid.uuid4(), uuid.uuid4()], 1)) == [1, 2]
