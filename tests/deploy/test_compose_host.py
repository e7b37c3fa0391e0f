"""Compose on one host exposes no more than the platform needs: the APIs (plain HTTP, unauthenticated /metrics) only
on the host's loopback, for the operator's TLS reverse proxy; PostgreSQL on a network of its own, joined only by the
processes keeping tables; and every process of the image capped in memory like its Kubernetes pod."""

from __future__ import annotations

import re
from typing import Any

from services.deploy.platform import DATABASES, processes
from tests.deploy.validation import DEPLOY, load_yaml

EXTERNAL_KAFKA_PORT = "9095"
"""The one port published on every interface: establishments' Kafka listener (TLS, SCRAM, ACLs)."""
UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "ki": 2**10, "mi": 2**20, "gi": 2**30}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(DEPLOY / "compose" / "compose.yaml")[0]
    return document


def _image_containers(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services.items() if "build" in spec}


def memory_bytes(quantity: str) -> int:
    """`512M` (Compose, Docker's binary units) or `512Mi` (Kubernetes) in bytes."""
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", quantity)
    assert match, quantity
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def test_the_apis_are_published_on_the_loopback_only() -> None:
    services = _document()["services"]
    published = {name: spec.get("ports", []) for name, spec in services.items()}
    apis = {p.name.removeprefix("rls-"): p.port for p in processes() if p.role != "worker"}
    for name, port in apis.items():
        assert published[name] == [f"127.0.0.1:{port}:{port}"], name
    open_to_all = [(name, port) for name, ports in published.items() for port in ports if not port.startswith("127.")]
    assert open_to_all == [("kafka", f"{EXTERNAL_KAFKA_PORT}:{EXTERNAL_KAFKA_PORT}")]


def test_postgresql_is_on_its_own_network_joined_only_by_the_processes_keeping_tables() -> None:
    document = _document()
    services = document["services"]
    assert services["postgres"]["networks"] == ["database"]
    assert document["networks"]["database"] == {"internal": True}, "no route out of the database's network"
    on_database = {name for name, spec in services.items() if "database" in spec.get("networks", [])}
    keeping_tables = {p.name.removeprefix("rls-") for p in processes() if p.service in DATABASES}
    assert on_database == keeping_tables | {"postgres"}
    assert not {"kafka", "kafka-setup", "standards"} & on_database
    for name in keeping_tables:  # still on the default network: Kafka, the other APIs, the identity provider
        assert "default" in services[name]["networks"], name


def test_every_process_of_the_image_has_the_memory_of_its_kubernetes_pod(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    pods = {
        doc["metadata"]["name"].removeprefix("rls-"): doc["spec"]["template"]["spec"]["containers"][0]["resources"]
        for doc in built["prod"]
        if doc["kind"] == "Deployment"
    }
    containers = _image_containers(_document()["services"])
    assert set(pods) < set(containers), "every process, and the one-shot setup job"
    for name, spec in containers.items():
        resources = spec["deploy"]["resources"]
        pod = pods.get(name, pods["referral"])  # the setup job: like any process of the image
        assert memory_bytes(resources["limits"]["memory"]) == memory_bytes(pod["limits"]["memory"]), name
        assert memory_bytes(resources["reservations"]["memory"]) == memory_bytes(pod["requests"]["memory"]), name
        assert memory_bytes(resources["limits"]["memory"]) == 512 * 2**20, name
