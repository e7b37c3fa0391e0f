"""The brokers of every deployment behave like the embedded one (one source, compared here), and the Strimzi
resources say what the platform's sources say: its topics, and each principal of deploy/kafka/acls.toml."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.kafka import DEFAULT_PARTITIONS, dlq_topic
from services.common.kafka_acls import load_acl_file
from services.contract.topics import ORG_NAMESPACE, PLATFORM_TOPICS
from services.deploy import broker, strimzi
from services.deploy.compose import IMAGE_VARIABLES
from services.runtime.kafka_local import PLAINTEXT_LISTENERS, SERVER_PROPERTIES
from services.runtime.kafka_security import CREDENTIALS_ISSUER
from tests.deploy.validation import DEPLOY, load_yaml


def embedded_server_properties() -> dict[str, str]:
    """What the embedded broker writes into its server.properties (services/runtime/kafka_local.py)."""
    listeners = PLAINTEXT_LISTENERS.format(port=19092, controller_port=19093)
    text = SERVER_PROPERTIES.format(listeners=listeners, port=19092, controller_port=19093, log_dirs="/data")
    return broker.parse_properties(text)


def compose_broker_properties() -> dict[str, str]:
    """The Compose broker's settings as the apache/kafka image turns its variables into server.properties."""
    environment = load_yaml(DEPLOY / "compose" / "compose.yaml")[0]["services"]["kafka"]["environment"]
    return {
        broker.docker_property(name): str(value)
        for name, value in environment.items()
        if name.startswith("KAFKA_") and name not in IMAGE_VARIABLES
    }


def test_the_compose_broker_has_the_embedded_brokers_settings() -> None:
    embedded = {k: v for k, v in embedded_server_properties().items() if k not in broker.TOPOLOGY}
    compose = compose_broker_properties()
    assert embedded.items() <= compose.items()
    assert len(embedded) >= 10


def test_the_compose_broker_has_the_secure_shapes_authorisation_policy() -> None:
    secure = broker.embedded_security()
    compose = compose_broker_properties()
    for key in (*broker.AUTHORISATION_POLICY, "connections.max.reauth.ms"):
        assert compose[key] == secure[key], key
    assert compose["sasl.enabled.mechanisms"] == secure["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


def test_a_changed_embedded_setting_shows_in_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "SERVER_PROPERTIES", SERVER_PROPERTIES + "log.retention.hours=168\n")
    embedded = {k: v for k, v in broker.embedded_properties().items() if k not in broker.TOPOLOGY}
    assert not embedded.items() <= compose_broker_properties().items()


@pytest.mark.parametrize("key", ["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config", "log.retention.hours"])
def test_image_variables_round_trip(key: str) -> None:
    assert broker.docker_property(broker.docker_env_name(key)) == key


def test_strimzi_runs_the_platforms_settings_with_three_copies() -> None:
    config = load_yaml(DEPLOY / "k8s" / "kafka" / "kafka.yaml")[0]["spec"]["kafka"]["config"]
    shared = {k: v for k, v in embedded_server_properties().items() if k not in broker.TOPOLOGY}
    for key, value in shared.items():
        expected = broker.replication(3).get(key, value)
        assert str(config[key]).lower() == expected, key
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["allow.everyone.if.no.acl.found"] is False


def test_the_dev_cluster_keeps_one_copy(built: dict[str, list[dict[str, Any]]]) -> None:
    kafka = next(doc for doc in built["dev"] if doc["kind"] == "Kafka")
    pools = [doc for doc in built["dev"] if doc["kind"] == "KafkaNodePool"]
    assert [(p["spec"]["replicas"], sorted(p["spec"]["roles"])) for p in pools] == [(1, ["broker", "controller"])]
    replicated = {k: v for k, v in kafka["spec"]["kafka"]["config"].items() if k in broker.REPLICATED}
    assert set(replicated.values()) == {1} and len(replicated) == len(broker.REPLICATED)
    assert {t["spec"]["replicas"] for t in built["dev"] if t["kind"] == "KafkaTopic"} == {1}


def test_production_runs_three_controllers_and_three_brokers(built: dict[str, list[dict[str, Any]]]) -> None:
    pools = {doc["metadata"]["name"]: doc["spec"] for doc in built["prod"] if doc["kind"] == "KafkaNodePool"}
    assert sorted((p["replicas"], tuple(p["roles"])) for p in pools.values()) == [
        (3, ("broker",)),
        (3, ("controller",)),
    ]


def test_every_platform_topic_has_a_kafka_topic() -> None:
    topics = {doc["spec"]["topicName"]: doc["spec"] for doc in load_yaml(DEPLOY / "k8s" / "kafka" / "topics.yaml")}
    assert set(topics) == set(PLATFORM_TOPICS) | {dlq_topic(t) for t in PLATFORM_TOPICS}
    for name, spec in topics.items():
        assert (spec["partitions"], spec["replicas"], spec["config"]["min.insync.replicas"]) == (
            DEFAULT_PARTITIONS,
            3,
            2,
        )
        kept_forever = spec["config"]["retention.ms"] == -1
        assert kept_forever == (not name.endswith(".dlq")), name


