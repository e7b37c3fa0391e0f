"""The platform's topics as a deployment creates them: partitions, copies, and how long they are kept."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.kafka import DEFAULT_PARTITIONS, dlq_topic
from services.contract.topics import PLATFORM_TOPICS
from services.deploy.broker import replication

DLQ_RETENTION_MS = 90 * 24 * 3600 * 1000
"""Dead letters are kept 90 days for triage (the events themselves stay on their topics forever)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replicas: int
    config: dict[str, int]


def _spec(name: str, brokers: int, history: bool) -> TopicSpec:
    copies = replication(brokers)
    config = {
        "min.insync.replicas": int(copies["min.insync.replicas"]),
        "retention.ms": -1 if history else DLQ_RETENTION_MS,
        "retention.bytes": -1,
    }
    return TopicSpec(name, DEFAULT_PARTITIONS, int(copies["default.replication.factor"]), config)


def platform_topics(brokers: int) -> list[TopicSpec]:
    """Every platform topic, kept forever (the history the audit replays, the integrity checkpoints), and its
    dead-letter topic. Establishments' topics are created by the notifications service as they subscribe."""
    specs: list[TopicSpec] = []
    for name in PLATFORM_TOPICS:
        specs += [_spec(name, brokers, history=True), _spec(dlq_topic(name), brokers, history=False)]
    return specs
