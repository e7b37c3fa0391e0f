"""Consumer loop: each upstream record is applied once in effect, poison records go to `<topic>.dlq`.

A dead letter carries what Kafka can carry of the record (`sendable`; without its content when even that is too
large). One Kafka refuses outright is logged by position and counted, and the record skipped: retried, it would stop
its partition for ever. One not sent because Kafka is unavailable leaves the record to be processed again.

The position of every partition is a tracking row written in the same transaction as the events the record
caused, so a redelivered record is recognised and skipped. On (re)assignment each partition is positioned
from those rows, not from Kafka's committed offsets (which are only committed for monitoring lag).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Tracking
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.structs import MemberState
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from services.common.declared import invalid_data
from services.common.envelope import CloudEvent, EnvelopeError
from services.common.eventstore import TrackedApplication
from services.common.kafka import RecordRefusedError, dlq_topic, sendable
from services.common.kafka_security import Brokers, access_of
from services.common.tracing import span

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, Tracking], None]


class PoisonMessageError(Exception):
    """A handler's verdict that a record can never be processed (it goes to the dead-letter topic)."""


CONTENT_DROPPED = "dlq_content_dropped"
"""Dead-letter header: why the letter carries none of the record's key, value and headers (Kafka refuses them)."""


class DeadLetterRefusedError(Exception):
    """Kafka refuses a record's dead letter even without the record's content: the record cannot be dead-lettered."""


