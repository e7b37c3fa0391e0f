"""The credentials issuer (`svc-credentials`) may ALTER the cluster: create ACLs, set any user's SCRAM password. In the
generated Compose file its password goes to the job that creates the principals and to the processes that serve
establishments' credential requests, nothing else: not the notifications worker, which calls URLs establishments
supply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.deploy.compose import secret_name
from services.deploy.platform import ISSUER_SETTINGS, SecretRef, processes
from services.runtime.kafka_security import CREDENTIALS_ISSUER, ISSUER_SERVICE
from tests.deploy.validation import DEPLOY, load_yaml

COMPOSE_DIR = DEPLOY / "compose"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = load_yaml(COMPOSE_DIR / "compose.yaml")[0]["services"]
    return services


def _env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_the_processes_serving_credential_requests_are_the_notifications_api_alone() -> None:
    serving = [process.name for process in processes() if process.serves_credentials]
    assert serving == [f"rls-{ISSUER_SERVICE}"]


def test_only_kafka_setup_and_the_credentials_api_get_the_issuers_password() -> None:
    issuer_password = secret_name(SecretRef(CREDENTIALS_ISSUER, "password"))
    holders = {
        name
        for name, spec in _services().items()
        if any(secret["source"] == issuer_password for secret in spec.get("secrets", []))
    }
    serving = {process.name.removeprefix("rls-") for process in processes() if process.serves_credentials}
    assert holders == serving | {"kafka-setup"}
    assert "notifications-worker" not in holders


def test_no_other_process_is_told_the_issuers_settings() -> None:
    """Neither through the service's env file, shared by its API and its worker, nor through its own environment."""
    for name, spec in _services().items():
        if spec.get("command", [""])[0] != "serve":
            continue
        environment = {key: str(value) for key, value in spec["environment"].items()}
        for env_file in spec["env_file"]:
            environment |= _env_file(COMPOSE_DIR / env_file)
        told = ISSUER_SETTINGS & (set(environment) | {secret["target"] for secret in spec["secrets"]})
        assert told == (ISSUER_SETTINGS if name == ISSUER_SERVICE else set()), name
