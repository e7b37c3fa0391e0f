"""`verify`: every service's event store against its own seals and against the checkpoints published on Kafka.

`verify` recomputes every seal from the stored rows (`services.common.integrity.hashing`) and names the first
altered, removed, reordered or inserted event; a chain that no longer matches a published checkpoint was rewritten,
and a store whose application published checkpoints under another store id was replaced, unless a network auditor
acknowledged that id as retired (then its checkpoints are reported, not found).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, InterfaceError, OperationalError, PersistenceError
from eventsourcing.utils import Environment
from kafka import KafkaConsumer, TopicPartition

from services.audit.acknowledgements import AcknowledgementEntry
from services.audit.domain import StoreUnavailableError
from services.common.envelope import CloudEvent, EnvelopeError
from services.common.eventstore import StoreRef, persistence_env
from services.common.integrity.checkpoints import Checkpoint, checkpoint_of
from services.common.integrity.hashing import ZERO, Seal, StoredRow, aggregate_hash, chain_hash, genesis
from services.common.integrity.sealing import SealedStore, use_sealing_recorders
from services.common.kafka_security import Brokers, access_of
from services.common.sqlstore import PostgresTarget


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
    REPLACED_STORE = "replaced-store"
    """Checkpoints of the store's application were published under another store id: the store was replaced
    (re-created, or rewritten and re-sealed from a fresh store id), and what they sealed cannot be checked."""


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


@dataclass(frozen=True)
class AcknowledgedStore:
    """Another store id of the application, retired: an acknowledgement covers every checkpoint it published."""

    store_id: str
    acknowledgement: AcknowledgementEntry
    checkpoints: int
    up_to_event: int

    def __str__(self) -> str:
        made = self.acknowledgement
        return (
            f"acknowledged retired store: store id {self.store_id} published {self.checkpoints} checkpoint(s) up to "
            f"event #{self.up_to_event}; acknowledged as retired by {made.auditor} ({made.org}) on "
            f"{made.at.isoformat()}: acknowledgement {made.acknowledgement_id}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "acknowledgement_id": self.acknowledgement.acknowledgement_id,
            "checkpoints": self.checkpoints,
            "up_to_event": self.up_to_event,
        }


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
    other_store_ids: list[str] = field(default_factory=list)
    """Other store ids with checkpoints under the store's application (each one a `replaced-store` finding, unless
    acknowledged)."""
    acknowledged: list[AcknowledgedStore] = field(default_factory=list)
    """The other store ids whose checkpoints an acknowledgement covers (no finding)."""

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def verify_store(
    store: SealedStore,
    checkpoints: Iterable[Checkpoint] = (),
    page: int = 10_000,
    progress: Callable[[int], None] | None = None,
    application: str | None = None,
    acknowledgements: Sequence[AcknowledgementEntry] = (),
) -> Verification:
    """Recomputes every seal from the stored rows; names each altered, removed, reordered or inserted event.

    Findings are ordered by notification id: the first one is where the store stops being trustworthy. Given the
    store's `application`, the checkpoints it published under any other store id come first (`replaced-store`): a
    store rewritten, its seals and store id deleted, is re-sealed from a fresh id at start-up, which no checkpoint
    published before names, so only those other ids tell. Those of an id acknowledged as retired (`acknowledgements`
    of the application) are no finding, as long as none was published after the acknowledgement.

    Reads the store as streams of pages, up to the last event or seal stored when it starts (an event and its seal
    commit together, so events recorded meanwhile are left out of both sides, not mistaken for insertions, while a
    deleted last event still leaves its seal behind). It holds a page of each stream, the checkpoints and what it
    found, never the whole store: events and seals merged in notification order (the rows against their seals, the
    chain), the seals aggregate by aggregate (their aggregate links), the events' versions aggregate by aggregate
    (versions missing). Only a tampered store costs one more pass over the seals (where a moved event came from).
    """
    result = Verification(store.store_id())
    if result.store_id is None:
        result.findings.append(Finding(FindingKind.UNSEALED_STORE, None, "no integrity store id: cannot verify"))
        return result
    checkpoints = list(checkpoints)
    head = store.sealed_head()
    upto = max(store.max_notification_id() or 0, head.notification_id if head is not None else 0)
    cps = sorted((c for c in checkpoints if c.store_id == result.store_id), key=lambda c: c.notification_id)
    replaced = [] if application is None else _replaced(checkpoints, application, acknowledgements, result)
    result.checkpoints_total = len(cps)
    merged = _Merge(result, {c.notification_id for c in cps}, progress)
    merged.run(_paged(store.read_rows, page, upto), _paged(store.read_seals, page, upto))
    gaps = _version_gaps(v for v in store.versions_by_aggregate(page) if v[0] <= upto)
    links, gaps, unordered = _check_aggregate_links(
        (s for s in store.seals_by_aggregate(page) if s.notification_id <= upto), merged.chain_broken, gaps
    )
    findings = merged.findings + links
    if unordered:
        findings += _check_links_in_order(_paged(store.read_seals, page, upto), unordered, merged.chain_broken)
    findings += merged.resolve(lambda: _paged(store.read_seals, page, upto))
    findings += [
        Finding(FindingKind.REMOVED, None, "version missing, and its seal too", originator_id, version)
        for originator_id, version in gaps
    ]
    findings += _check_checkpoints(cps, merged.chain_at, result)
    result.findings = replaced + sorted(findings, key=lambda f: (f.notification_id or 0, f.kind.value))
    return result


def _replaced(
    checkpoints: Sequence[Checkpoint],
    application: str,
    acknowledgements: Sequence[AcknowledgementEntry],
    result: Verification,
) -> list[Finding]:
    """One `replaced-store` finding per other store id that published checkpoints of `application`, the id seen
    last first (a checkpoint without an application name cannot be told apart, and is left out); an id acknowledged
    as retired is listed in `result.acknowledged` instead, unless it published a checkpoint its acknowledgement does
    not cover (a retired store publishes no more): one past the last event it covers, or more checkpoints than it
    counted (duplicates of one checkpoint count once: a publisher may send one twice)."""
    by_store: dict[str, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        if checkpoint.application == application and checkpoint.store_id != result.store_id:
            by_store.setdefault(checkpoint.store_id, []).append(checkpoint)
    result.other_store_ids = sorted(by_store)
    acknowledged = {a.store_id: a for a in acknowledgements if a.application == application}
    findings = []
    for other, published in sorted(by_store.items(), key=lambda item: _recency(item[1]), reverse=True):
        up_to = max(c.notification_id for c in published)
        acknowledgement = acknowledged.get(other)
        uncovered = None if acknowledgement is None else _uncovered(acknowledgement, published, up_to)
        if acknowledgement is not None and uncovered is None:
            result.acknowledged.append(AcknowledgedStore(other, acknowledgement, len(published), up_to))
            continue
        last = _last_published(published)
        when = f", the last published {last.isoformat()}" if last is not None else ""
        after = (
            ""
            if acknowledgement is None
            else f"; acknowledgement {acknowledgement.acknowledgement_id} covers {uncovered} only: it published "
            "checkpoints after it was acknowledged as retired"
        )
        findings.append(
            Finding(
                FindingKind.REPLACED_STORE,
                None,
                f"store id {other} published {len(published)} checkpoint(s) of {application} up to event "
                f"#{up_to}{when}; this store's id is {result.store_id}: the store was replaced (re-created, or "
                f"rewritten and re-sealed from a new store id), and what those checkpoints sealed cannot be "
                f"checked{after}",
            )
        )
    return findings


def _uncovered(acknowledgement: AcknowledgementEntry, published: Sequence[Checkpoint], up_to: int) -> str | None:
    """What an acknowledgement covers of a retired store id, when the checkpoints `published` under it go beyond
    (None: it covers them all)."""
    if up_to > acknowledgement.up_to_event:
        return f"it up to event #{acknowledgement.up_to_event}"
    if len({(c.notification_id, c.chain_hash) for c in published}) > acknowledgement.checkpoints:
        return f"{acknowledgement.checkpoints} checkpoint(s) of it"
    return None


def _last_published(checkpoints: Sequence[Checkpoint]) -> datetime | None:
    return max((c.published_at for c in checkpoints if c.published_at is not None), default=None)


def _recency(checkpoints: Sequence[Checkpoint]) -> float:
    last = _last_published(checkpoints)
    return float("-inf") if last is None else last.timestamp()


@dataclass
class _Unmatched:
    """An event that does not stand where its seal says (resolved once the whole store was read)."""

    row: StoredRow
    body: str
    seal: Seal | None


class _Merge:
    """Events and seals in notification order, side by side: the chain, and each event against its seal."""

    def __init__(self, result: Verification, checkpoint_ids: set[int], progress: Callable[[int], None] | None) -> None:
        self.result = result
        self.checkpoint_ids = checkpoint_ids
        self.progress = progress
        self.findings: list[Finding] = []
        self.chain_broken: set[int] = set()
        self.chain_at: dict[int, str] = {}
        """Checkpointed notification id -> the chain hash sealed there."""
        self.unmatched: list[_Unmatched] = []
        self.unread_seals: dict[int, Seal] = {}
        """Seals whose notification id holds no event: removed, unless the event moved."""
        self._chain = genesis(self.result.store_id or "")
        self._chain_nid = 0

    def run(self, rows: Iterator[StoredRow], seals: Iterator[Seal]) -> None:
        row, seal = next(rows, None), next(seals, None)
        while row is not None or seal is not None:
            if seal is not None and (row is None or seal.notification_id < row.notification_id):
                self._seal(seal)
                self.unread_seals[seal.notification_id] = seal
                seal = next(seals, None)
            elif row is not None and (seal is None or row.notification_id < seal.notification_id):
                self._row(row, None)
                row = next(rows, None)
            elif row is not None and seal is not None:
                self._seal(seal)
                self._row(row, seal)
                row, seal = next(rows, None), next(seals, None)
        if self.progress is not None:
            self.progress(self.result.events % 5000)

    def _seal(self, seal: Seal) -> None:
        nid = seal.notification_id
        self.result.sealed += 1
        self.result.head = nid
        if nid in self.checkpoint_ids:
            self.chain_at[nid] = seal.chain_hash
        if chain_hash(self._chain, nid, bytes.fromhex(seal.aggregate_hash)).hex() != seal.chain_hash:
            self.chain_broken.add(nid)
            self.findings.append(
                Finding(
                    FindingKind.SEAL_BROKEN,
                    nid,
                    f"its chain link does not follow seal #{self._chain_nid}: a sealed event between them was "
                    "removed, or a seal was edited",
                    seal.originator_id,
                    seal.originator_version,
                )
            )
        self._chain = bytes.fromhex(seal.chain_hash)
        self._chain_nid = nid

    def _row(self, row: StoredRow, seal: Seal | None) -> None:
        self.result.events += 1
        if self.progress is not None and self.result.events % 5000 == 0:
            self.progress(5000)
        body = row.body_hash.hex()
        at = (row.originator_id, row.originator_version)
        if seal is not None and seal.body_hash == body:
            if (seal.originator_id, seal.originator_version) != at:
                self.findings.append(_reordered(row, seal))
            return
        self.unmatched.append(_Unmatched(row, body, seal))

    def resolve(self, seals: Callable[[], Iterator[Seal]]) -> list[Finding]:
        """The events not standing where sealed: moved (a seal elsewhere has their bytes: one more pass over the
        seals, only then), inserted or altered; and the seals whose event is gone (removed), unless the event moved."""
        bodies = {u.body for u in self.unmatched}
        by_body: dict[str, list[Seal]] = {}
        for seal in seals() if bodies else ():
            if seal.body_hash in bodies:
                by_body.setdefault(seal.body_hash, []).append(seal)
        findings = []
        for each in self.unmatched:
            row = each.row
            moved = [s for s in by_body.get(each.body, []) if s.notification_id != row.notification_id]
            if moved:
                self.unread_seals.pop(moved[0].notification_id, None)
                findings.append(_reordered(row, moved[0]))
            elif each.seal is None:
                findings.append(
                    Finding(
                        FindingKind.INSERTED,
                        row.notification_id,
                        "no seal: written around the app",
                        row.originator_id,
                        row.originator_version,
                    )
                )
            else:
                findings.append(
                    Finding(
                        FindingKind.ALTERED,
                        row.notification_id,
                        "its bytes differ from its seal",
                        row.originator_id,
                        row.originator_version,
                    )
                )
        findings += [
            Finding(
                FindingKind.REMOVED,
                nid,
                "sealed but missing from the store",
                seal.originator_id,
                seal.originator_version,
            )
            for nid, seal in self.unread_seals.items()
        ]
        self.unmatched, self.unread_seals = [], {}
        return findings


def _reordered(row: StoredRow, origin: Seal) -> Finding:
    return Finding(
        FindingKind.REORDERED,
        row.notification_id,
        f"holds the event sealed as #{origin.notification_id} "
        f"(aggregate {origin.originator_id} v{origin.originator_version})",
        row.originator_id,
        row.originator_version,
    )


def _version_gaps(versions: Iterable[tuple[int, str, int]]) -> list[tuple[str, int]]:
    """The versions missing below each aggregate's last stored one (read aggregate by aggregate), aggregates in the
    order of their first event, then by version."""
    found: list[tuple[int, str, int]] = []
    group: list[int] = []
    originator: str | None = None
    first, last = 0, 0
    for nid, originator_id, version in versions:
        if originator_id != originator:
            found += [(first, originator or "", missing) for missing in group]
            group, originator, first, last = [], originator_id, nid, 0
        first = min(first, nid)
        group += range(last + 1, version)
        last = version
    found += [(first, originator or "", missing) for missing in group]
    return [(originator_id, version) for _, originator_id, version in sorted(found)]


def _check_aggregate_links(
    seals: Iterable[Seal], chain_broken: set[int], gaps: list[tuple[str, int]]
) -> tuple[list[Finding], list[tuple[str, int]], set[str]]:
    """Each seal's aggregate link against the previous seal of its aggregate, the seals read aggregate by aggregate in
    version order (a seal whose chain link is broken is named for that already); which of the missing versions still
    have no seal; and the aggregates whose seals' versions do not follow their notification order (seals edited:
    their links are checked again in notification order)."""
    findings = []
    wanted = set(gaps)
    unordered: set[str] = set()
    originator: str | None = None
    previous, last_nid = ZERO, 0
    for seal in seals:
        if seal.originator_id != originator:
            originator, previous, last_nid = seal.originator_id, ZERO, 0
        if seal.notification_id < last_nid:
            unordered.add(seal.originator_id)
        wanted.discard((seal.originator_id, seal.originator_version))
        findings += _broken_link(seal, previous, chain_broken)
        previous, last_nid = bytes.fromhex(seal.aggregate_hash), seal.notification_id
    kept = [f for f in findings if f.originator_id not in unordered]
    return kept, [gap for gap in gaps if gap in wanted], unordered


def _check_links_in_order(seals: Iterable[Seal], originators: set[str], chain_broken: set[int]) -> list[Finding]:
    """The aggregate links of some aggregates' seals, read in notification order."""
    findings = []
    previous: dict[str, bytes] = {}
    for seal in seals:
        if seal.originator_id in originators:
            findings += _broken_link(seal, previous.get(seal.originator_id, ZERO), chain_broken)
            previous[seal.originator_id] = bytes.fromhex(seal.aggregate_hash)
    return findings


