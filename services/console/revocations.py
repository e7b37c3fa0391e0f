"""Sessions ended before their expiry, kept server-side so that a copy of a signed-out cookie opens nothing.

The session cookie is sealed, not stored: deleting it from the browser leaves any copy of it (stolen, or saved before
sign-out) as good as the original. So each session carries a random id (`sid`), and sign-out records that id here
until the session's own expiry; signing out everywhere records the user (`sub`) with the instant before which their
sessions no longer count. Entries past their expiry are purged whenever one is added, so the tables hold only the
sessions of the last few hours. The tables live at `CONSOLE_SESSION_STORE` (`services.common.sqlstore`: SQLite under
`var/` by default, PostgreSQL in production), shared by every console replica and kept across restarts.

Every page asks whether its session was revoked, so on PostgreSQL the connections are kept (`CONNECTIONS` at most
per replica) rather than opened per page; each question is still asked of the database (never answered from memory):
a session revoked by any replica is refused by every replica at its next page.
"""

from __future__ import annotations

import time

from services.common.sqlstore import Connection, Migration, SQLStore

MIGRATIONS = (
    Migration(
        1,
        "sessions signed out, and users signed out everywhere, until the sessions concerned expire",
        (
            "CREATE TABLE IF NOT EXISTS console_revoked_sessions (sid TEXT PRIMARY KEY, "
            "expires_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX IF NOT EXISTS console_revoked_sessions_expiry ON console_revoked_sessions (expires_at)",
            "CREATE TABLE IF NOT EXISTS console_revoked_subjects (sub TEXT PRIMARY KEY, "
            "revoked_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
        ),
    ),
)
"""The revocation tables, version by version (applied at start: `services.common.sqlstore`)."""

CONNECTIONS = 4
"""Kept PostgreSQL connections per replica: a check takes a connection for one short query, so a few serve the
worker threads of a replica's pages (more would only hold server slots)."""


class Revocations:
    """Which sessions were ended early, at a store URL (`sqlite:///…`, `memory://`, `postgresql://…[?schema=…]`)."""

    def __init__(self, url: str, setting: str = "CONSOLE_SESSION_STORE") -> None:
        self._store = SQLStore(url, setting, "console-sessions", MIGRATIONS, pool_size=CONNECTIONS)

    def close(self) -> None:
        """Ends the store's kept connections (the console's shutdown)."""
        self._store.close()

    def revoke(self, sid: str, expires_at: float) -> None:
        """The session `sid` is refused from now until it would have expired."""
        with self._store.connect() as db:
            db.execute(
                "INSERT INTO console_revoked_sessions (sid, expires_at) VALUES (?, ?) ON CONFLICT (sid) DO NOTHING",
                (sid, expires_at),
            )
            _purge(db, time.time())

    def revoke_subject(self, sub: str, lifetime_s: float) -> None:
        """Every session of `sub` issued until now is refused (those issued later are not); `lifetime_s` is the
        longest a session lasts, after which the entry is purged."""
        now = time.time()
        with self._store.connect() as db:
            db.execute(
                "INSERT INTO console_revoked_subjects (sub, revoked_at, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (sub) DO UPDATE SET revoked_at = excluded.revoked_at, expires_at = excluded.expires_at",
                (sub, now, now + lifetime_s),
            )
            _purge(db, now)

    def revoked(self, sid: str, sub: str, issued_at: float) -> bool:
        """Whether the session `sid` of `sub`, issued at `issued_at`, was signed out (itself or everywhere)."""
        with self._store.connect() as db:
            row = db.execute(
                "SELECT EXISTS (SELECT 1 FROM console_revoked_sessions WHERE sid = ?) "
                "OR EXISTS (SELECT 1 FROM console_revoked_subjects WHERE sub = ? AND revoked_at >= ?)",
                (sid, sub, issued_at),
            ).fetchone()
        return bool(row[0])


def _purge(db: Connection, now: float) -> None:
    """Drops the entries of sessions that have expired anyway (their cookies open nothing any more)."""
    db.execute("DELETE FROM console_revoked_sessions WHERE expires_at <= ?", (now,))
    db.execute("DELETE FROM console_revoked_subjects WHERE expires_at <= ?", (now,))
