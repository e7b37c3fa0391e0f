"""A throw-away PostgreSQL server leaves nothing behind: its directory goes with it, even when it failed to start
(each test run's cluster weighed 100–300 MB in /tmp)."""

from __future__ import annotations

import psycopg
import pytest

from services.runtime.postgres_local import LocalPostgres, PostgresLaunchError, throwaway
from tests.helpers import free_port

pytestmark = pytest.mark.integration


def test_a_throwaway_server_serves_then_its_directory_is_removed() -> None:
    with throwaway("rls-pg-unit", free_port()) as server:
        assert (server.base_dir / "data").is_dir()
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    assert not server.base_dir.exists()


def test_a_server_that_would_not_start_leaves_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[LocalPostgres] = []

    def refused(server: LocalPostgres, action: str) -> None:  # after initdb wrote its cluster
        tried.append(server)
        raise PostgresLaunchError(f"pg_ctl {action} failed")

    monkeypatch.setattr(LocalPostgres, "_pg_ctl", refused)
    with pytest.raises(PostgresLaunchError), throwaway("rls-pg-unit", free_port()):
        pytest.fail("a server that did not start was handed out")
    [server] = tried
    assert not server.base_dir.exists()