def _broken_link(seal: Seal, previous: bytes, chain_broken: set[int]) -> list[Finding]:
    expected = aggregate_hash(previous, seal.originator_version, bytes.fromhex(seal.body_hash))
    if expected.hex() == seal.aggregate_hash or seal.notification_id in chain_broken:
        return []
    return [
        Finding(
            FindingKind.SEAL_BROKEN,
            seal.notification_id,
            "its aggregate link does not follow the aggregate's previous seal: an earlier version was removed, "
            "or a seal was edited",
            seal.originator_id,
            seal.originator_version,
        )
    ]


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint], chain_at: Mapping[int, str], result: Verification
) -> list[Finding]:
    findings = []
    last_good = 0
    for checkpoint in checkpoints:
        chain = chain_at.get(checkpoint.notification_id)
        when = f" (published {checkpoint.published_at.isoformat()})" if checkpoint.published_at else ""
        if chain is not None and chain == checkpoint.chain_hash:
            result.checkpoints_matched += 1
            last_good = checkpoint.notification_id
        elif chain is None and checkpoint.notification_id > result.head:
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


def _paged(read: Callable[[int, int], Sequence[Any]], page: int, upto: int) -> Iterator[Any]:
    """Everything `read` returns up to `upto`, a page at a time (the page read is let go before the next one)."""
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
        del batch


