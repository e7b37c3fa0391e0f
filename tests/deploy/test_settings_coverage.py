"""Every setting a service reads has a value or a secret reference in each Kustomize overlay and in Compose (or is
left unset on purpose, with its reason written in services/deploy/platform.py), and the settings class accepts what
the deployment gives it: production mode starts with its secrets present."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher

from services.console.settings import ConsoleSettings
from services.deploy.platform import (
    COMPOSE,
    INSTALLATION_UNSET,
    KUBERNETES,
    STORES,
    Process,
    Target,
    left_unset,
    process_config,
    processes,
)
from services.deploy.settings_env import service_settings
from services.notifications.settings import NotificationsSettings
from services.runtime.registry import PROCESSES, SERVICES, settings_class
from tests.deploy.conftest import OVERLAYS
from tests.deploy.validation import DEPLOY, load_yaml

SECRET_SAMPLES = {
    "cipher-key": AESCipher.create_key(32),
    "event-store": "postgresql://svc:pw@db.internal:5432/store",
    "database": "postgresql://audit:pw@db.internal:5432/audit?schema=history",
    "vault-key": base64.urlsafe_b64encode(bytes(32)).decode(),
    "session-key": base64.urlsafe_b64encode(bytes(32)).decode(),
    "session-store": "postgresql://console:pw@db.internal:5432/console",
    "password": "a-password",
}
INTERPOLATION = re.compile(r"\$\{([A-Z_]+)(?::([-?])([^}]*))?\}")


@dataclass
class Container:
    """What one container of a deployment receives: plain values, secrets (by reference), mounted secret files."""

    service: str
    values: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    mounts: set[str] = field(default_factory=set)

    @property
    def provided(self) -> set[str]:
        return set(self.values) | set(self.secrets)


def _service_of(args: list[str]) -> str:
    assert args[0] == "serve", args
    return args[1]


def kubernetes_containers(documents: list[dict[str, Any]]) -> dict[str, Container]:
    config_maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in documents if doc["kind"] == "ConfigMap"}
    containers: dict[str, Container] = {}
    for doc in (d for d in documents if d["kind"] == "Deployment"):
        pod = doc["spec"]["template"]["spec"]
        spec = pod["containers"][0]
        container = Container(_service_of(spec["args"]))
        for source in spec.get("envFrom", []):
            container.values |= config_maps[source["configMapRef"]["name"]]
        for variable in spec.get("env", []):
            if "value" in variable:
                container.values[variable["name"]] = variable["value"]
            else:
                ref = variable["valueFrom"]["secretKeyRef"]
                container.secrets[variable["name"]] = ref["key"]
        secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        container.mounts = {m["mountPath"] for m in spec.get("volumeMounts", []) if m["name"] in secret_volumes}
        containers[doc["metadata"]["name"]] = container
    return containers


def _env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _interpolated(value: str) -> str:
    """A Compose value with its variables as `docker compose` would give them (a sample for required ones)."""

    def one(match: re.Match[str]) -> str:
        return match.group(3) if match.group(2) == "-" else f"https://idp.example.org/{match.group(1).lower()}"

    return INTERPOLATION.sub(one, value)


def compose_containers() -> dict[str, Container]:
    document = load_yaml(DEPLOY / "compose" / "compose.yaml")[0]
    containers: dict[str, Container] = {}
    for name, spec in document["services"].items():
        if spec.get("command", [""])[0] != "serve":
            continue
        container = Container(_service_of(spec["command"]))
        for env_file in spec["env_file"]:
            container.values |= _env_file(DEPLOY / "compose" / env_file)
        container.values |= {key: _interpolated(str(value)) for key, value in spec["environment"].items()}
        for secret in spec["secrets"]:
            source, target = secret["source"], secret["target"]
            if "/" in target:
                container.mounts.add(target)
            else:  # exported as a variable by the image's entry point
                container.secrets[target] = source
        containers[name] = container
    return containers


def deployments() -> dict[str, tuple[Target, str]]:
    return {"compose": (COMPOSE, "compose")} | {overlay: (KUBERNETES, overlay) for overlay in OVERLAYS}


def process_of(container_name: str) -> Process:
    """The process a container runs, by its Deployment's name (`rls-notifications-worker`) or its Compose service's
    (`notifications-worker`)."""
    return next(p for p in processes() if container_name in (p.name, p.name.removeprefix("rls-")))


def _unset(target: Target, installation: str, process: Process) -> dict[str, str]:
    reasons = left_unset(process.service) | dict(target.unset) | dict(INSTALLATION_UNSET[installation])
    return reasons | process_config(process, target).unset


def containers_of(built: dict[str, list[dict[str, Any]]], installation: str) -> dict[str, Container]:
    return compose_containers() if installation == "compose" else kubernetes_containers(built[installation])


@pytest.mark.parametrize("installation", ["compose", *OVERLAYS])
def test_every_setting_has_a_value_or_a_secret_reference(
    built: dict[str, list[dict[str, Any]]], installation: str
) -> None:
    target, _ = deployments()[installation]
    containers = containers_of(built, installation)
    assert {c.service for c in containers.values()} == set(PROCESSES)
    for name, container in containers.items():
        unset = _unset(target, installation, process_of(name))
        wanted = {s.env for s in service_settings(container.service)} - set(unset)
        missing = sorted(wanted - container.provided)
        assert missing == [], f"{installation} {name}: no value or secret for {missing}"
        assert not (set(unset) & container.provided & wanted), "a setting said unset is set"


@pytest.mark.parametrize("installation", ["compose", *OVERLAYS])
def test_every_setting_left_unset_says_why_and_exists(installation: str) -> None:
    target, _ = deployments()[installation]
    read = {s.env for name in PROCESSES for s in service_settings(name)}
    for process in processes():
        reasons = _unset(target, installation, process)
        assert all(len(reason) > 20 for reason in reasons.values())
        assert set(reasons) <= read, "a reason for a setting nothing reads any more"


@pytest.mark.parametrize("installation", ["compose", *OVERLAYS])
def test_the_settings_classes_accept_what_each_deployment_gives(
    built: dict[str, list[dict[str, Any]]], installation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process's environment, secrets replaced by samples of their shape, builds its settings; production
    mode's checks (cipher keys, JWKS, SASL_SSL, vault key, service token) pass in production installations."""
    for name, container in containers_of(built, installation).items():
        for variable in list(os.environ):
            if variable.startswith(("RLS_", "KAFKA_", *(f"{s.upper()}_" for s in SERVICES))):
                monkeypatch.delenv(variable)
        for variable, value in container.values.items():
            monkeypatch.setenv(variable, value)
        for variable, key in container.secrets.items():
            sample = next((v for k, v in SECRET_SAMPLES.items() if key.endswith(k)), None)
            assert sample is not None, f"{name}: no sample for secret {variable} ({key})"
            monkeypatch.setenv(variable, sample)
        settings = settings_class(container.service)()
        assert settings.mode == ("dev" if installation == "dev" else "production"), name
        assert settings.host == "0.0.0.0", name  # noqa: S104
        if container.service in SERVICES:
            assert settings.kafka_access.authenticated, name
        if container.service in STORES:
            assert settings.event_store_url.startswith("postgresql://"), name
        if isinstance(settings, ConsoleSettings):  # every replica reads the same signed-out sessions
            assert settings.session_store_url.startswith("postgresql://"), name
        if installation == "compose" and isinstance(settings, NotificationsSettings):  # Kubernetes: Strimzi issues
            assert (settings.kafka_issuer is not None) == process_of(name).serves_credentials, name
        files = ("kafka_ssl_cafile", "service_token_file", "dev_key_file")
        for path in (getattr(settings, field_name, None) for field_name in files):
            if path is not None:
                assert any(str(path).startswith(mount) for mount in container.mounts), f"{name}: {path} not mounted"