def _acls(user: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(resource type, name, pattern, operation) of a KafkaUser."""
    return {
        (acl["resource"]["type"], acl["resource"].get("name", ""), acl["resource"].get("patternType", ""), op)
        for acl in user["spec"]["authorization"]["acls"]
        for op in acl["operations"]
    }


def _expected(principal: Any) -> set[tuple[str, str, str, str]]:
    result = set()
    for grant in principal.grants:
        kind, _, prefix = grant.resource.partition("_")
        name = "" if kind == "cluster" else grant.name
        pattern = "" if kind == "cluster" else ("prefix" if prefix else "literal")
        result |= {(kind, name, pattern, op.title().replace("_", "")) for op in grant.operations}
    return result


def test_every_service_principal_is_a_kafka_user_with_exactly_its_acls() -> None:
    acls = load_acl_file(org_namespace=ORG_NAMESPACE)
    users = {doc["metadata"]["name"]: doc for doc in load_yaml(DEPLOY / "k8s" / "kafka" / "users.yaml")}
    assert set(users) == set(acls.principals) - {CREDENTIALS_ISSUER}  # Strimzi's User Operator issues
    for name, user in users.items():
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert _acls(user) == _expected(acls.principals[name]), name


def test_an_establishments_user_comes_from_the_organisation_template() -> None:
    example = load_yaml(DEPLOY / "k8s" / "kafka" / "organisation-user.example.yaml")[0]
    assert _acls(example) == _expected(load_acl_file(org_namespace=ORG_NAMESPACE).for_organisation("example-org"))
    assert {acl[2] for acl in _acls(example)} == {"prefix"}
    assert _acls(strimzi.organisation_user("centre-crise-quebec")) == _expected(
        load_acl_file(org_namespace=ORG_NAMESPACE).for_organisation("centre-crise-quebec")
    )


@pytest.mark.parametrize("org_id", ["Centre_Crise", "ab_c"])
def test_an_organisation_id_that_cannot_name_a_kafka_user_is_refused(org_id: str) -> None:
    with pytest.raises(strimzi.OrganisationNameError):
        strimzi.organisation_user(org_id)


def _config_map(documents: list[dict[str, Any]], name: str) -> dict[str, str]:
    """A generated ConfigMap's data by its name before kustomize's hash."""
    maps = (doc for doc in documents if doc["kind"] == "ConfigMap")
    return next(doc["data"] for doc in maps if doc["metadata"]["name"].rsplit("-", 1)[0] == name)


def _kafka(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return next(doc for doc in documents if doc["kind"] == "Kafka")


def _compose_env(name: str) -> dict[str, str]:
    path = DEPLOY / "compose" / "config" / name
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.parametrize("installation", ["compose", "dev", "prod"])
def test_the_standards_board_keeps_as_many_copies_as_every_other_topic(
    built: dict[str, list[dict[str, Any]]], installation: str
) -> None:
    """The board topic and every faust changelog are created with STANDARDS_REPLICATION_FACTOR: production's three
    copies, the single broker's one."""
    if installation == "compose":
        factor = _compose_env("standards.env")["STANDARDS_REPLICATION_FACTOR"]
        copies = compose_broker_properties().get("default.replication.factor", "1")  # one broker: Kafka's default
    else:
        factor = _config_map(built[installation], "rls-standards")["STANDARDS_REPLICATION_FACTOR"]
        copies = str(_kafka(built[installation])["spec"]["kafka"]["config"]["default.replication.factor"])
    assert factor == copies == ("3" if installation == "prod" else "1")


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_bootstrap_address_given_to_establishments_is_in_the_brokers_certificates(
    built: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """Their clients check the broker's name: the bootstrap host the notifications service hands out must be a subject
    alternative name of the external listener (Strimzi adds `bootstrap.alternativeNames` to the certificates)."""
    bootstrap = _config_map(built[overlay], "rls-notifications")["NOTIFICATIONS_KAFKA_CLIENT_BOOTSTRAP"]
    listener = next(lst for lst in _kafka(built[overlay])["spec"]["kafka"]["listeners"] if lst["name"] == "external")
    names = listener.get("configuration", {}).get("bootstrap", {}).get("alternativeNames", [])
    for address in bootstrap.split(","):
        host, _, port = address.rpartition(":")
        assert host in names, f"{overlay}: {host} not in the certificate's names {names}"
        if listener["type"] == "loadbalancer":
            assert int(port) == listener["port"]


def test_the_entity_operators_request_and_cap_their_resources(built: dict[str, list[dict[str, Any]]]) -> None:
    for overlay in ("dev", "prod"):
        operators = _kafka(built[overlay])["spec"]["entityOperator"]
        for name in ("topicOperator", "userOperator"):
            resources = operators[name]["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], (overlay, name)
            assert resources["limits"]["memory"], (overlay, name)
