"""The information vault (port `InformationVault`): record information attached to referrals, encrypted at rest, kept
out of every event and topic.

Each person (pseudonymous `subject_id`) has a data key of their own, stored wrapped (AES-GCM) by the vault's master
key; each piece of information is encrypted with the subject's data key. Erasing a person's information is deleting
their data key (crypto-shredding): the ciphertexts stay, unreadable, and the event history is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.cipher import open_aead, seal_aead
from services.common.sqlstore import Connection, Migration, SQLStore
from services.referral.domain import SubjectErasedError

MIGRATIONS = (
    Migration(
        1,
        "subjects' wrapped data keys; information sealed by referral and category",
        (
            "CREATE TABLE IF NOT EXISTS referral_subject_keys (subject_id TEXT PRIMARY KEY, "
            "wrapped_key {blob} NOT NULL)",
            "CREATE TABLE IF NOT EXISTS referral_information (referral_id TEXT NOT NULL, category TEXT NOT NULL, "
            "subject_id TEXT NOT NULL, sealed {blob} NOT NULL, PRIMARY KEY (referral_id, category))",
        ),
    ),
)
"""The vault's tables, version by version (applied at start: `services.common.sqlstore`)."""


def _seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    return seal_aead(AESGCM(key), plaintext, context)


def _open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    return open_aead(AESGCM(key), sealed, context)


class Vault:
    """Stores and reads encrypted record information by referral and category, in SQLite or PostgreSQL; the master
    key is the service's own (`REFERRAL_VAULT_KEY`, or the development key generated under `var/`)."""

    def __init__(self, url: str, master_key: bytes, setting: str = "REFERRAL_VAULT_URL") -> None:
        if len(master_key) != 32:
            raise ValueError("the vault's master key must be 32 bytes")
        self._master = master_key
        self._store = SQLStore(url, setting, "referral-vault", MIGRATIONS)

    def _subject_key(self, db: Connection, subject_id: str, create: bool) -> bytes:
        row = db.execute("SELECT wrapped_key FROM referral_subject_keys WHERE subject_id = ?", (subject_id,)).fetchone()
        if row is not None:
            return _open(self._master, bytes(row[0]), subject_id.encode())
        if not create:
            raise SubjectErasedError("no data key for this person")
        # a replica storing the same person's first information at once: its key is kept, and read back
        db.execute(
            "INSERT INTO referral_subject_keys (subject_id, wrapped_key) VALUES (?, ?) "
            "ON CONFLICT (subject_id) DO NOTHING",
            (subject_id, _seal(self._master, AESGCM.generate_key(bit_length=256), subject_id.encode())),
        )
        return self._subject_key(db, subject_id, create=False)

    def store(self, referral_id: str, subject_id: str, information: Mapping[str, str]) -> None:
        """Stores (or replaces, for an idempotent retry) a referral's information by category."""
        if not information:
            return
        with self._store.connect() as db:
            key = self._subject_key(db, subject_id, create=True)
            for category, text in information.items():
                sealed = _seal(key, text.encode(), f"{referral_id}/{category}".encode())
                # one statement, not a delete then an insert: a replica storing the same retried request at once
                # inserts the row the delete did not see yet, and the insert then failed on the primary key
                db.execute(
                    "INSERT INTO referral_information (referral_id, category, subject_id, sealed) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (referral_id, category) DO UPDATE SET subject_id = excluded.subject_id, "
                    "sealed = excluded.sealed",
                    (referral_id, category, subject_id, sealed),
                )

    def categories(self, referral_id: str) -> list[str]:
        with self._store.connect() as db:
            rows = db.execute(
                "SELECT category FROM referral_information WHERE referral_id = ? ORDER BY category", (referral_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def readable(self, referral_id: str) -> list[str]:
        """The categories whose person still has a data key (none after the person's erasure)."""
        with self._store.connect() as db:
            rows = db.execute(
                "SELECT i.category FROM referral_information i JOIN referral_subject_keys k "
                "ON k.subject_id = i.subject_id WHERE i.referral_id = ? ORDER BY i.category",
                (referral_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def read(self, referral_id: str, categories: list[str]) -> dict[str, str]:
        """Decrypts the named categories (those stored); raises SubjectErasedError after erasure."""
        with self._store.connect() as db:
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
        with self._store.connect() as db:
            cursor = db.execute("DELETE FROM referral_subject_keys WHERE subject_id = ?", (subject_id,))
            return bool(cursor.rowcount)
