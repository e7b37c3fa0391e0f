"""`deploy/k8s/kafka/`: the Kafka cluster as Strimzi (`kafka.strimzi.io/v1`) resources, rendered from the sources
the local broker uses: the broker settings (`services/deploy/broker.py`), the platform's topics
(`services/contract/topics.py`) and every principal of the ACL file (`deploy/kafka/acls.toml`).

Strimzi's User Operator owns the Kafka users here: each service principal is a `KafkaUser` (SCRAM-SHA-512, its
password in the Secret of the same name), and an establishment's user is a `KafkaUser` made from the file's
`[organisation]` template (`rls deploy org-user <org_id>`), so the credentials issuer principal is not deployed.
"""

from __future__ import annotations

import re
from typing import Any

from services.common.kafka_acls import AclFile, Grant, Principal, load_acl_file
from services.contract.topics import ORG_NAMESPACE
from services.deploy import broker
from services.deploy.platform import KAFKA_CLUSTER, KAFKA_VERSION, PART_OF, PRODUCTION_BROKERS
from services.deploy.topics import TopicSpec, platform_topics
from services.runtime.kafka_security import CREDENTIALS_ISSUER

API_VERSION = "kafka.strimzi.io/v1"
STRIMZI_VERSION = "1.0.1"
"""The operator these resources are written for (it serves only `kafka.strimzi.io/v1` and runs Kafka 4.1.1)."""
METADATA_VERSION = "4.1-IV1"
"""KRaft metadata version of Kafka 4.1 (`MetadataVersion.latestProduction()` of the 4.1.1 jars)."""
CLIENT_PORT, EXTERNAL_PORT = 9093, 9094
ENTITY_OPERATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
"""Each of the Topic and User Operators' containers (a JVM each): requested, and capped like the platform's pods."""
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class OrganisationNameError(ValueError):
    """The organisation id cannot name a Kubernetes resource (lower-case letters, digits and '-' only)."""


def _cluster_label() -> dict[str, str]:
    return {"strimzi.io/cluster": KAFKA_CLUSTER, "app.kubernetes.io/part-of": PART_OF}


def typed(value: str) -> int | bool | str:
    """A broker setting as YAML shows it best (Strimzi accepts numbers, booleans and strings)."""
    if value in ("true", "false"):
        return value == "true"
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def kafka_config(brokers: int) -> dict[str, int | bool | str]:
    """`spec.kafka.config`: the platform's broker settings for `brokers` (listeners, authoriser and super users are
    Strimzi's to set; the ACL policy is the same as the local broker's)."""
    policy = broker.authorisation_policy()
    settings = broker.cluster_properties(brokers) | {
        "allow.everyone.if.no.acl.found": policy["allow.everyone.if.no.acl.found"],
        "connections.max.reauth.ms": policy["connections.max.reauth.ms"],
    }
    return {key: typed(value) for key, value in settings.items()}


def _platform_pods() -> dict[str, Any]:
    """Only the platform's pods reach the services' listener (establishments use `external`)."""
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}}


def _listener(name: str, port: int, kind: str) -> dict[str, Any]:
    return {"name": name, "port": port, "type": kind, "tls": True, "authentication": {"type": "scram-sha-512"}}


def kafka() -> dict[str, Any]:
    """The cluster: TLS + SCRAM-SHA-512 listeners (`tls` for the services, `external` for establishments), simple
    authorisation (ACLs), the Topic and User Operators; its nodes are the overlays' node pools."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Kafka",
        "metadata": {"name": KAFKA_CLUSTER, "labels": {"app.kubernetes.io/part-of": PART_OF}},
        "spec": {
            "kafka": {
                "version": KAFKA_VERSION,
                "metadataVersion": METADATA_VERSION,
                "listeners": [
                    _listener("tls", CLIENT_PORT, "internal")
                    | {
                        "networkPolicyPeers": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}}]
                    },
                    _listener("external", EXTERNAL_PORT, "loadbalancer"),
                ],
                "authorization": {"type": "simple"},
                "config": kafka_config(PRODUCTION_BROKERS),
            },
            "entityOperator": {
                "topicOperator": {"resources": ENTITY_OPERATOR_RESOURCES},
                "userOperator": {"resources": ENTITY_OPERATOR_RESOURCES},
            },
        },
    }


def single_node_patch() -> dict[str, Any]:
    """The dev overlay's change to the cluster: one dual-role node, so one copy of everything."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Kafka",
        "metadata": {"name": KAFKA_CLUSTER},
        "spec": {"kafka": {"config": kafka_config(1) | {k: typed(v) for k, v in broker.replication(1).items()}}},
    }


def _topic(spec: TopicSpec) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaTopic",
        "metadata": {"name": spec.name, "labels": _cluster_label()},
        "spec": {
            "topicName": spec.name,
            "partitions": spec.partitions,
            "replicas": spec.replicas,
            "config": spec.config,
        },
    }


def topics() -> list[dict[str, Any]]:
    """A `KafkaTopic` per platform topic and dead-letter topic (`services/deploy/topics.py`)."""
    return [_topic(spec) for spec in platform_topics(PRODUCTION_BROKERS)]


def _operation(name: str) -> str:
    """`DESCRIBE_CONFIGS` (kafka-python's name) → `DescribeConfigs` (Strimzi's)."""
    return "".join(part.capitalize() for part in name.split("_"))


def _acl(grant: Grant) -> dict[str, Any]:
    if grant.resource == "cluster":
        resource: dict[str, str] = {"type": "cluster"}
    else:
        kind, _, prefix = grant.resource.partition("_")
        resource = {"type": kind, "name": grant.name, "patternType": "prefix" if prefix else "literal"}
    return {"resource": resource, "operations": [_operation(op) for op in grant.operations], "host": "*"}


def kafka_user(principal: Principal) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": {
            "name": principal.username,
            "labels": _cluster_label(),
            "annotations": {"rls-referrals/about": principal.about},
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": [_acl(grant) for grant in principal.grants]},
        },
    }


def users(acls: AclFile | None = None) -> list[dict[str, Any]]:
    """A `KafkaUser` per principal of the ACL file, but the credentials issuer (the User Operator issues here)."""
    acls = acls or load_acl_file(org_namespace=ORG_NAMESPACE)
    return [kafka_user(p) for name, p in acls.principals.items() if name != CREDENTIALS_ISSUER]


def organisation_user(org_id: str, acls: AclFile | None = None) -> dict[str, Any]:
    """An establishment's `KafkaUser`: the ACL file's `[organisation]` template for `org_id` (prefix ACLs on its own
    topics and consumer groups)."""
    principal = (acls or load_acl_file(org_namespace=ORG_NAMESPACE)).for_organisation(org_id)
    if not _DNS_NAME.match(principal.username) or len(principal.username) > 63:
        raise OrganisationNameError(
            f"{principal.username!r} cannot name a KafkaUser: lower-case letters, digits and '-' only"
        )
    return kafka_user(principal)


def kafka_kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["kafka.yaml", "topics.yaml", "users.yaml"],
    }
