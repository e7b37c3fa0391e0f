"""The event store's SQLite connections keep their prepared statements (the library opens them with a cache of one:
every write parsed and planned each of its statements again)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from services.audit.verification import verify_store
from services.common.eventstore import STATEMENT_CACHE, StatementCachingPool, persistence_env
from tests.unit.test_group_commit import Note, Notes


def test_the_store_connections_cache_their_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[dict[str, Any]] = []
    connect = sqlite3.connect

    def spy(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(kwargs)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", spy)
    url = f"sqlite:///{tmp_path / 'notes.db'}"
    with Notes(env=persistence_env(url)) as app:
        assert isinstance(app.factory.datastore.pool, StatementCachingPool)  # type: ignore[attr-defined]
        notes = [Note(f"note {n}") for n in range(3)]
        app.record(*notes)
        notes[0].amend("amended")
        app.record(notes[0])
        assert app.repository.get(notes[0].id).text == "amended"
        reading = app.recorder.datastore.transaction(commit=False)  # type: ignore[attr-defined]
        with reading as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
        assert verify_store(app.recorder).ok  # type: ignore[arg-type]
    store_connections = [kwargs for kwargs in opened if "cached_statements" in kwargs]
    assert store_connections, "the store opened no connection"
    assert all(kwargs["cached_statements"] == STATEMENT_CACHE for kwargs in store_connections), store_connections
