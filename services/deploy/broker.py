"""The broker's settings, from one source: the embedded broker's (`services/runtime/kafka_local.py`).

The embedded broker's `server.properties` mixes two kinds of setting: where this one broker listens and keeps its
data (topology, different everywhere) and how the platform's broker behaves (topic creation, partitions, retention,
internal topics). The second kind is taken from there for Compose (a single node, so the same values) and for
Strimzi (replication scaled to the cluster), and tests compare the rendered files with the embedded broker.
The secure shape's authorisation policy is taken from `services/runtime/kafka_security.py` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.runtime.kafka_local import PLAINTEXT_LISTENERS, SERVER_PROPERTIES
from services.runtime.kafka_security import ADMIN, SECURE_LISTENERS

TOPOLOGY = frozenset(
    {
        "process.roles",
        "node.id",
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "inter.broker.listener.name",
        "controller.listener.names",
        "controller.quorum.bootstrap.servers",
        "controller.quorum.voters",
        "log.dirs",
    }
)
"""Where one broker listens and keeps its data: each deployment says its own."""

REPLICATED = {
    "offsets.topic.replication.factor": "factor",
    "transaction.state.log.replication.factor": "factor",
    "share.coordinator.state.topic.replication.factor": "factor",
    "default.replication.factor": "factor",
    "transaction.state.log.min.isr": "min_isr",
    "share.coordinator.state.topic.min.isr": "min_isr",
    "min.insync.replicas": "min_isr",
}
"""Settings that follow the number of brokers (a single node has 1 and 1)."""

AUTHORISATION_POLICY = ("authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found", "ssl.client.auth")
"""The secure shape's policy, the same on every broker of the platform (who may do what is the ACL file's)."""


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` lines (continuation lines joined), comments and blank lines skipped."""
    result: dict[str, str] = {}
    for line in text.replace("\\\n", "").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            key, _, value = stripped.partition("=")
            result[key.strip()] = value.strip()
    return result


def embedded_properties() -> dict[str, str]:
    """The embedded broker's `server.properties` (plaintext shape, ports and paths as placeholders)."""
    listeners = PLAINTEXT_LISTENERS.format(port=9092, controller_port=9093)
    return parse_properties(
        SERVER_PROPERTIES.format(listeners=listeners, port=9092, controller_port=9093, log_dirs="<data>")
    )


def embedded_security() -> dict[str, str]:
    """The embedded broker's secure listener settings (placeholders for its files and passwords)."""
    placeholders = dict.fromkeys(
        ("port", "controller_port", "admin_password", "keystore", "keystore_password", "ca_file"), "<local>"
    )
    return parse_properties(SECURE_LISTENERS.format(admin=ADMIN, reauth_ms=300_000, **placeholders))


def platform_properties() -> dict[str, str]:
    """How the platform's broker behaves, wherever it runs (the embedded broker's settings minus its topology)."""
    return {key: value for key, value in embedded_properties().items() if key not in TOPOLOGY}


def authorisation_policy() -> dict[str, str]:
    security = embedded_security()
    return {key: security[key] for key in AUTHORISATION_POLICY} | {
        "connections.max.reauth.ms": security["connections.max.reauth.ms"]
    }


def replication(brokers: int) -> dict[str, str]:
    """Replication of the internal topics for a cluster of `brokers`: 3 copies and 2 in sync when it can."""
    factor = min(brokers, 3)
    values = {"factor": factor, "min_isr": 2 if factor >= 3 else 1}
    return {key: str(values[kind]) for key, kind in REPLICATED.items()}


def cluster_properties(brokers: int) -> dict[str, str]:
    """The platform's settings for a cluster of `brokers` (topology excluded)."""
    single = platform_properties()
    scaled = replication(brokers)
    if brokers == 1:  # exactly the embedded broker's: it leaves the defaults (1) of the others
        return single | {key: value for key, value in scaled.items() if key in single}
    return single | scaled


def docker_env_name(key: str) -> str:
    """The `apache/kafka` image's variable for a property: `.` → `_`, `_` → `__`, `-` → `___`, upper case."""
    name = "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper()
    if docker_property(name) != key:
        raise ValueError(f"{key} has no unambiguous apache/kafka variable")
    return name


def docker_property(name: str) -> str:
    """The property the `apache/kafka` image writes for a `KAFKA_*` variable (its KafkaDockerWrapper's rule)."""
    return name.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")


def docker_env(properties: Mapping[str, str]) -> dict[str, str]:
    return {docker_env_name(key): value for key, value in properties.items()}
