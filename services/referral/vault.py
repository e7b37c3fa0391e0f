"""The information vault (port `InformationVault`): record information attached to referrals, encrypted at rest, kept
out of every event and topic.

Each person (pseudonymous `subject_id`) has a data key of their own, stored wrapped (AES-GCM) by the vault's master
key; each piece of information is encrypted with the subject's data key. Erasing a person's information is deleting
their data key (crypto-shredding): the ciphertexts stay, unreadable, and the event history is untouched.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.referral.domain import SubjectErasedError

NONCE_BYTES = 12


class _Connection(Protocol):
    def execute(self, sql: str, params: Any = ...) -> Any: ...


def _seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)


class Vault:
    """Stores and reads encrypted record information by referral and category, in SQLite or PostgreSQL; the master
    key is the service's own (`REFERRAL_VAULT_KEY`, or the development key generated under `var/`)."""

    def __init__(self, url: str, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the vault's master key must be 32 bytes")
        self._master = master_key
        self._url = url
        parsed = urlparse(url)
        self._postgres = parsed.scheme in {"postgres", "postgresql"}
        self._schema = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p).get("schema")
        self._lock = threading.Lock()
        self._memory: sqlite3.Connection | None = None
        if parsed.scheme == "memory":
            self._memory = sqlite3.connect(":memory:", check_same_thread=False)
        elif not self._postgres:
            self._path = Path(unquote(parsed.path.removeprefix("/")))
            self._path.parent.mkdir(parents=True, exist_ok=True)
        self._create_tables()

    @contextmanager
    def _connect(self) -> Iterator[_Connection]:
        if self._postgres:
            dsn = self._url.split("?")[0]
            with psycopg.connect(dsn, autocommit=False) as connection:
                if self._schema:
                    connection.execute(f"SET search_path TO {self._schema}")  # generated identifier (tests)
                yield _PgAdapter(connection)
            return
        with self._lock:
            lite = self._memory or sqlite3.connect(self._path, timeout=10)
            try:
                with lite:
                    yield lite
            finally:
                if self._memory is None:
                    lite.close()

    def _create_tables(self) -> None:
        blob = "BYTEA" if self._postgres else "BLOB"
        with self._connect() as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS referral_subject_keys (subject_id TEXT PRIMARY KEY, "
                f"wrapped_key {blob} NOT NULL)"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS referral_information (referral_id TEXT NOT NULL, "
                f"category TEXT NOT NULL, subject_id TEXT NOT NULL, sealed {blob} NOT NULL, "
                f"PRIMARY KEY (referral_id, category))"
            )

    def _subject_key(self, db: _Connection, subject_id: str, create: bool) -> bytes:
        row = db.execute("SELECT wrapped_key FROM referral_subject_keys WHERE subject_id = ?", (subject_id,)).fetchone()
        if row is not None:
            return _open(self._master, bytes(row[0]), subject_id.encode())
        if not create:
            raise SubjectErasedError("no data key for this person")
        key = AESGCM.generate_key(bit_length=256)
        db.execute(
            "INSERT INTO referral_subject_keys (subject_id, wrapped_key) VALUES (?, ?)",
            (subject_id, _seal(self._master, key, subject_id.encode())),
        )
        return key

    def store(self, referral_id: str, subject_id: str, information: Mapping[str, str]) -> None:
        """Stores (or replaces, for an idempotent retry) a referral's information by category."""
        if not information:
            return
        with self._connect() as db:
            key = self._subject_key(db, subject_id, create=True)
            for category, text in information.items():
                sealed = _seal(key, text.encode(), f"{referral_id}/{category}".encode())
                db.execute(
                    "DELETE FROM referral_information WHERE referral_id = ? AND category = ?", (referral_id, category)
                )
                db.execute(
                    "INSERT INTO referral_information (referral_id, category, subject_id, sealed) VALUES (?, ?, ?, ?)",
                    (referral_id, category, subject_id, sealed),
                )

    def categories(self, referral_id: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT category FROM referral_information WHERE referral_id = ? ORDER BY category", (referral_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def read(self, referral_id: str, categories: list[str]) -> dict[str, str]:
        """Decrypts the named categories (those stored); raises SubjectErasedError after erasure."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT category, subject_id, sealed FROM referral_information WHERE referral_id = ?", (referral_id,)
            ).fetchall()
            wanted = [row for row in rows if row[0] in categories]
            if not wanted:
                return {}
            key = self._subject_key(db, wanted[0][1], create=False)
        return {row[0]: _open(key, bytes(row[2]), f"{referral_id}/{row[0]}".encode()).decode() for row in wanted}

    def erase_subject(self, subject_id: str) -> bool:
        """Deletes the person's data key: every piece of their information becomes unreadable."""
        with self._connect() as db:
            cursor = db.execute("DELETE FROM referral_subject_keys WHERE subject_id = ?", (subject_id,))
            return bool(cursor.rowcount)


class _PgAdapter:
    """psycopg with sqlite's `?` placeholders, so both backends share the SQL above."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._connection.execute(sql.replace("?", "%s"), params)
