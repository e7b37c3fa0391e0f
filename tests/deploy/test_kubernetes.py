"""The Kubernetes manifests run the platform safely: probes on /healthz and /readyz, app.kubernetes.io labels,
resources, a non-root read-only container, a Service and a PodDisruptionBudget per API, a NetworkPolicy per process,
and exactly one worker per event store (its outbox relay and loops), replaced, never doubled, on a rollout."""

from __future__ import annotations

from typing import Any

import pytest

from services.deploy.platform import DATABASES, SINGLE_PROCESS, processes
from services.runtime.registry import PROCESSES, SERVICES
from tests.deploy.conftest import OVERLAYS

LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")


def _of(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_is_a_deployment_with_probes_resources_and_a_locked_down_container(
    built: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    deployments = _of(built[overlay], "Deployment")
    assert set(deployments) == {p.name for p in processes()}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert all(label in deployment["spec"]["template"]["metadata"]["labels"] for label in LABELS), name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0, name
        assert container["securityContext"]["readOnlyRootFilesystem"], name
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert not container["securityContext"]["allowPrivilegeEscalation"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_worker_per_store_and_apis_that_scale(built: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    deployments = _of(built[overlay], "Deployment")
    for process in processes():
        spec = deployments[process.name]["spec"]
        env = {e["name"]: e.get("value") for e in spec["template"]["spec"]["containers"][0]["env"]}
        switches = process.switches()
        assert all(env[name] == value for name, value in switches.items()), process.name
        assert bool(switches) == (process.service in SERVICES), "the console has no loop to switch"
        if process.scalable:
            assert set(switches.values()) <= {"false"}, "an API runs no relay, consumer or loop"
            assert spec["replicas"] == (2 if overlay == "prod" else 1)
            assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        else:
            assert set(switches.values()) == {"true"}
            assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}, process.name
    workers = [p.service for p in processes() if not p.scalable]
    assert sorted(workers) == sorted(SERVICES), "every store has exactly one process running its outbox"
    assert set(SINGLE_PROCESS) <= set(SERVICES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_api_has_a_service_and_a_disruption_budget(built: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    services, budgets = _of(built[overlay], "Service"), _of(built[overlay], "PodDisruptionBudget")
    deployments = _of(built[overlay], "Deployment")
    assert set(services) == set(budgets) == {f"rls-{s}" for s in PROCESSES}
    for name, service in services.items():
        selected = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= selected.items()
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_in_only_callers_and_out_only_to_what_a_process_needs(
    built: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    policies = _of(built[overlay], "NetworkPolicy")
    assert set(policies) == {p.name for p in processes()} | {"rls-postgresql"}
    consent = policies["rls-consent"]["spec"]
    peers = [peer for rule in consent["ingress"] for peer in rule["from"]]
    names = {p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") for p in peers}
    assert {"rls-referral", "rls-audit", "rls-console"} <= names and "rls-notifications" not in names
    monitoring = {"from": [{"namespaceSelector": {"matchLabels": {"rls-referrals/monitoring": "true"}}}]}
    assert policies["rls-consent-worker"]["spec"]["ingress"] == [
        {**monitoring, "ports": [{"protocol": "TCP", "port": 8003}]}
    ]
    https = next(rule for rule in consent["egress"] if rule["ports"] == [{"protocol": "TCP", "port": 443}])
    assert "10.0.0.0/8" in https["to"][0]["ipBlock"]["except"], "no HTTPS to private addresses (SSRF)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_scraped_on_its_metrics_path(built: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """Workers too: their `/metrics` shows the outbox and consumer lags."""
    for name, deployment in _of(built[overlay], "Deployment").items():
        template = deployment["spec"]["template"]
        port = template["spec"]["containers"][0]["ports"][0]["containerPort"]
        annotations = template["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }, name


def test_configmaps_change_their_names_when_their_content_changes(built: dict[str, list[dict[str, Any]]]) -> None:
    """Kustomize's generated names: a settings change rolls the pods."""
    names = set(_of(built["prod"], "ConfigMap"))
    assert all(name.rsplit("-", 1)[0] in {"rls-platform", *(f"rls-{s}" for s in PROCESSES)} for name in names)
    assert all(len(name.rsplit("-", 1)[1]) == 10 for name in names)


def _selected(policy: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_network_policy_rule_names_its_peers(built: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """A rule without `to`/`from` (or with an empty peer) admits every address: none here."""
    for name, policy in _of(built[overlay], "NetworkPolicy").items():
        rules = [(rule, "to") for rule in policy["spec"].get("egress", [])]
        rules += [(rule, "from") for rule in policy["spec"].get("ingress", [])]
        for rule, peers in rules:
            assert rule.get(peers) and all(rule[peers]), f"{overlay} {name}: {rule}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_processes_keeping_tables_reach_postgresql_and_only_the_database(
    built: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    policies = _of(built[overlay], "NetworkPolicy")
    database = policies.pop("rls-postgresql")
    postgresql = {"protocol": "TCP", "port": 5432}
    for name, policy in policies.items():  # a process's own policy allows no 5432 at all
        assert all(postgresql not in rule.get("ports", []) for rule in policy["spec"]["egress"]), name
    assert database["spec"]["policyTypes"] == ["Egress"]
    assert [rule["ports"] for rule in database["spec"]["egress"]] == [[postgresql]]
    peers = database["spec"]["egress"][0]["to"]
    if overlay == "prod":  # a managed PostgreSQL outside the cluster: its address, set by the overlay
        assert [set(peer) for peer in peers] == [{"ipBlock"}]
        assert all(peer["ipBlock"]["cidr"] not in ("0.0.0.0/0", "::/0") for peer in peers)
    else:  # an in-cluster PostgreSQL: the pods labelled as the database, in a namespace labelled the same
        label = {"rls-referrals/database": "true"}
        assert peers == [{"namespaceSelector": {"matchLabels": label}, "podSelector": {"matchLabels": label}}]
    deployments = _of(built[overlay], "Deployment")
    reaching = {
        name
        for name, deployment in deployments.items()
        if _selected(database, deployment["spec"]["template"]["metadata"]["labels"])
    }
    assert reaching == {p.name for p in processes() if p.service in DATABASES}
    assert "rls-standards" not in reaching, "the board keeps no table"
