"""The Compose broker's configuration runs: the settings of deploy/compose/compose.yaml, turned into
server.properties as the apache/kafka image does, with the files `rls deploy secrets` makes, on the same Apache Kafka
jars as the embedded broker (no Docker engine here). The one-shot job (`rls deploy kafka-setup`) then creates the
topics and the principals, and a service writes only where the ACL file lets it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka.errors import KafkaError
from pydantic import SecretStr

from services.common.envelope import CloudEvent
from services.common.kafka import KafkaPublisher, Outgoing, PublishError, make_admin
from services.common.kafka_acls import load_acl_file
from services.common.kafka_security import KafkaAccess
from services.contract.topics import ORG_NAMESPACE
from services.deploy import compose, kafka_setup
from services.deploy.secrets import make_secrets
from services.runtime.kafka_local import ensure_jars, find_java
from services.runtime.settings import RuntimeSettings
from tests.deploy.test_kafka_resources import compose_broker_properties
from tests.helpers import free_port

pytestmark = pytest.mark.integration

COMPOSE_PORTS = {"9092": "clients", "9093": "controller", "9094": "admin", "9095": "external"}


def local_properties(secrets: Path, data: Path, ports: dict[str, int]) -> str:
    """The Compose broker's properties on this host: `kafka` is localhost, ports are free ones, the image's
    /etc/kafka/secrets is the secrets directory, and what its `configure` script adds from the credential files."""
    properties = compose_broker_properties()
    broker_dir = secrets / compose.KAFKA_KEYSTORE.name
    keystore_password = (broker_dir / compose.KAFKA_KEYSTORE_PASSWORD.key).read_text()
    properties |= {
        "ssl.keystore.location": str(broker_dir / compose.KAFKA_KEYSTORE.key),
        "ssl.keystore.password": keystore_password,
        "ssl.key.password": keystore_password,
        "log.dirs": str(data),
    }
    text = "\n".join(f"{key}={value}" for key, value in properties.items())
    text = text.replace(compose.KAFKA_SECRETS, str(broker_dir)).replace(
        "${RLS_KAFKA_EXTERNAL_HOST:-localhost}", "localhost"
    )
    text = text.replace("kafka:", "localhost:").replace("@kafka:", "@localhost:")
    for port, name in COMPOSE_PORTS.items():
        text = text.replace(f":{port}", f":{ports[name]}")
    return text + "\n"


@pytest.fixture(scope="module")
def compose_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    root = tmp_path_factory.mktemp("compose-broker")
    secrets = root / "secrets"
    make_secrets(secrets)
    ports = {name: free_port() for name in COMPOSE_PORTS.values()}
    (root / "server.properties").write_text(local_properties(secrets, root / "data", ports))
    settings = RuntimeSettings()
    libs = ensure_jars(settings.kafka_version, settings.cache_dir)
    java = [
        find_java(settings.java_home),
        "-Xmx512m",
        f"-Djava.security.auth.login.config={secrets / compose.KAFKA_JAAS.name / compose.KAFKA_JAAS.key}",
        "-cp",
        f"{libs}/*",
    ]
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={compose.CLUSTER_ID}",
            "-c",
            str(root / "server.properties"),
        ],
        check=True,
        capture_output=True,
    )
    with open(root / "broker.log", "wb") as log:
        process = subprocess.Popen([*java, "kafka.Kafka", str(root / "server.properties")], stdout=log, stderr=log)
    try:
        yield secrets, ports
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root / "data", ignore_errors=True)


def _setup(secrets: Path, ports: dict[str, int], tmp_path: Path) -> list[str]:
    """What the Compose job runs, with the files Compose would mount."""
    acls = load_acl_file(org_namespace=ORG_NAMESPACE)
    users = tmp_path / "kafka-users"
    users.mkdir(parents=True)
    for name in acls.principals:
        (users / name).write_text((secrets / name / "password").read_text())
    admin_password = (secrets / compose.KAFKA_ADMIN_PASSWORD.name / compose.KAFKA_ADMIN_PASSWORD.key).read_text()
    user = kafka_setup.SuperUser(
        f"localhost:{ports['admin']}", "admin", admin_password, secrets / compose.KAFKA_CA.name / compose.KAFKA_CA.key
    )
    admin = kafka_setup.connect(user, deadline_s=90)
    try:
        return kafka_setup.set_up(admin, acls, kafka_setup.read_passwords(acls, users), brokers=1)
    finally:
        admin.close()


def _event() -> CloudEvent:
    return CloudEvent(id="e-1", source="/rls/test", type="ca.qc.rls.test.v1", time=datetime.now(UTC))


def test_the_compose_broker_runs_the_setup_job_and_enforces_the_acl_file(
    compose_broker: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    secrets, ports = compose_broker
    created = _setup(secrets, ports, tmp_path)
    assert "rls.referral.v1" in created and "rls.referral.v1.dlq" in created
    assert _setup(secrets, ports, tmp_path / "again") == [], "the job converges when run again"

    referral = KafkaAccess(
        f"localhost:{ports['clients']}",
        "SASL_SSL",
        username="svc-referral",
        password=SecretStr((secrets / "svc-referral" / "password").read_text()),
        ca_file=secrets / compose.KAFKA_CA.name / compose.KAFKA_CA.key,
    )
    publisher = KafkaPublisher(referral, "compose-test")
    try:
        publisher.publish([Outgoing("rls.referral.v1", "k", _event())])
        with pytest.raises(PublishError):
            publisher.publish([Outgoing("rls.agreements.v1", "k", _event())])
    finally:
        publisher.close()
    wrong = referral.as_user("svc-referral", "wrong")
    with pytest.raises(KafkaError):  # a wrong password is refused on the services' listener
        make_admin(wrong, "compose-test", timeout_ms=5000)