@dataclass
class StoreVerification:
    """One store's verification, with what could not be checked."""

    store: StoreRef
    result: Verification | None
    problem: str | None = None
    other_stores: list[str] = field(default_factory=list)
    """Store ids that published checkpoints under the same application name (each a `replaced-store` finding, unless
    acknowledged)."""
    last_checkpoint_at: datetime | None = None
    """When this store's latest checkpoint was published."""
    notes: list[str] = field(default_factory=list)
    """What limits the verification without being a finding (no checkpoint of the store yet)."""

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
            "acknowledged_stores": [] if result is None else [a.as_dict() for a in result.acknowledged],
            "last_checkpoint_at": None if self.last_checkpoint_at is None else self.last_checkpoint_at.isoformat(),
            "notes": self.notes,
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


def current_store_id(store: StoreRef) -> str | None:
    """The integrity store id the store holds now (None: no store there, one that cannot be sealed, or one that
    cannot be read, such as a database without the integrity tables); `StoreUnavailableError` when its PostgreSQL
    server does not answer (refused, timed out: retried later, it may)."""
    try:
        recorder, close = open_store(store)
        try:
            return recorder.store_id()
        finally:
            close()
    except (FileNotFoundError, TypeError):
        return None
    except PersistenceError as error:
        # SQLite reports a missing table as an OperationalError too: only a server's say "unreachable"
        if PostgresTarget.of(store.url) is not None and isinstance(error, OperationalError | InterfaceError):
            raise StoreUnavailableError(f"event store not reachable: {type(error).__name__}") from None
        return None


