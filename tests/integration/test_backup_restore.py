"""Backup and restore of the platform's PostgreSQL stores (one database, a schema per service, as deploy/README.md
documents): `pg_dump` of the database, `pg_restore` into a fresh one, then `rls audit verify` reports every store OK
against the checkpoints published before the backup, and `rls audit replay` rebuilds the same states; a restore
tampered with is caught, naming the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from eventsourcing.cryptography import AESCipher

from services.agreements.main import build_application as agreements_application
from services.agreements.settings import AgreementsSettings
from services.audit.main import build_application as audit_application
from services.audit.settings import AuditSettings
from services.common.clock import system_clock
from services.common.integrity.checkpoints import CheckpointPublisher
from services.common.kafka import KafkaPublisher
from services.common.settings import ServiceSettings
from services.consent.main import build_application as consent_application
from services.consent.settings import ConsentSettings
from services.notifications.main import build_application as notifications_application
from services.notifications.settings import NotificationsSettings
from services.referral.main import build_application as referral_application
from services.referral.settings import ReferralSettings
from services.runtime.postgres_local import find_bindir
from tests.referral.fakes import FakeDirectory
from tests.referral.test_clocks import submission

VAULT_KEY = "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0="


@dataclass(frozen=True)
class Platform:
    """The platform's stores in one database (`?schema=<service>`), as its processes' environment names them."""

    database_url: str
    keys: dict[str, str]
    checkpoint_topic: str
    """The test's own: the broker is shared, and another test's store of the same application that published on the
    same topic would be a replaced store (`replaced-store`)."""

    def store(self, service: str) -> str:
        return f"{self.database_url}?schema={service}"

    def env(self, var: Path, bootstrap: str) -> dict[str, str]:
        stores = {f"{s.upper()}_EVENT_STORE": self.store(s) for s in STORES}
        keys = {f"{s.upper()}_CIPHER_KEY": key for s, key in self.keys.items()}
        return {
            **os.environ,
            **stores,
            **keys,
            "AUDIT_DATABASE": self.store("audit_history"),
            "RLS_VAR_DIR": str(var),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "AUDIT_CHECKPOINT_TOPIC": self.checkpoint_topic,
        }

    def rls(self, var: Path, bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.cli", *args]
        return subprocess.run(command, env=self.env(var, bootstrap), capture_output=True, text=True, timeout=300)


def new_database(dsn: str) -> str:
    name = "rls_" + uuid.uuid4().hex[:10]
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + f"/{name}"


SETTINGS = {
    "referral": ReferralSettings,
    "agreements": AgreementsSettings,
    "consent": ConsentSettings,
    "notifications": NotificationsSettings,
    "audit": AuditSettings,
}
STORES = tuple(SETTINGS)
"""The event-sourced services (the standards board keeps no event store)."""
BUILD = {
    "referral": referral_application,
    "agreements": agreements_application,
    "consent": consent_application,
    "notifications": notifications_application,
    "audit": audit_application,
}


def settings_of(platform: Platform, service: str, var: Path) -> ServiceSettings:
    extra = {"vault_key": VAULT_KEY} if service == "referral" else {}
    settings: ServiceSettings = SETTINGS[service](
        event_store=platform.store(service), cipher_key=platform.keys[service], var_dir=var, **extra
    )
    return settings


def seed(platform: Platform, var: Path, bootstrap: str) -> list[str]:
    """Every service's store created; referrals and organisations recorded; each store's checkpoint published (as
    the running platform does). Returns the referral ids."""
    referral_ids = []
    sink = KafkaPublisher(bootstrap, "backup-test")
    try:
        for service in STORES:
            application = BUILD[service](settings_of(platform, service, var))  # type: ignore[operator]
            try:
                if service == "referral":
                    for n in range(3):
                        referral, _ = application.submit(
                            submission("CRISIS_24_7"), "worker-1", f"k-{n}", FakeDirectory(), {"CONTACT": "555-0199"}
                        )
                        referral_ids.append(str(referral.id))
                if service == "agreements":
                    application.register_organisation(
                        "org-b", "Org B", "COMMUNITY_ORGANISATION", "RLS", ["CRISIS_24_7"]
                    )
                CheckpointPublisher(
                    application.recorder,
                    sink,
                    application=application.name,
                    topic=platform.checkpoint_topic,
                    source=f"/rls/{service}",
                ).run_once()
            finally:
                application.close()
    finally:
        sink.close()
    return referral_ids


def dump_and_restore(source_url: str, target_url: str, dump: Path) -> None:
    """What deploy/README.md tells the operator to run."""
    bindir = find_bindir()
    subprocess.run([str(bindir / "pg_dump"), "--format=custom", f"--file={dump}", source_url], check=True)
    subprocess.run([str(bindir / "pg_restore"), "--no-owner", f"--dbname={target_url}", str(dump)], check=True)


def states(platform: Platform, var: Path, bootstrap: str, referral_ids: list[str]) -> list[object]:
    replayed = platform.rls(var, bootstrap, "audit", "replay", "--from-stores", "--no-kafka")
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    tomorrow = (system_clock() + timedelta(days=1)).date().isoformat()
    found = []
    for referral_id in referral_ids:
        answer = platform.rls(var, bootstrap, "audit", "state", "referral", referral_id, "--as-of", tomorrow)
        assert answer.returncode == 0, answer.stderr[-3000:]
        found.append(json.loads(answer.stdout)["state"])
    return found


@pytest.fixture
def platform(postgres_dsn: str) -> Platform:
    topic = f"t{uuid.uuid4().hex[:8]}.rls.audit.checkpoints.v1"
    return Platform(new_database(postgres_dsn), {s: AESCipher.create_key(32) for s in STORES}, topic)


def test_a_restored_backup_verifies_and_replays_to_the_same_states(
    platform: Platform, postgres_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    referral_ids = seed(platform, var, kafka_bootstrap)
    before = states(platform, var, kafka_bootstrap, referral_ids)

    restored = Platform(new_database(postgres_dsn), platform.keys, platform.checkpoint_topic)
    dump_and_restore(platform.database_url, restored.database_url, tmp_path / "rls.dump")

    verified = restored.rls(var, kafka_bootstrap, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr[-3000:]
    for service in STORES:
        assert f"{service}: OK" in verified.stdout, verified.stdout
    assert "referral: OK — 3 events sealed, 1 of 1 checkpoints matched" in verified.stdout
    assert states(restored, var, kafka_bootstrap, referral_ids) == before


def test_a_tampered_restore_is_caught(
    platform: Platform, postgres_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    seed(platform, var, kafka_bootstrap)
    restored = Platform(new_database(postgres_dsn), platform.keys, platform.checkpoint_topic)
    dump_and_restore(platform.database_url, restored.database_url, tmp_path / "rls.dump")
    with psycopg.connect(restored.database_url, autocommit=True) as connection:
        connection.execute(
            # one byte flipped (writing a fixed byte left the state unchanged when it already held it: 1 run in 256)
            "UPDATE referral.referrals_events SET state = set_byte(state, 19, get_byte(state, 19) # 255) "
            "WHERE notification_id = 2"
        )

    verified = restored.rls(var, kafka_bootstrap, "audit", "verify")
    assert verified.returncode == 1, verified.stdout
    assert "referral: FAILED" in verified.stdout
    assert "agreements: OK" in verified.stdout
