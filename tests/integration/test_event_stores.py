"""The same application behaviour on both event stores (SQLite file and a real PostgreSQL server)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from services.common.eventstore import persistence_env
from services.referral.application import Referrals, Submission
from services.referral.domain import SubjectErasedError
from services.referral.vault import Vault
from tests.conftest import fresh_postgres_store
from tests.helpers import waiting_on_a_lock
from tests.referral.fakes import FakeDirectory

SUBMISSION = Submission(
    subject_id="S-0001",
    from_org="csss-a",
    from_service="AAOR",
    to_org="org-b",
    to_service="CRISIS_24_7",
    channel="PHONE",
    urgency="URGENT",
    reason_code="FAMILY_CRISIS",
    accompaniment="NONE",
    agreement_id=None,
)


def test_submitted_referral_is_read_back_after_reopening_the_store(store_url: str) -> None:
    with Referrals(env=persistence_env(store_url)) as referrals:
        referral, created = referrals.submit(SUBMISSION, "worker-1", "k-1", FakeDirectory())
    with Referrals(env=persistence_env(store_url)) as reopened:
        again = reopened.get_referral(referral.id)
        replay, created_again = reopened.submit(SUBMISSION, "worker-1", "k-1", FakeDirectory())
    assert created and not created_again
    assert again.to_org == "org-b" and again.status == "SUBMITTED"
    assert replay.id == referral.id


def test_notification_log_orders_events_and_tracks_positions(store_url: str) -> None:
    with Referrals(env=persistence_env(store_url)) as referrals:
        for n in range(5):
            referrals.submit(SUBMISSION, "worker-1", f"k-{n}", FakeDirectory())
        notifications = referrals.recorder.select_notifications(start=0, limit=10, inclusive_of_start=False)
        assert [n.id for n in notifications] == [1, 2, 3, 4, 5]
        assert referrals.position("relay") == 0


def test_record_information_round_trips_through_the_vault_and_erasure_shreds_it(store_url: str, tmp_path: Path) -> None:
    vault_url = store_url if store_url.startswith("postgres") else f"sqlite:///{tmp_path / 'vault.db'}"
    vault = Vault(vault_url, b"k" * 32)
    with Referrals(env=persistence_env(store_url), vault=vault) as referrals:
        referral, _ = referrals.submit(
            SUBMISSION, "worker-1", "k-info", FakeDirectory(), {"CONTACT": "555-0199", "HEALTH": "synthetic"}
        )
    reopened = Vault(vault_url, b"k" * 32)
    assert reopened.read(str(referral.id), ["CONTACT"]) == {"CONTACT": "555-0199"}
    assert reopened.categories(str(referral.id)) == ["CONTACT", "HEALTH"]
    assert reopened.readable(str(referral.id)) == ["CONTACT", "HEALTH"]
    assert reopened.erase_subject(SUBMISSION.subject_id)
    with pytest.raises(SubjectErasedError):
        reopened.read(str(referral.id), ["CONTACT"])
    assert reopened.categories(str(referral.id)) == ["CONTACT", "HEALTH"], "the ciphertexts stay"
    assert reopened.readable(str(referral.id)) == [], "none can be read: none is asked of the consent service"


@pytest.mark.integration
def test_a_replica_storing_the_same_information_at_once_stores_it_and_does_not_fail(postgres_dsn: str) -> None:
    """The same submission (one Idempotency-Key) sent to two replicas: both store its information. The one whose
    row the other inserted first, uncommitted, deleted nothing, then failed on the primary key once that committed:
    a 500 for a referral that was recorded (7 of 100 attempts, 33 with all 11 categories)."""
    url = fresh_postgres_store(postgres_dsn)
    vault = Vault(url, b"k" * 32)
    vault.store("r-before", SUBMISSION.subject_id, {"CONTACT": "555-0100"})  # the person's data key exists
    with psycopg.connect(postgres_dsn) as other:
        other.execute(f"SET search_path TO {url.rsplit('schema=', 1)[1]}")
        other.execute(
            "INSERT INTO referral_information (referral_id, category, subject_id, sealed) VALUES (%s, %s, %s, %s)",
            ("r-same", "CONTACT", SUBMISSION.subject_id, b"sealed by the other replica"),
        )
        with ThreadPoolExecutor(1) as pool:
            stored = pool.submit(vault.store, "r-same", SUBMISSION.subject_id, {"CONTACT": "555-0199"})
            deadline = time.monotonic() + 10
            while not waiting_on_a_lock(postgres_dsn) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not stored.done()
            other.commit()
            stored.result(timeout=10)
    assert vault.read("r-same", ["CONTACT"]) == {"CONTACT": "555-0199"}
