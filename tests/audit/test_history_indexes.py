"""The audit database's secondary indexes: a replay into an empty database builds them once at the end, and they are
there afterwards (even after a failed or interrupted replay), used by the queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.audit.views import INDEXES, HistoryDB, HistoryRow, utc_text
from tests.audit.test_lean_records import T0


def rows(count: int, start: int = 0) -> list[HistoryRow]:
    return [
        HistoryRow(
            f"id-{n}",
            "history",
            0,
            n,
            "ca.qc.rls.referral.accepted.v1",
            "referral",
            f"referral-{n % 10}",
            utc_text(datetime.fromtimestamp(T0 / 1000 + n, UTC)),
            None,
            f'{{"n": {n}}}',
        )
        for n in range(start, start + count)
    ]


def indexes(history: HistoryDB) -> set[str]:
    sql = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'history_events' AND schemaname = current_schema()"
        if history.postgres
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'history_events'"
    )
    with history.connect() as db:
        return {name for (name,) in db.execute(sql).fetchall()} & set(INDEXES)


def plan(history: HistoryDB, sql: str, *params: str) -> str:
    with history.connect() as db:
        if history.postgres:
            db.execute("SET enable_seqscan = off")  # a few rows: the planner would rather scan them
            return "\n".join(row[0] for row in db.execute("EXPLAIN " + sql, params).fetchall())
        return "\n".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())


def test_a_replay_into_an_empty_database_builds_the_indexes_at_the_end_and_queries_use_them(store_url: str) -> None:
    history, other = HistoryDB(store_url), HistoryDB(store_url)  # a writer holds its handle's connection
    assert indexes(history) == set(INDEXES)

    with history.writer() as writer:
        assert indexes(other) == set()
        writer.write(rows(300))

    assert indexes(history) == set(INDEXES)
    assert [r.offset for r in history.entity_events("referral", "referral-3")] == list(range(3, 300, 10))
    entity = "SELECT seq FROM history_events WHERE kind = ? AND entity_id = ? ORDER BY seq"
    assert "history_entity" in plan(history, entity, "referral", "referral-3")
    by_type = "SELECT seq FROM history_events WHERE type = ? AND effective_at <= ?"
    assert "history_type" in plan(history, by_type, "ca.qc.rls.referral.accepted.v1", "2026")


def test_a_replay_into_a_database_with_events_keeps_its_indexes(store_url: str) -> None:
    history, other = HistoryDB(store_url), HistoryDB(store_url)
    history.ingest(rows(10))

    with history.writer() as writer:
        assert indexes(other) == set(INDEXES)
        writer.write(rows(10, 5))

    assert history.count() == 15


def failing_replay(history: HistoryDB) -> None:
    with history.writer() as writer:
        writer.write(rows(10))
        raise RuntimeError("the broker went away")


def test_the_indexes_are_there_after_a_failed_or_interrupted_replay(store_url: str) -> None:
    history = HistoryDB(store_url)
    with pytest.raises(RuntimeError):
        failing_replay(history)
    assert indexes(history) == set(INDEXES) and history.count() == 10

    with history.connect() as db:  # a replay killed before its end leaves no secondary index
        for name in INDEXES:
            db.execute(f"DROP INDEX {name}")
    assert indexes(HistoryDB(store_url)) == set(INDEXES)
