"""With a cipher key, a service's stored events are unreadable without it (the webhook secrets, the pseudonyms…)."""

from __future__ import annotations

from pathlib import Path

from eventsourcing.cryptography import AESCipher

from services.common.service import application_env
from services.referral.application import Referrals
from services.referral.settings import ReferralSettings
from tests.integration.test_event_stores import SUBMISSION
from tests.referral.conftest import FakeDirectory


def stored_bytes(tmp_path: Path, **settings: object) -> bytes:
    store = tmp_path / "referral.db"
    env = application_env(ReferralSettings(event_store=f"sqlite:///{store}", var_dir=tmp_path, **settings))
    with Referrals(env=env) as referrals:
        referrals.submit(SUBMISSION, "worker-1", "k-secret", FakeDirectory())
    return store.read_bytes() + (
        store.with_name("referral.db-wal").read_bytes() if store.with_name("referral.db-wal").exists() else b""
    )


def test_events_are_encrypted_at_rest_when_a_cipher_key_is_set(tmp_path: Path) -> None:
    plain = stored_bytes(tmp_path / "plain")
    encrypted = stored_bytes(tmp_path / "encrypted", cipher_key=AESCipher.create_key(32))
    assert SUBMISSION.subject_id.encode() in plain
    assert SUBMISSION.subject_id.encode() not in encrypted