def verify_stores(
    stores: Iterable[StoreRef],
    checkpoints: Iterable[Checkpoint],
    progress: Callable[[StoreRef, int], None] | None = None,
    acknowledgements: Sequence[AcknowledgementEntry] = (),
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
            result = verify_store(
                recorder, checkpoints, progress=step, application=store.application, acknowledgements=acknowledgements
            )
        except Exception as error:  # noqa: BLE001 -- an unreadable store is a finding, not a crash
            results.append(StoreVerification(store, None, f"store not readable: {type(error).__name__}"))
            continue
        finally:
            close()
        published = [c.published_at for c in checkpoints if c.store_id == result.store_id and c.published_at]
        replaced = set(result.other_store_ids) - {a.store_id for a in result.acknowledged}
        unchecked = result.sealed and not result.checkpoints_total and not replaced
        notes = [str(a) for a in result.acknowledged] + ([NO_CHECKPOINT] if unchecked else [])
        results.append(
            StoreVerification(store, result, None, result.other_store_ids, max(published, default=None), notes)
        )
    return results


NO_CHECKPOINT = (
    "no checkpoint of this store was read: only its own seals vouch for it (a store rewritten and re-sealed in full "
    "would pass); expected for a new store until its first checkpoint, otherwise its checkpoints are off or not "
    "published (see rls_integrity_checkpoint_behind)"
)
"""A note, not a finding: every new store has none for up to one checkpoint interval (a finding would fail every
fresh install, and every acknowledged re-creation); a store replaced after any checkpoint of its application is
`replaced-store`, whatever this says; a publisher that stopped is for the checkpoint metrics to alert on."""
