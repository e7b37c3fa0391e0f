"""`verify`: every service's event store against its own seals and against the checkpoints published on Kafka."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from kafka import KafkaConsumer, TopicPartition

from services.audit.settings import StoreRef
from services.common.envelope import CloudEvent, EnvelopeError
from services.common.eventstore import persistence_env
from services.common.integrity import (
    Checkpoint,
    SealedStore,
    Verification,
    checkpoint_of,
    use_sealing_recorders,
    verify_store,
)
from services.common.kafka_security import Brokers, access_of


@dataclass
class StoreVerification:
    """One store's verification, with what could not be checked."""

    store: StoreRef
    result: Verification | None
    problem: str | None = None
    other_stores: list[str] = field(default_factory=list)
    """Store ids that published checkpoints under the same application name (a replaced store?)."""
    last_checkpoint_at: datetime | None = None
    """When this store's latest checkpoint was published."""

    @property
    def ok(self) -> bool:
        return self.problem is None and self.result is not None and self.result.ok

    def as_dict(self) -> dict[str, Any]:
        result = self.result
        return {
            "service": self.store.service,
            "application": self.store.application,
            "ok": self.ok,
            "problem": self.problem,
            "store_id": None if result is None else result.store_id,
            "events": 0 if result is None else result.events,
            "sealed": 0 if result is None else result.sealed,
            "checkpoints_matched": 0 if result is None else result.checkpoints_matched,
            "checkpoints": 0 if result is None else result.checkpoints_total,
            "first_finding": None if result is None or result.first is None else str(result.first),
            "findings": [] if result is None else [str(f) for f in result.findings],
            "other_store_ids_with_checkpoints": self.other_stores,
            "last_checkpoint_at": None if self.last_checkpoint_at is None else self.last_checkpoint_at.isoformat(),
        }


def read_checkpoints(brokers: Brokers, topic: str, timeout_s: float = 10.0, idle_ms: int = 1000) -> list[Checkpoint]:
    """Every checkpoint published so far (the topic is small: one record per store and interval)."""
    consumer = KafkaConsumer(
        **access_of(brokers).client_config(),
        group_id=None,
        enable_auto_commit=False,
        bootstrap_timeout_ms=int(timeout_s * 1000),
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        found: list[Checkpoint] = []
        while pending:
            polled = consumer.poll(timeout_ms=idle_ms)
            if not polled:
                break
            for tp, records in polled.items():
                for record in records:
                    try:
                        checkpoint = checkpoint_of(CloudEvent.from_kafka(record.headers, record.value))
                    except EnvelopeError:
                        continue
                    if checkpoint is not None:
                        found.append(checkpoint)
                if consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return found
    finally:
        consumer.close()


def open_store(store: StoreRef) -> tuple[SealedStore, Callable[[], None]]:
    """A sealing recorder on an existing store, read-only (creates nothing)."""
    parsed = urlparse(store.url)
    if parsed.scheme == "sqlite" and not Path(unquote(parsed.path.removeprefix("/"))).exists():
        raise FileNotFoundError("no event store at the configured path")
    env = Environment(store.application, persistence_env(store.url))
    env["CREATE_TABLE"] = "false"
    use_sealing_recorders(env)
    factory = InfrastructureFactory.construct(env)
    recorder = factory.process_recorder()
    if not isinstance(recorder, SealedStore):
        raise TypeError("this store cannot be sealed (in memory)")
    return recorder, factory.close


def verify_stores(
    stores: Iterable[StoreRef],
    checkpoints: Iterable[Checkpoint],
    progress: Callable[[StoreRef, int], None] | None = None,
) -> list[StoreVerification]:
    checkpoints = list(checkpoints)
    results = []
    for store in stores:
        try:
            recorder, close = open_store(store)
        except (FileNotFoundError, TypeError) as error:
            results.append(StoreVerification(store, None, str(error)))
            continue
        try:
            step = None if progress is None else (lambda n, s=store: progress(s, n))
            result = verify_store(recorder, checkpoints, progress=step)
        except Exception as error:  # noqa: BLE001 -- an unreadable store is a finding, not a crash
            results.append(StoreVerification(store, None, f"store not readable: {type(error).__name__}"))
            continue
        finally:
            close()
        others = sorted(
            {c.store_id for c in checkpoints if c.application == store.application and c.store_id != result.store_id}
        )
        published = [c.published_at for c in checkpoints if c.store_id == result.store_id and c.published_at]
        results.append(StoreVerification(store, result, None, others, max(published, default=None)))
    return results
