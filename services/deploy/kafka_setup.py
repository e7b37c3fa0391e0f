"""The one-shot job of a deployment without Strimzi (Compose): the platform's topics, and every principal of the ACL
file with its password and exactly its ACLs, created by the super user. Safe to run again: it converges."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.kafka_acls import AclFile, KafkaUsers
from services.deploy.topics import TopicSpec, platform_topics


class KafkaSetupError(RuntimeError):
    """The brokers could not be set up (unreachable within the deadline, or a password file is missing)."""


@dataclass(frozen=True)
class SuperUser:
    """How the job reaches the brokers: the super user, over TLS, with SASL PLAIN (its password lives in the broker's
    JAAS file: it needs no SCRAM credential to exist before it can create the others')."""

    bootstrap: str
    username: str
    password: str
    ca_file: Path

    def admin(self, timeout_ms: int = 10_000) -> KafkaAdminClient:
        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id="rls-kafka-setup",
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_plain_username=self.username,
            sasl_plain_password=self.password,
            ssl_cafile=str(self.ca_file),
            ssl_check_hostname=True,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )


def read_passwords(acls: AclFile, directory: Path) -> dict[str, str]:
    """One file per principal, named after it (`<directory>/svc-referral`)."""
    passwords: dict[str, str] = {}
    for name in acls.principals:
        path = directory / name
        if not path.is_file():
            raise KafkaSetupError(f"no password file for principal {name}: {path}")
        passwords[name] = path.read_text().strip()
    return passwords


def create_topics(admin: KafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    """Creates the topics that do not exist yet (with their configuration); returns their names."""
    existing = set(admin.list_topics())
    missing = [spec for spec in specs if spec.name not in existing]
    for spec in missing:
        config = {key: str(value) for key, value in spec.config.items()}
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(spec.name, spec.partitions, spec.replicas, topic_configs=config)])
    return [spec.name for spec in missing]


def connect(user: SuperUser, deadline_s: float, sleep: Callable[[float], None] = time.sleep) -> KafkaAdminClient:
    """An admin client, once the brokers answer (they may still be starting)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            admin = user.admin()
            admin.list_topics()
            return admin
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise KafkaSetupError(f"the brokers at {user.bootstrap} did not answer: {error}") from error
            sleep(2.0)


def set_up(admin: KafkaAdminClient, acls: AclFile, passwords: Mapping[str, str], brokers: int) -> list[str]:
    """Every principal with its password and ACLs, then the topics; returns the topics created."""
    KafkaUsers(admin).apply(acls.principals, passwords)
    return create_topics(admin, platform_topics(brokers))
