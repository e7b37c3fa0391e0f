"""Replay: every record of the history topics, from offset 0 to the end offsets seen at the start, into the audit
database (a plain kafka-python consumer without a group: reading never disturbs anyone's position)."""

from __future__ import annotations

import json
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition

from services.audit.views import HistoryDB, HistoryRow, HistoryWriter, Rejected, classify, parse_time, utc_text
from services.common.kafka_security import Brokers, access_of

IDLE_LIMIT_S = 15.0
"""A replay that receives nothing for this long although end offsets were not reached stops (and says so)."""


class Progress(Protocol):
    """What a replay reports while it runs (the CLI draws a progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass
class ReplayStats:
    """What a replay did: records read, events stored, records rejected or after `--until`, and how fast."""

    read: int = 0
    stored: int = 0
    rejected: int = 0
    after_until: int = 0
    seconds: float = 0.0
    complete: bool = True
    source: str = "kafka"
    skipped: list[str] = field(default_factory=list)
    """Stores not found (replays from the stores)."""

    def add(self, other: ReplayStats) -> None:
        """Counts another replay process's counts in."""
        self.read += other.read
        self.stored += other.stored
        self.rejected += other.rejected
        self.after_until += other.after_until
        self.complete = self.complete and other.complete

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "stored": self.stored,
            "rejected": self.rejected,
            "after_until": self.after_until,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.rate, 1),
            "complete": self.complete,
            "skipped": self.skipped,
        }


@lru_cache(maxsize=512)
def _kind(type_: str) -> tuple[str | None, str | None]:
    return classify(type_)


@lru_cache(maxsize=4096)
def _effective(text: str) -> str:
    return utc_text(parse_time(text))


@lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    return utc_text(datetime.fromtimestamp(seconds, UTC))[:19]


def _recorded(timestamp_ms: int) -> str:
    """A record's timestamp as `utc_text` writes it (records published in the same second share the formatting)."""
    seconds, ms = divmod(timestamp_ms, 1000)
    return f"{_utc_second(seconds)}.{ms:03d}000Z"


_json_object = json.JSONDecoder().decode


def row_of(
    topic: str,
    partition: int | None,
    offset: int | None,
    timestamp_ms: int | None,
    headers: Iterable[tuple[str, bytes]] | None,
    value: bytes | None,
) -> HistoryRow | Rejected:
    """A Kafka record (CloudEvents binary mode) as an audit database row, or why it cannot be one."""
    attributes = dict(headers or ())
    try:
        event_id = attributes["ce_id"].decode()
        type_ = attributes["ce_type"].decode()
        moment = attributes["ce_time"].decode()
    except KeyError as missing:
        return Rejected(topic, partition, offset, f"missing CloudEvent attribute {missing.args[0][3:]}")
    except UnicodeDecodeError:
        return Rejected(topic, partition, offset, "CloudEvent attribute is not UTF-8")
    if attributes.get("ce_specversion") != b"1.0":
        return Rejected(topic, partition, offset, "unsupported specversion")
    try:
        text = (value or b"").decode()
        data = _json_object(text)
        effective = _effective(moment)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Rejected(topic, partition, offset, "record value is not JSON")
    except ValueError:
        return Rejected(topic, partition, offset, "time is not an ISO 8601 instant with an offset")
    if not isinstance(data, dict):
        return Rejected(topic, partition, offset, "record value must be a JSON object")
    kind, field = _kind(type_)
    entity = data.get(field) if field else None
    if kind is not None and not isinstance(entity, str):
        return Rejected(topic, partition, offset, f"{type_}: {field} missing")
    recorded = _recorded(timestamp_ms) if timestamp_ms is not None and timestamp_ms >= 0 else None
    return HistoryRow(event_id, topic, partition, offset, type_, kind, entity, effective, recorded, text)


Share = dict[TopicPartition, int]
"""The partitions one replay process reads, each up to the end offset seen when the replay started."""


class ReplayError(RuntimeError):
    """A replay process failed (its error's type) or ended without saying it finished."""


