"""The platform's own tables on SQLite or PostgreSQL (the referral vault, the audit database, the event stores' seals):
one way to open them, in either documented PostgreSQL form (a database per service, or one database with
`?schema=<service>`), and versioned migrations run at start.

- The schema of the `?schema=` form is created when missing; when the user may not create it (or create tables in
  it) start-up stops with an error naming the setting and the grant it needs.
- A component asking many small questions (the console's session checks, one per page) keeps its connections
  (`pool_size`: a psycopg pool, each connection checked when taken, a broken one replaced) instead of opening one per
  transaction; every transaction still reads the database as it stands (nothing is cached).
- Every component lists its migrations (`Migration`: a version and its statements); the ones not yet in the
  `rls_migrations` ledger are applied at start, in one transaction, under a PostgreSQL advisory lock (on SQLite a write
  lock): replicas starting at once apply each migration once, the second waits and finds it done.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

import psycopg
from psycopg import errors
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

LEDGER = "rls_migrations"
"""The table recording which migration of which component was applied (one per SQLite file or PostgreSQL schema)."""


class StoreSetupError(RuntimeError):
    """A store cannot be prepared (schema missing and not creatable, no right to create tables): names the setting."""


class Executes(Protocol):
    """Runs statements with sqlite's `?` placeholders (a sqlite3 connection or cursor, a `Qmark` psycopg one)."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...


class Connection(Executes, Protocol):
    """A transaction on either database, with sqlite's `?` placeholders."""

    def executemany(self, sql: str, params: Any) -> Any: ...

    def commit(self) -> None: ...


@dataclass(frozen=True)
class Migration:
    """One step of a component's tables. Statements may name `{blob}` and `{serial}`, the column types that differ
    between the databases; a first version written as `CREATE … IF NOT EXISTS` adopts tables made before the ledger."""

    version: int
    summary: str
    statements: Sequence[str]


