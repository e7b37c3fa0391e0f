"""`deploy/k8s/base/`: the services on Kubernetes, rendered from the platform model.

Per process a Deployment (an API may have replicas; a worker, which runs the outbox relay, the consumers and the
periodic loops, is one pod replaced with `Recreate`, never two at once) and a NetworkPolicy; per service a Service and
a PodDisruptionBudget for its API, and a ConfigMap of its settings (`config/<service>.env`, with `config/platform.env`
for what every service shares). Secrets are referenced, never written: the store secrets the operator creates, the
Kafka users' and the cluster CA's secrets Strimzi makes.
"""

from __future__ import annotations

from typing import Any

from services.deploy.platform import (
    DATABASES,
    IMAGE,
    IMAGE_TAG,
    KAFKA_CLUSTER,
    KUBERNETES,
    MEMORY_LIMIT_MIB,
    MEMORY_REQUEST_MIB,
    PART_OF,
    POSTGRES_PORT,
    VAR_DIR,
    Process,
    SecretFile,
    callees,
    callers,
    own_values,
    process_config,
    processes,
    service_config,
    shared_values,
)
from services.runtime.registry import PROCESSES, SERVICES

USER_ID = 10001
"""The image's non-root user (deploy/image/Dockerfile)."""
KAFKA_CLIENT_PORT = 9093
PRIVATE_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
)
"""Never reached over HTTPS from a pod: webhooks and the identity provider are public (defence in depth beside the
notifications service's own SSRF checks)."""
INGRESS_NAMESPACE_LABEL = {"rls-referrals/ingress": "true"}
"""Label the namespace of your ingress controller with this to let it reach the APIs."""
MONITORING_NAMESPACE_LABEL = {"rls-referrals/monitoring": "true"}
"""Label the namespace of your Prometheus with this to let it scrape `/metrics` of every pod (workers included)."""
DATABASE_LABEL = {"rls-referrals/database": "true"}
"""Label your PostgreSQL's pods and their namespace with this (in-cluster PostgreSQL, e.g. CloudNativePG's
`inheritedMetadata`): the only pods the platform may reach on 5432. An overlay whose PostgreSQL is outside the cluster
replaces the peers of the `rls-postgresql` NetworkPolicy with its addresses (`ipBlock`)."""
DATABASE_CLIENT_LABEL = {"rls-referrals/database-client": "true"}
"""On the pods that reach PostgreSQL (those keeping tables): what the `rls-postgresql` NetworkPolicy selects, and what
your database's own ingress policy admits."""
DATABASE_POLICY = "rls-postgresql"
METRICS_PATH = "/metrics"


