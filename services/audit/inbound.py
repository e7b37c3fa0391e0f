"""Replay: every record of the history topics, from offset 0 to the end offsets seen at the start, into the audit
database (a plain kafka-python consumer without a group: reading never disturbs anyone's position)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

import orjson
from kafka import KafkaConsumer, TopicPartition

from services.audit.records import lean
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


def _effective(text: str) -> str:
    """`utc_text(parse_time(text))`. A time in one of the two forms the platform's envelopes carry (pydantic's JSON:
    `utc_text`'s own, or a whole second without a fraction) is only checked, not parsed and formatted again: the
    first is given back, the second with six zeros for its fraction. Hour 24 is left to the formatting (a Python that
    reads it, 3.14, reads it as the next day's midnight)."""
    form = _ENVELOPE_TIME.fullmatch(text)
    if form is not None and text[11:13] != "24":
        datetime.fromisoformat(text)  # a check: a value out of range raises as `parse_time` does
        return text if form.group(1) else text[:19] + ".000000Z"
    return utc_text(parse_time(text))


_ENVELOPE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", re.ASCII)
"""The two forms of time of the platform's envelopes (ASCII digits only)."""

_SHALLOW = 256
"""A value with fewer brackets than this is nested less deep than the standard library's parser can go (about
1,000 levels, Python's recursion limit; orjson goes to 1,023): orjson may parse it."""


def _json_object(value: bytes, text: str) -> Any:
    """The record's value parsed, as the standard library parses `text` (its decoding). orjson parses a value with
    fewer than `_SHALLOW` brackets; what orjson refuses (JSON's extensions: NaN, lone surrogates, numbers beyond a
    float) and every deeper value are left to the library's parser, which accepts or refuses them as before: a value
    stored is one every reader of the audit database can parse. Only the value's shape and one text field are read
    from what is parsed: where the two parsers differ on a value both accept (an integer beyond 64 bits, parsed by
    orjson as a float), nothing that is kept differs."""
    if value.count(b"[") + value.count(b"{") < _SHALLOW:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return _library_json(text)


_library_json = json.JSONDecoder().decode


@lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    return utc_text(datetime.fromtimestamp(seconds, UTC))[:19]


def _recorded(timestamp_ms: int) -> str:
    """A record's timestamp as `utc_text` writes it (records published in the same second share the formatting)."""
    seconds, ms = divmod(timestamp_ms, 1000)
    return f"{_utc_second(seconds)}.{ms:03d}000Z"


def row_of(
    topic: str,
    partition: int | None,
    offset: int | None,
    timestamp_ms: int | None,
    headers: Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]] | None,
    value: bytes | None,
) -> HistoryRow | Rejected:
    """A Kafka record (CloudEvents binary mode) as an audit database row, or why it cannot be one. `timestamp_ms` is
    when the platform recorded the event (the recorded axis): the record's timestamp for a record read from Kafka
    (when the relay published it), the stored event's for one mapped from a store (`sources.stored_ms`)."""
    attributes: dict[str, Any] = dict(headers or ())
    try:
        event_id = attributes["ce_id"].decode()
        type_ = attributes["ce_type"].decode()
        moment = attributes["ce_time"].decode()
    except KeyError as missing:
        return Rejected(topic, partition, offset, f"missing CloudEvent attribute {missing.args[0][3:]}")
    except (UnicodeDecodeError, AttributeError):  # a null header value has no text either
        return Rejected(topic, partition, offset, "CloudEvent attribute is not UTF-8")
    if attributes.get("ce_specversion") != b"1.0":
        return Rejected(topic, partition, offset, "unsupported specversion")
    try:
        text = (value or b"").decode()
        data = _json_object(value or b"", text)
        effective = _effective(moment)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep to parse
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


class KafkaReplay:
    """Reads `topics` from their first offsets to the end offsets seen when it starts."""

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

    def run(self) -> ReplayStats:
        stats = ReplayStats()
        started = self.clock()
        consumer = lean(
            KafkaConsumer(
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
        )
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(consumer.partitions_for_topic(topic) or [])
            ]
            if not partitions:
                return stats
            consumer.assign(partitions)
            first = consumer.beginning_offsets(partitions)
            ends = consumer.end_offsets(partitions)
            pending = {tp: end for tp, end in ends.items() if end > first[tp]}
            consumer.seek_to_beginning(*partitions)
            if self.progress is not None:
                self.progress.start(sum(ends[tp] - first[tp] for tp in partitions))
            with self.history.writer() as writer:
                self._consume(consumer, pending, writer, stats)
        finally:
            consumer.close()
            stats.seconds = self.clock() - started
        return stats

    def _consume(
        self, consumer: KafkaConsumer, pending: dict[TopicPartition, int], writer: HistoryWriter, stats: ReplayStats
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
                for offset, timestamp, headers, value in records:
                    if end is None or offset >= end:
                        continue  # published after the replay started: the next replay takes it
                    count += 1
                    row = row_of(tp.topic, tp.partition, offset, timestamp, headers, value)
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
            if self.progress is not None:
                self.progress.advance(count)
