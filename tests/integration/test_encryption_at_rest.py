"""Stores are encrypted in every mode (finding 5 of issue 11): in development a key is generated once under var/
(outside git, mode 0600); the pseudonyms, birth dates and free text (a refusal or withdrawal reason) never sit in
plaintext in a store file."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsourcing.cryptography import AESCipher
from fastapi.testclient import TestClient

from services.common.service import application_env
from services.consent.main import build_app as build_consent
from services.consent.settings import ConsentSettings
from services.referral.application import Referrals
from services.referral.settings import ReferralSettings
from tests.helpers import demo_consent
from tests.integration.test_event_stores import SUBMISSION
from tests.referral.fakes import FakeDirectory

Auth = Callable[..., dict[str, str]]
FREE_TEXT = "canary-free-text-7f3a"


def store_files(var: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(var.rglob("*.db*")))


def stored_bytes(tmp_path: Path, **settings: object) -> bytes:
    store = tmp_path / "referral.db"
    env = application_env(ReferralSettings(event_store=f"sqlite:///{store}", var_dir=tmp_path, **settings))
    with Referrals(env=env) as referrals:
        referrals.submit(SUBMISSION, "worker-1", "k-secret", FakeDirectory())
    return store_files(tmp_path)


def test_events_are_encrypted_at_rest_in_every_mode(tmp_path: Path) -> None:
    development = stored_bytes(tmp_path / "dev")
    configured = stored_bytes(tmp_path / "configured", cipher_key=AESCipher.create_key(32))
    assert SUBMISSION.subject_id.encode() not in development
    assert SUBMISSION.subject_id.encode() not in configured
    key_file = tmp_path / "dev" / "referral-cipher-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (tmp_path / "configured" / "referral-cipher-key").exists()


def test_the_development_key_is_kept_so_the_store_stays_readable(tmp_path: Path) -> None:
    stored_bytes(tmp_path)
    env = application_env(ReferralSettings(event_store=f"sqlite:///{tmp_path / 'referral.db'}", var_dir=tmp_path))
    with Referrals(env=env) as referrals:
        assert [r.subject_id for r in referrals.list_referrals()] == [SUBMISSION.subject_id]


def test_no_birth_date_pseudonym_or_free_text_in_a_development_consent_store(
    tmp_path: Path, auth: Auth, dev_key_file: Path
) -> None:
    settings = ConsentSettings(
        var_dir=tmp_path, dev_key_file=dev_key_file, relay_enabled=False, consumers_enabled=False
    )
    with TestClient(build_consent(settings)) as api:
        body = demo_consent("S-CANARY-0042", "org-b", ["CONTACT"], valid_from="2026-01-01")
        consent: Any = api.post("/v1/consents", json=body, headers=auth("csss-a", "intake")).json()
        withdrawn = api.post(
            f"/v1/consents/{consent['id']}/withdraw", json={"reason": FREE_TEXT}, headers=auth("csss-a", "intake")
        )
        assert withdrawn.status_code == 200, withdrawn.text
    stored = store_files(tmp_path)
    assert stored, "the consent service stores its events under var/ by default"
    for secret in (b"S-CANARY-0042", body["subject_birth_date"].encode(), FREE_TEXT.encode()):
        assert secret not in stored
