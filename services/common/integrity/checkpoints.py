"""Checkpoints: the chain head of a store, published on a Kafka topic kept forever.

Whoever can write a database could recompute its seals, so `CheckpointPublisher` periodically publishes the chain
head: a store rewritten and re-sealed no longer matches the checkpoints published before the rewrite.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.common.clock import Clock, system_clock
from services.common.envelope import CloudEvent, derived_id, schema_uri
from services.common.integrity.hashing import Head
from services.common.integrity.sealing import sealed_head
from services.common.kafka import Outgoing, make_admin
from services.common.kafka_security import Brokers

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "ca.qc.rls.audit.checkpoint.v1"
DEFAULT_CHECKPOINT_TOPIC = "rls.audit.checkpoints.v1"
"""The same name as `services.contract.topics.AUDIT_CHECKPOINTS` (the kernel does not import the contract)."""


@dataclass(frozen=True)
class Checkpoint:
    """A published chain head (from the checkpoint topic)."""

    store_id: str
    notification_id: int
    chain_hash: str
    published_at: datetime | None = None
    application: str = ""


def checkpoint_event(application: str, head: Head, source: str, at: datetime) -> CloudEvent:
    """The CloudEvent publishing a chain head (payload: `services.contract.audit_events.IntegrityCheckpointV1`)."""
    return CloudEvent(
        id=derived_id("integrity-checkpoint", head.store_id, str(head.notification_id)),
        source=source,
        type=CHECKPOINT_TYPE,
        time=at,
        subject=application,
        dataschema=schema_uri(CHECKPOINT_TYPE),
        data={
            "application": application,
            "store_id": head.store_id,
            "notification_id": head.notification_id,
            "chain_hash": head.chain_hash,
            "sealed_events": head.sealed,
            "occurred_at": at.isoformat(),
        },
    )


def checkpoint_of(event: CloudEvent) -> Checkpoint | None:
    """A checkpoint read back from the topic (None when the record is not one)."""
    if event.type != CHECKPOINT_TYPE:
        return None
    data = event.data
    try:
        return Checkpoint(
            str(data["store_id"]),
            int(data["notification_id"]),
            str(data["chain_hash"]),
            event.time,
            str(data.get("application", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def ensure_checkpoint_topic(brokers: Brokers, topic: str = DEFAULT_CHECKPOINT_TOPIC) -> None:
    """Creates the checkpoint topic, kept forever (retention -1), unless it exists."""
    admin = make_admin(brokers, "integrity-checkpoints-admin")
    try:
        if topic not in set(admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "-1"})])
    finally:
        admin.close()


class CheckpointSink(Protocol):
    def publish(self, messages: Sequence[Outgoing]) -> None: ...


class CheckpointPublisher:
    """Publishes a store's chain head whenever it moved, every `interval_s`."""

    def __init__(
        self,
        recorder: object,
        sink: CheckpointSink,
        *,
        application: str,
        topic: str = DEFAULT_CHECKPOINT_TOPIC,
        source: str,
        interval_s: float = 60.0,
        clock: Clock = system_clock,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.sink = sink
        self.application = application
        self.topic = topic
        self.source = source
        self.interval_s = interval_s
        self.clock = clock
        self.published: Head | None = None
        self.published_at: datetime | None = None
        self._prepare = prepare

    def run_once(self) -> Head | None:
        """Publishes the head if it moved since the last checkpoint; returns what was published."""
        head = sealed_head(self.recorder, since=self.published)
        if head is None or (self.published is not None and head.notification_id <= self.published.notification_id):
            return None
        if self._prepare is not None:
            self._prepare()
            self._prepare = None
        now = self.clock()
        event = checkpoint_event(self.application, head, self.source, now)
        self.sink.publish([Outgoing(self.topic, head.store_id, event)])
        self.published, self.published_at = head, now
        return head

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 -- a missed checkpoint is retried at the next interval
                log.warning("integrity checkpoint of %s not published; retrying later", self.application)
