"""Compose's PostgreSQL server settings, on a real server of this machine: its cache is the size Compose gives it, and
the buffers it held at shutdown are loaded again when it starts (a store of a million referrals ticks its clocks in
0.1–0.2 s with its index pages in the server's buffers, 2.5 s right after a restart without them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from services.deploy import compose
from services.runtime.postgres_local import LocalPostgres, throwaway
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.integration


def with_defaults(value: str) -> str:
    """A Compose value as it is when no variable is set: `${NAME:-default}` is its default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


@pytest.fixture
def server() -> Iterator[LocalPostgres]:
    settings = {name: with_defaults(value) for name, value in compose.POSTGRES_SERVER_SETTINGS.items()}
    with throwaway("rls-pg-compose", free_port(), settings) as postgres:
        yield postgres


def test_composes_postgresql_sizes_its_cache_and_loads_it_again_after_a_restart(server: LocalPostgres) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        assert connection.execute("SHOW shared_buffers").fetchone() == ("2GB",)
        connection.execute(
            "CREATE TABLE pages AS SELECT n, repeat('x', 200) AS filler FROM generate_series(1, 20000) n"
        )
        connection.execute("SELECT count(*) FROM pages").fetchone()  # its pages are now in the server's buffers
    server.restart()
    log = server.base_dir / "server.log"
    prewarmed = re.compile(r"autoprewarm successfully prewarmed (\d+) of (\d+) previously-loaded blocks")
    loaded = wait_for(lambda: prewarmed.findall(log.read_text()), timeout=20)  # its worker loads them after start
    blocks, held = map(int, loaded[-1])
    assert blocks == held > 0, "the server saved its buffers at shutdown and loaded them all at start"