TYPES = {
    False: {"blob": "BLOB", "serial": "INTEGER PRIMARY KEY"},
    True: {"blob": "BYTEA", "serial": "BIGSERIAL PRIMARY KEY"},
}


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL store URL as psycopg reaches it: the DSN (no query) and the schema of the `?schema=` form."""

    dsn: str
    schema: str | None
    user: str
    database: str

    @classmethod
    def of(cls, url: str) -> PostgresTarget | None:
        """None for a URL that is not PostgreSQL."""
        parsed = urlparse(url)
        if parsed.scheme not in {"postgres", "postgresql"}:
            return None
        schema = {k: v[-1] for k, v in parse_qs(parsed.query).items()}.get("schema")
        return cls(
            dsn=parsed._replace(query="").geturl(),
            schema=schema or None,
            user=unquote(parsed.username or "postgres"),
            database=parsed.path.lstrip("/") or "postgres",
        )

    @classmethod
    def of_env(cls, env: Mapping[str, str]) -> PostgresTarget | None:
        """The store an `eventsourcing.postgres` environment (`POSTGRES_*`) configures; None for other modules."""
        if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
            return None
        user = env.get("POSTGRES_USER") or "postgres"
        database = env.get("POSTGRES_DBNAME") or "postgres"
        dsn = make_conninfo(
            host=env.get("POSTGRES_HOST"),
            port=env.get("POSTGRES_PORT"),
            user=user,
            password=env.get("POSTGRES_PASSWORD") or None,
            dbname=database,
        )
        return cls(dsn, env.get("POSTGRES_SCHEMA") or None, user, database)

    @property
    def scope(self) -> str:
        """What advisory locks are taken on: the schema of this store in its database (locks are per database)."""
        return self.schema or "public"


def lock_key(kind: str, scope: str) -> tuple[str, str]:
    """The two texts `pg_advisory_*lock(hashtext(a), hashtext(b))` is taken on."""
    return f"rls-{kind}", scope


def prepare_schema(connection: psycopg.Connection[Any], target: PostgresTarget, setting: str) -> None:
    """Creates the store's schema when missing; raises `StoreSetupError` naming `setting` and the grant needed
    when it cannot be created or tables cannot be created in it."""
    schema = target.scope
    exists = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if exists is None:
        try:
            connection.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        except errors.InsufficientPrivilege as error:
            raise StoreSetupError(
                f"{setting}: schema {schema!r} does not exist and {target.user!r} may not create it — "
                f"GRANT CREATE ON DATABASE {target.database} TO {target.user}, or create it: "
                f"CREATE SCHEMA {schema} AUTHORIZATION {target.user}"
            ) from error
        return
    row = connection.execute("SELECT has_schema_privilege(%s, 'USAGE, CREATE')", (schema,)).fetchone()
    if not (row and row[0]):
        raise StoreSetupError(
            f"{setting}: {target.user!r} may not create tables in schema {schema!r} — "
            f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {target.user}"
        )


@contextmanager
def prepared(target: PostgresTarget, setting: str) -> Iterator[None]:
    """Held while a process creates a store's tables: a session advisory lock on the store's schema, then the schema
    prepared (`prepare_schema`), so that replicas starting at once never race on `CREATE … IF NOT EXISTS`."""
    key = lock_key("startup", target.scope)
    with psycopg.connect(target.dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", key)
        try:
            prepare_schema(connection, target, setting)
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", key)


def apply_migrations(
    db: Executes, scope: str | None, component: str, migrations: Sequence[Migration], ledger: str = LEDGER
) -> list[int]:
    """Applies the migrations of `component` that `ledger` does not list, in version order, in the caller's
    transaction, which on PostgreSQL this serialises first (replicas: one applies, the other then finds them applied;
    on SQLite the caller's transaction holds the write lock). `scope` is the PostgreSQL schema the ledger is in
    (None: SQLite). Returns the versions applied."""
    postgres = scope is not None
    if scope is not None:
        db.execute("SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))", lock_key("migrations", scope))
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {ledger} (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "summary TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))"
    )
    result = db.execute(f"SELECT version FROM {ledger} WHERE component = ?", (component,))  # noqa: S608
    source: Any = db if result is None else result  # the library's SQLite cursor returns nothing: read from it
    rows = source.fetchall()
    done = {row[0] if isinstance(row, tuple) else row["version"] for row in rows}  # tuples, dict rows, sqlite3.Row
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements:
            db.execute(statement.format_map(TYPES[postgres]))
        db.execute(
            f"INSERT INTO {ledger} (component, version, summary, applied_at) VALUES (?, ?, ?, ?)",  # noqa: S608
            (component, migration.version, migration.summary, datetime.now(UTC).isoformat()),
        )
        applied.append(migration.version)
    return applied


class Qmark:
    """A psycopg connection or cursor with sqlite's `?` placeholders, so both databases share the same SQL."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._target.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, params: Any) -> Any:
        if isinstance(self._target, psycopg.Connection):
            with self._target.cursor() as cursor:
                return cursor.executemany(sql.replace("?", "%s"), params)
        return self._target.executemany(sql.replace("?", "%s"), params)

    def commit(self) -> None:
        self._target.commit()


POOL_WAIT_S = 10.0
"""How long a transaction waits for a kept connection (all busy, or the server unreachable) before failing."""


class SQLStore:
    """Tables of one component at a URL: `sqlite:///path`, `memory://` or `postgresql://…[?schema=…]`, its
    migrations applied on opening. `setting` is the variable the URL comes from (named by errors). On PostgreSQL,
    `pool_size` keeps up to that many connections open between transactions (one at least; `close()` ends them);
    without it each transaction opens its own."""

    def __init__(
        self, url: str, setting: str, component: str, migrations: Sequence[Migration], pool_size: int | None = None
    ) -> None:
        parsed = urlparse(url)
        self.url = url
        self.setting = setting
        self.postgres = PostgresTarget.of(url)
        self._lock = threading.Lock()
        self._memory: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        if parsed.scheme == "memory":
            self._memory = sqlite3.connect(":memory:", check_same_thread=False)
        elif self.postgres is None:
            if parsed.scheme != "sqlite":
                raise StoreSetupError(f"{setting}: a URL sqlite:///…, memory:// or postgresql://… is expected")
            self._path = Path(unquote(parsed.path.removeprefix("/")))
            self._path.parent.mkdir(parents=True, exist_ok=True)
        if self.postgres is None:
            with self.connect() as db:
                db.execute("BEGIN IMMEDIATE")
                apply_migrations(db, None, component, migrations)
            return
        with prepared(self.postgres, setting), self.connect() as db:
            apply_migrations(db, self.postgres.scope, component, migrations)
        if pool_size is not None:
            self._pool = ConnectionPool(
                self.postgres.dsn,
                kwargs={"autocommit": False, "application_name": f"rls-{component}"},
                min_size=1,
                max_size=max(1, pool_size),
                configure=self._configure,
                check=ConnectionPool.check_connection,  # a connection the server ended is replaced, not handed out
                timeout=POOL_WAIT_S,
                name=component,
                open=True,
            )

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        """A new kept connection: on the store's schema, left idle (outside a transaction) as the pool expects."""
        assert self.postgres is not None
        connection.execute(SQL("SET search_path TO {}").format(Identifier(self.postgres.scope)))
        connection.commit()

    def close(self) -> None:
        """Ends the kept connections (nothing to do without a pool; the store opens none afterwards)."""
        if self._pool is not None:
            self._pool.close()

    @contextmanager
    def connect(self, pragmas: Mapping[str, str] | None = None) -> Iterator[Connection]:
        """One transaction: committed when the block ends (or at each `commit()`), rolled back on error."""
        if self._pool is not None:
            with self._pool.connection() as kept:  # commits or rolls back, then returns the connection
                yield Qmark(kept)
            return
        if self.postgres is not None:
            with psycopg.connect(self.postgres.dsn, autocommit=False) as connection:
                connection.execute(SQL("SET search_path TO {}").format(Identifier(self.postgres.scope)))
                yield Qmark(connection)
            return
        with self._lock:
            lite = self._memory or sqlite3.connect(self._path or ":memory:", timeout=30)
            try:
                for name, value in (pragmas or {}).items():
                    lite.execute(f"PRAGMA {name}={value}")
                with lite:
                    yield lite
            finally:
                if self._memory is None:
                    lite.close()
