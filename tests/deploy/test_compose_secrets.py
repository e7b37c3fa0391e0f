"""`rls deploy secrets` makes every file the Compose platform mounts, consistent with each other (each service's
event store URL carries its PostgreSQL role's password, the broker's JAAS file the super user's), and PostgreSQL's
init script gives each service its role and database."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from services.deploy import compose
from services.deploy.platform import SERVICE_TOKEN, STORES
from services.deploy.secrets import make_secrets
from tests.deploy.validation import DEPLOY, load_yaml


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("compose") / "secrets"
    assert make_secrets(directory, ("kafka", "localhost", "kafka.example.org")) == [SERVICE_TOKEN.ref]
    return directory


def _read(secrets: Path, name: str, key: str) -> str:
    return (secrets / name / key).read_text()


def test_every_secret_compose_mounts_is_made_but_the_identity_providers_token(secrets: Path) -> None:
    declared = load_yaml(DEPLOY / "compose" / "compose.yaml")[0]["secrets"]
    missing = [
        name for name, spec in declared.items() if not (secrets / spec["file"].removeprefix("./secrets/")).exists()
    ]
    assert missing == [compose.secret_name(SERVICE_TOKEN.ref)]
    assert oct(secrets.stat().st_mode & 0o777) == "0o700"


def test_running_it_again_keeps_every_secret(secrets: Path) -> None:
    before = {p: p.read_bytes() for p in secrets.rglob("*") if p.is_file()}
    make_secrets(secrets)
    assert {p: p.read_bytes() for p in secrets.rglob("*") if p.is_file()} == before


def test_store_urls_carry_their_roles_password(secrets: Path) -> None:
    for service in STORES:
        url = urlparse(_read(secrets, f"rls-{service}-store", "event-store"))
        assert (url.username, url.hostname, url.path) == (service, "postgres", f"/{service}")
        assert url.password == _read(secrets, compose.POSTGRES_ROLES, service)
    assert _read(secrets, "rls-audit-store", "database").endswith("/audit?schema=history")
    console = urlparse(_read(secrets, "rls-console", "session-store"))
    assert (console.username, console.hostname, console.path) == ("console", "postgres", "/console")
    assert console.password == _read(secrets, compose.POSTGRES_ROLES, "console")


def test_the_broker_material_holds_together(secrets: Path) -> None:
    admin_password = _read(secrets, compose.KAFKA_ADMIN_PASSWORD.name, compose.KAFKA_ADMIN_PASSWORD.key)
    assert f'user_admin="{admin_password}"' in _read(secrets, compose.KAFKA_JAAS.name, compose.KAFKA_JAAS.key)
    keystore = (secrets / compose.KAFKA_KEYSTORE.name / compose.KAFKA_KEYSTORE.key).read_bytes()
    password = _read(secrets, compose.KAFKA_KEYSTORE_PASSWORD.name, compose.KAFKA_KEYSTORE_PASSWORD.key).encode()
    _, certificate, _ = pkcs12.load_key_and_certificates(keystore, password)
    assert certificate is not None
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"kafka", "localhost", "kafka.example.org"} <= set(names.get_values_for_type(x509.DNSName))
    assert oct((secrets / compose.KAFKA_CA.name / "ca-key.pem").stat().st_mode & 0o777) == "0o600"


@pytest.mark.integration
def test_postgres_init_script_makes_a_role_and_a_database_per_service(
    secrets: Path, postgres_dsn: str, tmp_path: Path
) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    suffix = uuid.uuid4().hex[:6]
    for service in ("referral", "audit"):  # role names of their own: the test server is shared
        (roles / f"{service}_{suffix}").write_text(_read(secrets, compose.POSTGRES_ROLES, service))
    dsn = urlparse(postgres_dsn)
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": dsn.hostname or "127.0.0.1",
        "PGPORT": str(dsn.port or 5432),
        "PGPASSWORD": dsn.password or "",
        "POSTGRES_USER": dsn.username or "postgres",
        "RLS_POSTGRES_ROLES_DIR": str(roles),
    }
    script = DEPLOY / "compose" / "postgres" / "init-roles.sh"
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
    role = f"referral_{suffix}"
    password = _read(secrets, compose.POSTGRES_ROLES, "referral")
    as_role = dsn._replace(netloc=f"{role}:{password}@{dsn.hostname}:{dsn.port}")
    with psycopg.connect(as_role._replace(path=f"/{role}").geturl()) as connection:
        connection.execute("CREATE TABLE t (x int)")  # the role owns its database
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(as_role._replace(path=f"/audit_{suffix}").geturl()).close()  # and no other
