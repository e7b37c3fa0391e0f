"""`verify`: every service's event store against its own seals and against the checkpoints published on Kafka.

`verify` recomputes every seal from the stored rows (`services.common.integrity.hashing`) and names the first
altered, removed, reordered or inserted event; a chain that no longer matches a published checkpoint was rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from kafka import KafkaConsumer, TopicPartition

from services.common.envelope import CloudEvent, EnvelopeError
from services.common.eventstore import StoreRef, persistence_env
from services.common.integrity.checkpoints import Checkpoint, checkpoint_of
from services.common.integrity.hashing import ZERO, Seal, StoredRow, aggregate_hash, chain_hash, genesis
from services.common.integrity.sealing import SealedStore, use_sealing_recorders
from services.common.kafka_security import Brokers, access_of


class FindingKind(StrEnum):
    ALTERED = "altered"
    """The event's bytes differ from its seal."""
    REMOVED = "removed"
    """A sealed event is missing."""
    REORDERED = "reordered"
    """A sealed event stands at another position (notification id or version) than the one it was sealed at."""
    INSERTED = "inserted"
    """An event without a seal: written around the application."""
    SEAL_BROKEN = "seal-broken"
    """A seal does not follow from the one before it: seals were edited or removed."""
    REWRITTEN = "rewritten"
    """The chain no longer matches a published checkpoint: the store was rewritten and re-sealed."""
    TRUNCATED = "truncated"
    """A checkpoint names events beyond the end of the store."""
    UNSEALED_STORE = "unsealed-store"
    """The store has no integrity store id."""


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    notification_id: int | None
    detail: str
    originator_id: str | None = None
    originator_version: int | None = None

    def __str__(self) -> str:
        where = f"event #{self.notification_id}" if self.notification_id is not None else "store"
        if self.originator_id is not None:
            where += f" (aggregate {self.originator_id} v{self.originator_version})"
        return f"{self.kind.value}: {where}: {self.detail}"


