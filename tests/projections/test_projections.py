"""The projection mechanism: exactly once across a crash, versioned, rebuilt from the first event; both stores."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.common.eventstore import persistence_env
from services.common.projections import Database, ProjectionVersionError, Projector, TopicIndex, Tx
from tests.conftest import fresh_postgres_store
from tests.helpers import waiting_on_a_lock
from tests.projections.counting import Counter, Counters, EventCounts, counts, created_only


def seeded(url: str, aggregates: int = 5, increments: int = 6) -> tuple[Counters, dict[str, int]]:
    """A store with `aggregates` counters of 1 + `increments` events each."""
    app = Counters(env=persistence_env(url))
    expected = {}
    for i in range(aggregates):
        counter = Counter(f"c{i}")
        for _ in range(increments):
            counter.increment()
        app.record(counter)
        expected[str(counter.id)] = 1 + increments
    return app, expected


def statements_sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Each statement psycopg connections execute from now on, and whether it went in a pipeline."""
    sent: list[tuple[str, bool]] = []
    execute = psycopg.Connection.execute

    def spied(self: psycopg.Connection[Any], statement: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((str(statement), bool(self.pgconn.pipeline_status)))
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", spied)
    return sent


def run_projector(url: str, *args: int | str) -> int:
    command = [sys.executable, "-m", "tests.projections.counting", url, *map(str, args)]
    return subprocess.run(command, timeout=120, check=False).returncode


def test_each_event_is_applied_once_across_a_sigkill_between_apply_and_commit(store_url: str) -> None:
    app, expected = seeded(store_url)  # 35 events, applied by batches of 10
    assert run_projector(store_url, 25) == -signal.SIGKILL  # dies inside its third batch, after applying events
    projector = Projector(app, EventCounts())
    assert projector.position() == 20  # the two committed batches, not the one in flight
    assert run_projector(store_url) == 0  # a new process resumes from there
    assert counts(projector) == expected
    assert projector.position() == app.recorder.max_notification_id()
    projector.close()
    app.close()


@pytest.mark.parametrize("created", [False, True], ids=["every event", "its topics"])
def test_a_read_after_another_process_reset_the_projection_and_died_halfway_is_complete(
    store_url: str, created: bool
) -> None:
    """`rls projections rebuild` run beside a live service resets the projection, then dies halfway. The live
    process does not trust the position it remembers: its reads catch up from the stored one. Trusting it, they
    served the rebuild's partial rows until the next event of the projection's topics."""
    app, expected = seeded(store_url)  # 35 events, the rebuild applies them by batches of 10
    live = Projector(app, created_only(EventCounts()) if created else EventCounts())
    want = dict.fromkeys(expected, 1) if created else expected
    assert counts(live) == want
    assert run_projector(store_url, 25, "--rebuild", *(["--created"] if created else [])) == -signal.SIGKILL
    assert counts(live) == want
    assert {str(k): int(v) for k, v in live.read("SELECT originator, applied FROM event_counts")} == want
    assert live.position() == app.recorder.max_notification_id()
    live.close()
    app.close()


def test_new_events_are_applied_when_read_and_a_rebuild_gives_the_same_rows(store_url: str) -> None:
    app, expected = seeded(store_url, aggregates=3, increments=2)
    projector = Projector(app, EventCounts(), batch=4)
    assert counts(projector) == expected
    more, more_expected = Counter("late"), {}
    more.increment()
    app.record(more)
    more_expected[str(more.id)] = 2
    assert counts(projector) == {**expected, **more_expected}
    assert projector.rebuild() == sum(expected.values()) + 2
    assert counts(projector) == {**expected, **more_expected}
    projector.close()
    app.close()


def test_a_new_version_rebuilds_the_projection_by_itself(store_url: str) -> None:
    app, expected = seeded(store_url, aggregates=2, increments=1)
    first = Projector(app, EventCounts(version="1"))
    assert counts(first) == expected
    with first.db.transaction("tamper") as tx:  # rows the old version left
        tx.execute("UPDATE event_counts SET applied = 99")
    first.close()
    second = Projector(app, EventCounts(version="2"))
    assert counts(second) == expected
    second.close()
    app.close()


def _read_in_several_statements(projector: Projector, query: str) -> list[Any]:
    with projector.reading() as tx:
        return tx.execute(query)


@pytest.mark.integration
@pytest.mark.parametrize("reader", ["read", "reading"])
def test_a_read_a_rebuild_beside_it_emptied_the_tables_under_is_read_again_complete(
    postgres_dsn: str, reader: str
) -> None:
    """`rls projections rebuild` beside a live replica: the replica's freshness check ran before the rebuild's reset
    committed (nothing pending), its query waited for the reset's lock and read the new tables, still empty. The
    consent service then recorded and answered DENY for a person whose consent was in the store (one wrong answer a
    rebuild under load). `read` now also reads how many times the tables were built again, after its query, and
    reads again once caught up when that moved; `reading` holds a lock a reset waits for, taken before its snapshot."""
    url = fresh_postgres_store(postgres_dsn)
    app, expected = seeded(url)
    live, rebuilding = Projector(app, created_only(EventCounts())), Projector(app, created_only(EventCounts()))
    query = "SELECT originator, applied FROM event_counts"
    assert len(live.read(query)) == len(expected)  # opened, caught up
    with ThreadPoolExecutor(1) as pool, rebuilding.db.transaction(rebuilding.projection.name) as tx:
        rebuilding._reset(tx)  # the tables dropped and made again, not committed yet
        read = pool.submit(live.read if reader == "read" else partial(_read_in_several_statements, live), query)
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock(postgres_dsn) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not read.done()
    assert {str(k): int(v) for k, v in read.result(timeout=10)} == dict.fromkeys(expected, 1)
    live.close()
    rebuilding.close()
    app.close()


@pytest.mark.integration
def test_a_readings_lock_and_snapshot_cost_two_round_trips_on_postgresql(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond its queries, a reading takes its shared lock (a statement alone, before the transaction), begins its
    snapshot with its isolation in one statement sent with its freshness check, and ends it and lets the lock go in
    one pipeline: two round trips more than the check and the queries, where there were five (the lock, `BEGIN`,
    `SET TRANSACTION`, `COMMIT`, the unlock). The lock is let go: a reset takes it at once after."""
    app, expected = seeded(fresh_postgres_store(postgres_dsn), aggregates=2, increments=1)
    projector = Projector(app, created_only(EventCounts()))
    query = "SELECT originator, applied FROM event_counts"
    assert len(projector.read(query)) == len(expected)  # opened, caught up
    recorded = statements_sent(monkeypatch)
    with projector.reading() as tx:
        assert len(tx.execute(query)) == len(expected)
    monkeypatch.undo()
    sent = [(statement.split("(")[0], pipelined) for statement, pipelined in recorded]
    assert [statement for statement, pipelined in sent if not pipelined] == [
        "SELECT pg_advisory_lock_shared",
        query,
    ], sent
    together = [statement for statement, pipelined in sent if pipelined]
    assert together[0] == "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", sent
    assert together[1].startswith("SELECT 1 FROM"), sent  # the freshness check, in the snapshot
    assert together[2:] == ["COMMIT", "SELECT pg_advisory_unlock_shared"], sent
    with projector.db.connection() as tx:
        tx.execute("SET lock_timeout = '1s'")
        tx.execute("SELECT pg_advisory_lock(hashtext(?))", (projector._reset_lock,))
        tx.execute("SELECT pg_advisory_unlock(hashtext(?))", (projector._reset_lock,))
    projector.close()
    app.close()


def test_a_table_of_positions_made_before_the_count_of_resets_gains_it(store_url: str) -> None:
    """A store whose `projections` table was made by the release before: its rows are kept, the column is added."""
    app, expected = seeded(store_url)
    db = Database(app.env)
    with db.transaction("test") as tx:
        tx.execute("CREATE TABLE projections (name TEXT PRIMARY KEY, version TEXT NOT NULL, position BIGINT NOT NULL)")
        tx.execute("INSERT INTO projections (name, version, position) VALUES ('elsewhere', '1', 7)")
    projector = Projector(app, EventCounts())
    assert counts(projector) == expected
    with db.connection() as tx:
        assert tx.execute("SELECT name, position, resets FROM projections WHERE name = 'elsewhere'") == [
            ("elsewhere", 7, 0)
        ]
    projector.close()
    db.close()
    app.close()


class BatchSizes(EventCounts):
    """`EventCounts` noting the size of each batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        self.batches.append(len(events))
        super().apply(tx, events)


def test_a_catch_up_another_process_finished_first_applies_no_empty_batch(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas of a service on one store: both see the same events pending, one applies them first, and the
    other's batch then finds none. It was still handed to the projection, whose query of the batch's referrals was
    `WHERE id IN ()` (a syntax error on PostgreSQL: a read failed on the replica that lost the race)."""
    app, expected = seeded(store_url, aggregates=2, increments=1)
    sizes = BatchSizes()
    first, second = Projector(app, EventCounts()), Projector(app, sizes)
    seen_pending = second._pending
    monkeypatch.setattr(second, "_pending", lambda: seen_pending() and first.catch_up() > 0)
    assert second.catch_up() == 0
    assert sizes.batches == []
    assert counts(second) == expected
    assert second.position() == app.recorder.max_notification_id()
    first.close()
    second.close()
    app.close()


class OtherCounts(EventCounts):
    """A second projection of the same store, with tables of its own."""

    name = "other_counts"
    tables = ("other_counts",)

    def schema(self, db: Database) -> Sequence[str]:
        return ["CREATE TABLE other_counts (originator TEXT PRIMARY KEY, applied BIGINT NOT NULL)"]


def _opened_with(together: threading.Barrier, projector: Projector) -> int:
    """The projector's position, read (and its tables opened) once every party of `together` is ready to."""
    together.wait()
    return projector.position()


@pytest.mark.integration
def test_replicas_opening_other_projections_at_once_on_a_new_store_both_open(postgres_dsn: str) -> None:
    """Two replicas of a service started together on an empty PostgreSQL schema, each reading a view of its own
    first (consent's decisions view and register): both created the projections' tracking table, and one failed
    with a unique violation in the catalog (every time, on this machine)."""
    for _ in range(5):
        url = fresh_postgres_store(postgres_dsn)
        apps = [Counters(env=persistence_env(url)) for _ in range(2)]
        projectors = [Projector(apps[0], EventCounts()), Projector(apps[1], OtherCounts())]
        together = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(partial(_opened_with, together), projectors)) == [0, 0]
        for closing in (*projectors, *apps):
            closing.close()


def test_a_projection_naming_its_topics_applies_only_those_and_moves_past_the_others(store_url: str) -> None:
    app, expected = seeded(store_url, aggregates=3, increments=4)
    created = created_only(EventCounts())
    projector = Projector(app, created, batch=2)
    assert counts(projector) == dict.fromkeys(expected, 1)
    assert projector.position() == app.recorder.max_notification_id()
    projector.close()
    app.close()


def test_a_projection_naming_its_topics_finds_their_next_event_by_an_index_seek(store_url: str) -> None:
    app, expected = seeded(store_url, aggregates=2, increments=1)
    created = created_only(EventCounts())
    projector = Projector(app, created)
    assert counts(projector) == dict.fromkeys(expected, 1)
    position = projector.position()
    other = Counter("other")
    for _ in range(40):  # events of other topics: reads neither apply them nor move past them
        other.increment()
    app.record(other)
    assert counts(projector) == {**dict.fromkeys(expected, 1), str(other.id): 1}
    late = Counter("late")
    late.increment()
    app.record(late)
    assert counts(projector)[str(late.id)] == 1
    assert projector.position() == app.recorder.max_notification_id() > position
    if projector.db.dialect == "sqlite":  # the check is a seek in the partial index of the projection's topics
        index = projector._index
        assert isinstance(index, TopicIndex)
        with projector.db.connection() as tx:
            plan = " ".join(str(row) for row in tx.execute(f"EXPLAIN QUERY PLAN {index.pending_sql}", ("x",)))
        assert f"INDEX {created.name}_topics" in plan
    projector.close()
    app.close()


@pytest.mark.parametrize("topics", ["every topic", "its topics"])
def test_the_freshness_check_seeks_past_the_stored_position_on_either_store(store_url: str, topics: str) -> None:
    """Whether anything was recorded since the projection's stored position is one index seek, not a scan of the
    events from the first (PostgreSQL planned the sub-selected position as unknown: a scan of 20,000 events for
    nothing, 1.2 s an idle tick at 1M referrals)."""
    app, _ = seeded(store_url, aggregates=40, increments=500)
    projection = EventCounts() if topics == "every topic" else created_only(EventCounts())
    projector = Projector(app, projection)
    counts(projector)
    index = projector._index
    assert isinstance(index, TopicIndex)
    explain = "EXPLAIN QUERY PLAN" if projector.db.dialect == "sqlite" else "EXPLAIN"
    with projector.db.connection() as tx:
        if projector.db.dialect == "postgres":
            tx.execute("ANALYZE")  # the statistics autovacuum keeps: the plan of a store in service
        plan = " ".join(str(row) for row in tx.execute(f"{explain} {index.pending_sql}", (projection.name,)))
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    assert f"SCAN {table}" not in plan and f"Seq Scan on {table}" not in plan, plan
    projector.close()
    app.close()


def test_a_read_is_caught_up_and_its_freshness_check_travels_with_the_query(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Projector.read` answers with everything recorded before it (a new event of its topics is applied first, the
    query run again). When nothing was recorded since, the index seek and the query take one connection of the pool
    (checking then querying took two), and on PostgreSQL they go in one pipeline (one round trip)."""
    app, expected = seeded(store_url, aggregates=2, increments=1)
    created = created_only(EventCounts())
    projector = Projector(app, created)
    query = "SELECT originator, applied FROM event_counts"
    assert {str(k): int(v) for k, v in projector.read(query)} == dict.fromkeys(expected, 1)
    late = Counter("late")
    app.record(late)
    assert {str(k): int(v) for k, v in projector.read(query)} == {**dict.fromkeys(expected, 1), str(late.id): 1}
    if projector.db.dialect == "postgres":
        sent = statements_sent(monkeypatch)
        assert len(projector.read(query)) == 3
        assert [pipelined for _, pipelined in sent] == [True, True, True], sent  # with the count of its resets
        assert sent[1][0] == query
    checkouts: list[int] = []
    connection = projector.db.connection

    def counted() -> Any:
        checkouts.append(1)
        return connection()

    monkeypatch.setattr(projector.db, "connection", counted)
    assert len(projector.read(query)) == 3
    assert len(checkouts) == 1
    projector.close()
    app.close()


def test_a_connection_the_server_dropped_fails_one_read_and_is_not_reused(store_url: str) -> None:
    """The pool drops a connection found closed or broken (the server restarted, failed over, or timed it out):
    the read that found it fails, the next ones open another. Put back, it failed every read until a restart."""
    app, expected = seeded(store_url, aggregates=2, increments=1)
    projector = Projector(app, EventCounts())
    assert counts(projector) == expected
    [pooled] = projector.db._all
    if projector.db.dialect == "postgres":
        with psycopg.connect(store_url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pooled.info.backend_pid,))
    else:
        pooled.close()
    with pytest.raises((psycopg.Error, sqlite3.Error)):
        counts(projector)
    assert counts(projector) == expected
    assert counts(projector) == expected
    projector.close()
    app.close()


def test_a_failed_commit_on_sqlite_leaves_no_transaction_holding_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A projection's `COMMIT` that fails (a full disk, an I/O error) is rolled back before its connection goes back
    to the pool: left open, its `BEGIN IMMEDIATE` held SQLite's write lock, and every write of the store timed out."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app, expected = seeded(url, aggregates=2, increments=1)
    projector = Projector(app, EventCounts())
    execute = Tx.execute

    def failing_commit(self: Tx, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return execute(self, sql, params)

    monkeypatch.setattr(Tx, "execute", failing_commit)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        projector.catch_up()
    monkeypatch.undo()
    with Counters(env={**persistence_env(url), "SQLITE_LOCK_TIMEOUT": "1"}) as writer:
        writer.record(Counter("after"))  # not locked out
    assert len(counts(projector)) == len(expected) + 1
    projector.close()
    app.close()


def test_a_process_of_another_version_applies_nothing_into_tables_rebuilt_for_a_newer_one(store_url: str) -> None:
    """A rolling deployment: a replica of the new release rebuilds the projection for its version while a replica of
    the old one still runs. The old one applies nothing more into those tables (its rows would differ, and the new
    version would never apply those events again): it says why, until it is replaced."""
    app, expected = seeded(store_url, aggregates=2, increments=1)
    old = Projector(app, EventCounts("1"))
    assert counts(old) == expected
    new = Projector(app, EventCounts("2"))
    assert counts(new) == expected  # rebuilt for version 2
    late = Counter("late")
    app.record(late)
    with pytest.raises(ProjectionVersionError, match="the store holds version 2, this process builds version 1"):
        old.catch_up()
    assert counts(new) == {**expected, str(late.id): 1}
    assert new.position() == app.recorder.max_notification_id()
    old.close()
    new.close()
    app.close()