def scrape_annotations(process: Process) -> dict[str, str]:
    """The `prometheus.io/*` annotations Prometheus' Kubernetes pod discovery is commonly configured to follow."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(process.port), "prometheus.io/path": METRICS_PATH}


def labels(process: Process) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"rls-{process.service}",
        "app.kubernetes.io/component": "worker" if process.role == "worker" else "api",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": IMAGE_TAG,
    }


def pod_labels(process: Process) -> dict[str, str]:
    """A pod's labels: its process's, and whether it reaches PostgreSQL."""
    return labels(process) | (DATABASE_CLIENT_LABEL if process.service in DATABASES else {})


def selector(process: Process) -> dict[str, str]:
    keep = ("app.kubernetes.io/name", "app.kubernetes.io/component")
    return {key: value for key, value in labels(process).items() if key in keep}


def _volume_name(file: SecretFile) -> str:
    """`/var/run/secrets/rls/kafka-ca/ca.crt` is mounted from the volume `kafka-ca`."""
    return file.path.rsplit("/", 2)[1]


def _secret_volume(file: SecretFile) -> dict[str, Any]:
    item = {"key": file.ref.key, "path": file.path.rsplit("/", 1)[1]}
    return {"name": _volume_name(file), "secret": {"secretName": file.ref.name, "items": [item]}}


def _secret_mount(file: SecretFile) -> dict[str, Any]:
    return {"name": _volume_name(file), "mountPath": file.path.rsplit("/", 1)[0], "readOnly": True}


def _env(process: Process) -> list[dict[str, Any]]:
    config, own = service_config(process.service, KUBERNETES), process_config(process, KUBERNETES)
    values = process.switches() | own.values
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in values.items()]
    env += [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        for name, ref in (config.secrets | own.secrets).items()
    ]
    return env


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures}


def _container(process: Process) -> dict[str, Any]:
    config = service_config(process.service, KUBERNETES)
    mounts = [{"name": "var", "mountPath": VAR_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
    mounts += [_secret_mount(file) for file in config.files.values()]
    return {
        "name": process.service,
        "image": f"{IMAGE}:{IMAGE_TAG}",
        "args": list(process.command),
        "ports": [{"name": "http", "containerPort": process.port}],
        "envFrom": [{"configMapRef": {"name": "rls-platform"}}, {"configMapRef": {"name": f"rls-{process.service}"}}],
        "env": _env(process),
        "volumeMounts": mounts,
        "startupProbe": _probe("/healthz", 2, 30),
        "livenessProbe": _probe("/healthz", 20, 3),
        "readinessProbe": _probe("/readyz", 10, 3),
        "resources": {
            "requests": {"cpu": "100m", "memory": f"{MEMORY_REQUEST_MIB}Mi"},
            "limits": {"memory": f"{MEMORY_LIMIT_MIB}Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def deployment(process: Process) -> dict[str, Any]:
    strategy = (
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        if process.scalable
        else {"type": "Recreate"}  # one relay per store: the old pod stops before the new one starts
    )
    config = service_config(process.service, KUBERNETES)
    volumes: list[dict[str, Any]] = [{"name": "var", "emptyDir": {}}, {"name": "tmp", "emptyDir": {"medium": "Memory"}}]
    volumes += [_secret_volume(file) for file in config.files.values()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "strategy": strategy,
            "selector": {"matchLabels": selector(process)},
            "template": {
                "metadata": {"labels": pod_labels(process), "annotations": scrape_annotations(process)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "fsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(process)],
                    "volumes": volumes,
                },
            },
        },
    }


def service(process: Process) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {
            "selector": selector(process),
            "ports": [{"name": "http", "port": process.port, "targetPort": "http"}],
        },
    }


def disruption_budget(process: Process) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(process)}},
    }


def _api_selector(service_name: str) -> dict[str, Any]:
    return {"matchLabels": {"app.kubernetes.io/name": f"rls-{service_name}", "app.kubernetes.io/component": "api"}}


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def network_policy(process: Process) -> dict[str, Any]:
    """Ingress: an API from the services that call it and from the ingress controller's namespace, every process from
    the monitoring namespace (its `/metrics`; probes come from the node). Egress: DNS, the Kafka cluster, the APIs it
    calls, and HTTPS to public addresses only (the identity provider's JWKS, webhooks); PostgreSQL is the
    `rls-postgresql` policy's (`database_policy`), one place for an overlay to name the database."""
    monitoring = {"from": [{"namespaceSelector": {"matchLabels": MONITORING_NAMESPACE_LABEL}}]}
    ingress: list[dict[str, Any]] = [{**monitoring, "ports": [_tcp(process.port)]}]
    if process.role != "worker":
        callers_ = callers(process.service)
        peers: list[dict[str, Any]] = [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": f"rls-{c}"}}} for c in callers_
        ]
        peers.append({"namespaceSelector": {"matchLabels": INGRESS_NAMESPACE_LABEL}})
        ingress.append({"from": peers, "ports": [_tcp(process.port)]})
    egress: list[dict[str, Any]] = [
        {
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, _tcp(53)],
        },
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}], "ports": [_tcp(443)]},
    ]
    if process.service in SERVICES:  # a service has a Kafka principal (the console has none)
        egress.append(
            {
                "to": [{"podSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER}}}],
                "ports": [_tcp(KAFKA_CLIENT_PORT)],
            }
        )
    egress += [
        {"to": [{"podSelector": _api_selector(c)}], "ports": [_tcp(SERVICES[c])]} for c in callees(process.service)
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": process.name, "labels": labels(process)},
        "spec": {
            "podSelector": {"matchLabels": selector(process)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def database_policy() -> dict[str, Any]:
    """Egress to PostgreSQL (5432) of the pods keeping tables, and only to the database: by default the pods labelled
    `DATABASE_LABEL` in a namespace labelled the same (an in-cluster PostgreSQL); an overlay with a PostgreSQL
    outside the cluster replaces these peers with its addresses. Policies add up: the processes' own policies allow
    no 5432 at all."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DATABASE_POLICY, "labels": {"app.kubernetes.io/part-of": PART_OF}},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF, **DATABASE_CLIENT_LABEL}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": DATABASE_LABEL},
                            "podSelector": {"matchLabels": DATABASE_LABEL},
                        }
                    ],
                    "ports": [_tcp(POSTGRES_PORT)],
                }
            ],
        },
    }


def service_manifests(service_name: str) -> list[dict[str, Any]]:
    """Everything one service runs as, in apply order."""
    documents: list[dict[str, Any]] = []
    for process in (p for p in processes() if p.service == service_name):
        if process.role != "worker":
            documents += [service(process), disruption_budget(process)]
        documents += [deployment(process), network_policy(process)]
    return documents


def base_kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"{name}.yaml" for name in PROCESSES] + ["database.yaml"],
        "configMapGenerator": [{"name": "rls-platform", "envs": ["config/platform.env"]}]
        + [{"name": f"rls-{name}", "envs": [f"config/{name}.env"]} for name in PROCESSES],
    }


def env_files() -> dict[str, dict[str, str]]:
    """`config/platform.env` and `config/<service>.env` of the base (per-installation settings: the overlays)."""
    files = {"platform.env": shared_values(KUBERNETES)}
    files |= {f"{name}.env": own_values(name, KUBERNETES) for name in PROCESSES}
    return files