@dataclass
class Verification:
    """What `verify` found in one store."""

    store_id: str | None
    events: int = 0
    sealed: int = 0
    head: int = 0
    checkpoints_matched: int = 0
    checkpoints_total: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def verify(
    store_id: str | None,
    rows: Iterable[StoredRow],
    seals: Iterable[Seal],
    checkpoints: Iterable[Checkpoint] = (),
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Recomputes every seal from the stored rows; names each altered, removed, reordered or inserted event.

    Findings are ordered by notification id: the first one is where the store stops being trustworthy.
    """
    result = Verification(store_id)
    if store_id is None:
        result.findings.append(Finding(FindingKind.UNSEALED_STORE, None, "no integrity store id: cannot verify"))
        return result
    sealed = {s.notification_id: s for s in seals}
    result.sealed = len(sealed)
    result.head = max(sealed, default=0)
    findings = _check_seal_chain(store_id, sealed)
    findings += _check_rows(rows, sealed, result, progress)
    cps = sorted((c for c in checkpoints if c.store_id == store_id), key=lambda c: c.notification_id)
    result.checkpoints_total = len(cps)
    findings += _check_checkpoints(cps, sealed, result)
    result.findings = sorted(findings, key=lambda f: (f.notification_id or 0, f.kind.value))
    return result


def _check_seal_chain(store_id: str, sealed: Mapping[int, Seal]) -> list[Finding]:
    findings = []
    previous_chain = genesis(store_id)
    previous_aggregate: dict[str, str] = {}
    previous_nid = 0
    for nid in sorted(sealed):
        seal = sealed[nid]
        before = previous_aggregate.get(seal.originator_id)
        expected_aggregate = aggregate_hash(
            ZERO if before is None else bytes.fromhex(before), seal.originator_version, bytes.fromhex(seal.body_hash)
        )
        expected_chain = chain_hash(previous_chain, nid, bytes.fromhex(seal.aggregate_hash))
        if expected_chain.hex() != seal.chain_hash:
            findings.append(
                Finding(
                    FindingKind.SEAL_BROKEN,
                    nid,
                    f"its chain link does not follow seal #{previous_nid}: a sealed event between them was removed, "
                    "or a seal was edited",
                    seal.originator_id,
                    seal.originator_version,
                )
            )
        elif expected_aggregate.hex() != seal.aggregate_hash:
            findings.append(
                Finding(
                    FindingKind.SEAL_BROKEN,
                    nid,
                    "its aggregate link does not follow the aggregate's previous seal: an earlier version was removed, "
                    "or a seal was edited",
                    seal.originator_id,
                    seal.originator_version,
                )
            )
        previous_chain = bytes.fromhex(seal.chain_hash)
        previous_aggregate[seal.originator_id] = seal.aggregate_hash
        previous_nid = nid
    return findings


def _check_rows(
    rows: Iterable[StoredRow],
    sealed: Mapping[int, Seal],
    result: Verification,
    progress: Callable[[int], None] | None,
) -> list[Finding]:
    by_body: dict[str, list[int]] = {}
    for each in sealed.values():
        by_body.setdefault(each.body_hash, []).append(each.notification_id)
    findings = []
    accounted: set[int] = set()
    present: set[int] = set()
    versions: dict[str, set[int]] = {}
    for count, row in enumerate(rows, start=1):
        result.events += 1
        present.add(row.notification_id)
        versions.setdefault(row.originator_id, set()).add(row.originator_version)
        if progress is not None and count % 5000 == 0:
            progress(5000)
        body = row.body_hash.hex()
        seal = sealed.get(row.notification_id)
        at = (row.originator_id, row.originator_version)
        if seal is not None and seal.body_hash == body and (seal.originator_id, seal.originator_version) == at:
            accounted.add(row.notification_id)
            continue
        moved = [m for m in by_body.get(body, []) if m != row.notification_id]
        if seal is not None and seal.body_hash == body:
            moved = [row.notification_id]
        if moved:
            origin = sealed[moved[0]]
            accounted.add(origin.notification_id)
            findings.append(
                Finding(
                    FindingKind.REORDERED,
                    row.notification_id,
                    f"holds the event sealed as #{origin.notification_id} "
                    f"(aggregate {origin.originator_id} v{origin.originator_version})",
                    *at,
                )
            )
        elif seal is None:
            findings.append(Finding(FindingKind.INSERTED, row.notification_id, "no seal: written around the app", *at))
        else:
            findings.append(Finding(FindingKind.ALTERED, row.notification_id, "its bytes differ from its seal", *at))
    if progress is not None:
        progress(result.events % 5000)
    for nid, missing_seal in sealed.items():
        if nid not in accounted and nid not in present:
            findings.append(
                Finding(
                    FindingKind.REMOVED,
                    nid,
                    "sealed but missing from the store",
                    missing_seal.originator_id,
                    missing_seal.originator_version,
                )
            )
    sealed_versions = {(s.originator_id, s.originator_version) for s in sealed.values()}
    for originator_id, seen in versions.items():
        for missing in sorted(set(range(1, max(seen) + 1)) - seen):
            if (originator_id, missing) not in sealed_versions:
                findings.append(
                    Finding(
                        FindingKind.REMOVED,
                        None,
                        "version missing, and its seal too",
                        originator_id,
                        missing,
                    )
                )
    return findings


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint], sealed: Mapping[int, Seal], result: Verification
) -> list[Finding]:
    findings = []
    last_good = 0
    for checkpoint in checkpoints:
        seal = sealed.get(checkpoint.notification_id)
        when = f" (published {checkpoint.published_at.isoformat()})" if checkpoint.published_at else ""
        if seal is not None and seal.chain_hash == checkpoint.chain_hash:
            result.checkpoints_matched += 1
            last_good = checkpoint.notification_id
        elif seal is None and checkpoint.notification_id > result.head:
            findings.append(
                Finding(
                    FindingKind.TRUNCATED,
                    checkpoint.notification_id,
                    f"a checkpoint{when} sealed the store up to here; the store ends at #{result.head}",
                )
            )
        else:
            findings.append(
                Finding(
                    FindingKind.REWRITTEN,
                    checkpoint.notification_id,
                    f"the chain differs from the checkpoint{when}: events after #{last_good} up to here were "
                    "rewritten and re-sealed",
                )
            )
    return findings


def verify_store(
    store: SealedStore,
    checkpoints: Iterable[Checkpoint] = (),
    page: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Reads a sealed store page by page and verifies it, up to the last event or seal stored when it starts (an event
    and its seal commit together, so events recorded meanwhile are left out of both sides, not mistaken for
    insertions, while a deleted last event still leaves its seal behind)."""
    head = store.sealed_head()
    upto = max(store.max_notification_id() or 0, head.notification_id if head is not None else 0)
    return verify(
        store.store_id(),
        _paged(store.read_rows, page, upto),
        _paged(store.read_seals, page, upto),
        checkpoints,
        progress,
    )


def _paged(read: Callable[[int, int], Sequence[Any]], page: int, upto: int) -> Iterator[Any]:
    after = 0
    while True:
        batch = read(after, page)
        for item in batch:
            if item.notification_id > upto:
                return
            yield item
        if len(batch) < page:
            return
        after = batch[-1].notification_id


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
    if store.missing:
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