class DeadLetterSink:
    """Where poison records go: a publisher able to send raw records (raising `RecordRefusedError` for a record that
    can never be sent as it is, anything else when Kafka did not take it)."""

    def __init__(self, send_raw: Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], None]) -> None:
        self._send_raw = send_raw

    def send(self, record: Any, reason: str, group: str) -> bool:
        """Sends the record's dead letter with what Kafka can carry of it (`sendable`); returns False when it went
        without the record's key, value and headers (Kafka refuses them: too large), raises `DeadLetterRefusedError`
        when Kafka refuses even that. Any other error (Kafka unavailable) propagates: the letter was not sent."""
        topic = dlq_topic(record.topic)
        marks = [
            ("dlq_reason", reason.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_consumer_group", group.encode()),
        ]
        key, value, headers = sendable(record.key, record.value, _header_pairs(record.headers))
        try:
            self._send_raw(topic, key, value, [*headers, *marks])
            return True
        except RecordRefusedError as refused:
            whole = refused.reason
        try:  # the marks alone say where the record is (its topic keeps it until its retention)
            self._send_raw(topic, None, b"", [*marks, (CONTENT_DROPPED, whole.encode())])
        except RecordRefusedError as refused:
            raise DeadLetterRefusedError(f"{whole}; without the record's content: {refused.reason}") from refused
        return False


def tracking_for(topic: str, partition: int, offset: int) -> Tracking:
    """Tracking ids start at 1, Kafka offsets at 0."""
    return Tracking(f"{topic}#{partition}", offset + 1)


@dataclass
class RecordProcessor:
    """Applies one record: skip if already tracked, dead-letter if poison, else call the handler."""

    app: TrackedApplication
    handler: Handler
    dead_letters: DeadLetterSink
    group: str
    declared: frozenset[str]
    """The names the handler's models declare (`names_declared_by`): a dead-letter reason shows these keys of a
    record, any other as `<key>` (a mapping's key or an unknown member is the producer's text, maybe personal)."""
    max_attempts: int = 3
    retry_sleep: float = 0.5
    dead_lettered: Counter[str] = field(default_factory=Counter)
    """Records dead-lettered by this process, per topic (a metric)."""
    dead_letters_refused: Counter[str] = field(default_factory=Counter)
    """Poison records this process skipped without a dead letter (Kafka refused it), per topic (a metric)."""

    def process(self, record: Any) -> str:
        """Returns what happened: `skipped`, `applied`, `dead-lettered` or `dropped` (poison whose dead letter Kafka
        refuses: logged, counted and skipped). Raises when a dead letter could not be sent for a reason of Kafka's
        (unavailable): the record is not tracked, so the loop's restart retries it."""
        tracking = tracking_for(record.topic, record.partition, record.offset)
        if self.app.has_processed(tracking):
            return "skipped"
        for attempt in range(1, self.max_attempts + 1):
            try:
                event = CloudEvent.from_kafka(record.headers, record.value)
                with span("consume", event.traceparent, SpanKind.CONSUMER, self._attributes(record)):
                    self.handler(event, tracking)
            except (EnvelopeError, PoisonMessageError, ValidationError) as error:
                return self._dead_letter(record, tracking, reason=_reason(error, self.declared))
            except Exception as error:  # noqa: BLE001 -- unknown failure: retry, then dead-letter
                if self._applied_meanwhile(tracking):  # by this handler before it failed, or by another member
                    return "skipped"
                if attempt == self.max_attempts:
                    return self._dead_letter(record, tracking, reason=f"failed {attempt} times: {type(error).__name__}")
                log.warning(
                    "record %s#%d@%d failed (%s); retrying",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(error).__name__,
                )
                time.sleep(self.retry_sleep * attempt)
            else:
                self.app.mark_processed(tracking)
                return "applied"
        raise AssertionError("unreachable")

    def _applied_meanwhile(self, tracking: Tracking) -> bool:
        """Whether the record's position is stored after all (False when even that cannot be read)."""
        try:
            return self.app.has_processed(tracking)
        except Exception:  # noqa: BLE001 -- the store failed as well: the record is retried as before
            return False

    def _attributes(self, record: Any) -> dict[str, str | int]:
        return {
            "messaging.system": "kafka",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.consumer.group.name": self.group,
            "messaging.kafka.offset": record.offset,
        }

    def _dead_letter(self, record: Any, tracking: Tracking, reason: str) -> str:
        outcome = send_dead_letter(
            self.dead_letters, record, reason, self.group, self.dead_lettered, self.dead_letters_refused
        )
        self.app.mark_processed(tracking)
        return outcome


def send_dead_letter(
    sink: DeadLetterSink,
    record: Any,
    reason: str,
    group: str,
    dead_lettered: Counter[str],
    refused: Counter[str],
) -> str:
    """Sends `record`'s dead letter through `sink`, logs it by position (never its content) and counts it per topic in
    `dead_lettered`; returns `dead-lettered`, or `dropped` when Kafka refuses even its letter without content (logged
    as an error and counted in `refused`: the caller skips the record, which retried would stop its partition for
    ever). Any other error (Kafka unavailable) is logged and raised: the caller must process the record again. The
    consumers and the standards board (faust) both dead-letter through this one function."""
    try:
        whole = sink.send(record, reason, group)
    except DeadLetterRefusedError as error:
        log.error(
            "record %s#%d@%d not dead-lettered, Kafka refuses its dead letter (%s); skipped: %s",
            record.topic,
            record.partition,
            record.offset,
            error,
            reason,
        )
        refused[record.topic] += 1
        return "dropped"
    except Exception as error:
        log.warning(
            "record %s#%d@%d: its dead letter was not sent (%s); the record stays to be processed",
            record.topic,
            record.partition,
            record.offset,
            type(error).__name__,
        )
        raise
    dead_lettered[record.topic] += 1
    carried = "" if whole else " without its key, value and headers (Kafka refuses them)"
    log.warning("record %s#%d@%d dead-lettered%s: %s", record.topic, record.partition, record.offset, carried, reason)
    return "dead-lettered"


def _header_pairs(headers: Any) -> list[tuple[str, bytes | None]]:
    """A record's headers as pairs: kafka-python and aiokafka give a list, faust may give a mapping."""
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers or [])


def _reason(error: Exception, declared: frozenset[str]) -> str:
    """A reason that names declared fields and rules, never values nor undeclared keys (records may hold personal
    information): it is logged and put on the dead letter."""
    if isinstance(error, ValidationError):
        return invalid_data(error, declared)
    return str(error) or type(error).__name__


