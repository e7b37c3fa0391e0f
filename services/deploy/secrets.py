"""`rls deploy secrets`: every secret file the Compose platform mounts, made once under `deploy/compose/secrets/`
(outside git; the directory is 0700, each file 0644 so the containers' own users can read their bind mount).

Existing files are kept: running it again only fills what is missing. The referral service's own token is the one
secret it cannot make: it comes from the identity provider.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from eventsourcing.cryptography import AESCipher

from services.deploy.compose import (
    KAFKA_ADMIN_PASSWORD,
    KAFKA_CA,
    KAFKA_JAAS,
    KAFKA_KEYSTORE,
    KAFKA_KEYSTORE_PASSWORD,
    POSTGRES_ROLES,
    all_secret_refs,
    postgres_url,
)
from services.deploy.platform import SERVICE_TOKEN, SecretRef, store_secret
from services.runtime.kafka_security import ADMIN, write_broker_material
from services.runtime.registry import SERVICES

BROKER_NAMES = ("kafka", "localhost", "127.0.0.1")
"""The names the Compose broker's certificate holds (its service name, and the host's for establishments)."""
AUDIT_HISTORY_SCHEMA = "history"
JAAS = """\
KafkaServer {{
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="{admin}" password="{password}" user_{admin}="{password}";
    org.apache.kafka.common.security.scram.ScramLoginModule required;
}};
"""
"""The broker's logins: the super user on PLAIN (controller and internal listeners), SCRAM for everyone else."""


def _key_of_32_bytes() -> str:
    """base64 of 32 random bytes (the vault's master key, the console's session key)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class SecretsMaker:
    """Makes each secret file the first time it is asked for (and those it derives from)."""

    def __init__(self, directory: Path, broker_names: Sequence[str] = BROKER_NAMES) -> None:
        self.directory = directory
        self.broker_names = tuple(broker_names)

    def path(self, ref: SecretRef) -> Path:
        return self.directory / ref.name / ref.key

    def ensure(self, ref: SecretRef) -> None:
        path = self.path(ref)
        if path.exists():
            return
        if ref in (KAFKA_CA, KAFKA_KEYSTORE):
            self._broker_material(path.parent)
        else:
            self._write(path, self._make(ref))

    def value(self, ref: SecretRef) -> str:
        self.ensure(ref)
        return self.path(ref).read_text()

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)

    def _make(self, ref: SecretRef) -> str:
        makers: dict[tuple[str, str], Callable[[], str]] = {
            (KAFKA_JAAS.name, KAFKA_JAAS.key): lambda: JAAS.format(
                admin=ADMIN, password=self.value(KAFKA_ADMIN_PASSWORD)
            ),
            (store_secret("audit"), "database"): lambda: postgres_url(
                "audit", self.value(SecretRef(POSTGRES_ROLES, "audit")), schema=AUDIT_HISTORY_SCHEMA
            ),
            ("rls-referral-vault", "vault-key"): _key_of_32_bytes,
            ("rls-console", "session-key"): _key_of_32_bytes,
            ("rls-console", "session-store"): lambda: postgres_url(
                "console", self.value(SecretRef(POSTGRES_ROLES, "console"))
            ),
        }
        if (ref.name, ref.key) in makers:
            return makers[(ref.name, ref.key)]()
        owner = next((s for s in SERVICES if ref.name == store_secret(s)), None)
        if owner is not None and ref.key == "cipher-key":
            return AESCipher.create_key(32)
        if owner is not None and ref.key == "event-store":
            return postgres_url(owner, self.value(SecretRef(POSTGRES_ROLES, owner)))
        return secrets.token_urlsafe(32)  # passwords: Kafka principals, PostgreSQL roles, the keystore's

    def _broker_material(self, directory: Path) -> None:
        """The CA and the broker's keystore, made together (the CA's key stays beside them, readable by no one
        else: it is never mounted)."""
        password = self.value(KAFKA_KEYSTORE_PASSWORD)
        write_broker_material(directory, password, self.broker_names)
        for made in directory.iterdir():
            made.chmod(0o600 if made.name == "ca-key.pem" else 0o644)


def make_secrets(directory: Path, broker_names: Sequence[str] = BROKER_NAMES) -> list[SecretRef]:
    """Every secret file Compose mounts; returns those still to be provided by the operator."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    maker = SecretsMaker(directory, broker_names)
    missing = []
    for ref in all_secret_refs():
        if ref == SERVICE_TOKEN.ref:
            if not maker.path(ref).exists():
                missing.append(ref)
            continue
        maker.ensure(ref)
    return missing