class KafkaReplay:
    """Reads `topics` from their first offsets to the end offsets seen when it starts.

    Decoding Kafka records in Python costs most of a replay, so the partitions are shared among `processes` processes
    (forked: nothing is imported again), each reading its partitions and storing each poll in one transaction of its
    own. Every record is read by exactly one process, and stored once (a replay rebuilds from offset 0; rows are unique
    by CloudEvent id). An audit database in memory is filled in this process.
    """

    def __init__(
        self,
        brokers: Brokers,
        topics: Sequence[str],
        history: HistoryDB,
        *,
        batch: int = 5000,
        until: datetime | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 10.0,
        check_crcs: bool = True,
        processes: int = 2,
    ) -> None:
        self.brokers = brokers
        self.topics = list(topics)
        self.history = history
        self.batch = batch
        self.until = utc_text(until) if until is not None else None
        self.progress = progress
        self.clock = clock
        self.timeout_s = timeout_s
        self.check_crcs = check_crcs
        self.processes = processes if history.shared else 1

    def run(self) -> ReplayStats:
        stats = ReplayStats()
        started = self.clock()
        try:
            offsets = self._offsets()
            if self.progress is not None:
                self.progress.start(sum(end - first for first, end in offsets.values()))
            shares = _split(offsets, self.processes)
            if len(shares) > 1:
                self._in_processes(shares, stats)
            elif shares:
                self._read(shares[0], stats, self._advance)
        finally:
            stats.seconds = self.clock() - started
        return stats

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            **access_of(self.brokers).client_config(),
            group_id=None,
            client_id="rls-audit-replay",
            enable_auto_commit=False,
            max_poll_records=self.batch,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            receive_buffer_bytes=4 * 1024 * 1024,
            bootstrap_timeout_ms=int(self.timeout_s * 1000),
            check_crcs=self.check_crcs,
        )

    def _offsets(self) -> dict[TopicPartition, tuple[int, int]]:
        """Each partition holding records: its first offset and its end offset now."""
        consumer = self._consumer()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(consumer.partitions_for_topic(topic) or [])
            ]
            if not partitions:
                return {}
            first = consumer.beginning_offsets(partitions)
            ends = consumer.end_offsets(partitions)
            return {tp: (first[tp], end) for tp, end in ends.items() if end > first[tp]}
        finally:
            consumer.close()

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(count)

    def _in_processes(self, shares: list[Share], stats: ReplayStats) -> None:
        context = multiprocessing.get_context("fork")
        messages = context.Queue()
        workers = [
            context.Process(target=self._read_share, args=(share, messages), name="rls-audit-replay", daemon=True)
            for share in shares
        ]
        for worker in workers:
            worker.start()
        try:
            finished = 0
            while finished < len(workers):
                try:
                    kind, value = messages.get(timeout=1.0)
                except queue.Empty:
                    if any(worker.exitcode not in (None, 0) for worker in workers):
                        raise ReplayError("a replay process ended before it finished") from None
                    continue
                if kind == "read":
                    self._advance(value)
                elif kind == "done":
                    stats.add(value)
                    finished += 1
                else:
                    raise ReplayError(f"a replay process failed: {value}")
        finally:
            for worker in workers:
                worker.join(timeout=None if finished == len(workers) else 0)
                if worker.is_alive():
                    worker.terminate()
                    worker.join()

    def _read_share(self, share: Share, messages: Any) -> None:
        """A replay process: its share of the partitions, its counts sent back as it goes."""
        stats = ReplayStats()
        try:
            self._read(share, stats, lambda count: messages.put(("read", count)))
        except Exception as error:  # noqa: BLE001 -- reported to the replay, which raises it
            messages.put(("failed", type(error).__name__))
            return
        messages.put(("done", stats))

    def _read(self, share: Share, stats: ReplayStats, advance: Callable[[int], None]) -> None:
        consumer = self._consumer()
        try:
            consumer.assign(list(share))
            consumer.seek_to_beginning(*share)
            with self.history.writer() as writer:
                self._consume(consumer, dict(share), writer, stats, advance)
        finally:
            consumer.close()

    def _consume(
        self,
        consumer: KafkaConsumer,
        pending: Share,
        writer: HistoryWriter,
        stats: ReplayStats,
        advance: Callable[[int], None],
    ) -> None:
        idle_since = self.clock()
        while pending:
            polled = consumer.poll(timeout_ms=500, max_records=self.batch)
            if not polled:
                if self.clock() - idle_since > IDLE_LIMIT_S:
                    stats.complete = False
                    return
                continue
            idle_since = self.clock()
            rows: list[HistoryRow] = []
            rejected: list[Rejected] = []
            count = 0
            for tp, records in polled.items():
                end = pending.get(tp)
                for record in records:
                    if end is None or record.offset >= end:
                        continue  # published after the replay started: the next replay takes it
                    count += 1
                    row = row_of(tp.topic, tp.partition, record.offset, record.timestamp, record.headers, record.value)
                    if isinstance(row, Rejected):
                        rejected.append(row)
                    elif self.until is not None and row.effective_at > self.until:
                        stats.after_until += 1
                    else:
                        rows.append(row)
                if end is not None and consumer.position(tp) >= end:
                    del pending[tp]
            writer.write(rows, rejected)
            stats.read += count
            stats.stored += len(rows)
            stats.rejected += len(rejected)
            advance(count)


def _split(offsets: dict[TopicPartition, tuple[int, int]], processes: int) -> list[Share]:
    """The partitions shared among at most `processes` processes, about as many records each (largest first)."""
    shares: list[Share] = [{} for _ in range(min(processes, len(offsets)))]
    loads = [0] * len(shares)
    for tp, (first, end) in sorted(offsets.items(), key=lambda item: item[1][0] - item[1][1]):
        lightest = loads.index(min(loads))
        shares[lightest][tp] = end
        loads[lightest] += end - first
    return shares