class _SeekToTracked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaConsumer, app: TrackedApplication) -> None:
        self._consumer = consumer
        self._app = app

    def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    def on_partitions_assigned(self, assigned: Any) -> None:
        for tp in assigned:
            self._consumer.seek(tp, self._app.position(f"{tp.topic}#{tp.partition}"))


class TrackingConsumer:
    """A kafka-python consumer group member feeding a RecordProcessor."""

    def __init__(self, brokers: Brokers, group: str, topics: list[str], processor: RecordProcessor) -> None:
        self.brokers = brokers
        self.group = group
        self.topics = topics
        self.processor = processor
        self.highwaters: dict[tuple[str, int], int] = {}
        """The end offset of each assigned partition as the last fetch saw it (consumer lag, with the tracked
        positions)."""
        self.rebalancing_since: float | None = None
        """When the member's current rebalance began, as its polls saw it (`time.monotonic`; None: not rebalancing).
        Meanwhile its partitions are not fetched, and their lag is not read again (stale, or absent)."""

    def run(self, stop: threading.Event) -> None:
        consumer = KafkaConsumer(
            **access_of(self.brokers).client_config(),
            group_id=self.group,
            client_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=200,
        )
        try:
            # kafka-python 3.0 assigns nothing to a member that joins before it has its topics' metadata
            # (its rejoin when the metadata arrives may be lost, see `_keep_joining`): learn the partitions first.
            for topic in self.topics:
                consumer.partitions_for_topic(topic)
            consumer.subscribe(self.topics, listener=_SeekToTracked(consumer, self.processor.app))
            while not stop.is_set():
                self.watch_membership(consumer, time.monotonic())
                batch = consumer.poll(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self.processor.process(record)
                if batch:
                    consumer.commit()
                self.highwaters = _highwaters(consumer)
        finally:
            self.highwaters = {}
            self.rebalancing_since = None
            consumer.close()

    def watch_membership(self, consumer: KafkaConsumer, now: float) -> None:
        """Before a poll: keeps a rebalance under way wanted (`_keep_joining`) and notes since when it lasts."""
        if not _keep_joining(consumer):
            self.rebalancing_since = None
        elif self.rebalancing_since is None:
            self.rebalancing_since = now

    def rebalancing_seconds(self, now: float) -> float:
        """How long the member has been rebalancing (0: it is not). Read by the metrics' thread while the polling
        thread may clear it: read once."""
        since = self.rebalancing_since
        return 0.0 if since is None else max(0.0, now - since)


def _keep_joining(consumer: KafkaConsumer) -> bool:
    """Keeps a started rebalance wanted until `poll` has applied its result (kafka-python 3.0.12).

    `poll` waits for the JoinGroup/SyncGroup round trip only as long as its own timeout, leaves the round trip running
    and waits for it again on a later poll, but only while the coordinator still wants to rejoin. A rejoin wanted only
    because the partitions changed since the leader last assigned them, or the subscription since the last join
    (`ConsumerCoordinator.need_rejoin`), stops being wanted while the round trip is under way: if it outlives the poll,
    its assignment is never applied, and the member stays rebalancing for ever (its old partitions withheld from
    fetching, no heartbeats). A leader whose first assignment preceded its subscription's metadata rejoins that way at
    start: under load it then never consumed. Marked wanted (until the result is applied), the rejoin is waited for
    again by the next poll, or, finished unseen, made anew. Returns whether the member is rebalancing."""
    rebalancing: bool = consumer.group_metadata().state == MemberState.REBALANCING
    if rebalancing:
        consumer._coordinator.request_rejoin()  # no public way to ask for it
    return rebalancing


def _highwaters(consumer: KafkaConsumer) -> dict[tuple[str, int], int]:
    known = ((tp, consumer.highwater(tp)) for tp in consumer.assignment())
    return {(tp.topic, tp.partition): end for tp, end in known if end is not None}
