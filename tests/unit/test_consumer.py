"""Record processing: once in effect, poison to the dead-letter sink with a reason that shows no value nor key the
producer wrote, processing goes on."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking
from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.base import BaseCoordinator
from kafka.errors import KafkaTimeoutError
from kafka.structs import ConsumerGroupMetadata, MemberState
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.consumer import CONTENT_DROPPED, DeadLetterSink, RecordProcessor, TrackingConsumer, _keep_joining
from services.common.declared import invalid_data, names_declared_by
from services.common.envelope import CloudEvent
from services.common.eventstore import TrackedApplication
from services.common.kafka import NULL_HEADERS, NULL_VALUE, RecordRefusedError
from services.common.metrics import consumer_readings


class Tally(Aggregate):
    @event("Opened")
    def __init__(self, id: uuid.UUID) -> None:
        self.items: list[str] = []

    @event("Added")
    def add(self, item: str) -> None:
        self.items.append(item)


TALLY = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


class Item(BaseModel):
    item: str
    counts: dict[str, int] = Field(default_factory=dict)  # a mapping whose keys the producer writes


DECLARED = names_declared_by(Item)
PERSON = "Jean Tremblay NAM TREJ12345678"


class Tallies(TrackedApplication):
    name = "tallies"

    def apply(self, cloud_event: CloudEvent, tracking: Tracking) -> None:
        item = Item.model_validate(cloud_event.data)
        try:
            tally: Tally = self.repository.get(TALLY)
        except Exception:
            tally = Tally(id=TALLY)
        tally.add(item.item)
        try:
            self.record(tally, tracking=tracking)
        except IntegrityError:
            self.mark_processed(tracking)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    key: bytes | None = b"k"


@dataclass
class SinkSpy:
    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, value, headers))


def record(offset: int, data: dict[str, object]) -> Record:
    cloud_event = CloudEvent(
        id=f"e-{offset}",
        source="/test",
        type="ca.qc.rls.test.added.v1",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        data=data,
    )
    headers, value = cloud_event.to_kafka()
    return Record("rls.test.v1", 0, offset, value, list(headers))


def processor() -> tuple[RecordProcessor, Tallies, SinkSpy]:
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    spy = SinkSpy()
    sink = DeadLetterSink(spy.send_raw)
    return RecordProcessor(app, app.apply, sink, group="g", declared=DECLARED, retry_sleep=0), app, spy


def test_the_same_record_delivered_twice_has_one_effect() -> None:
    proc, app, _ = processor()
    assert proc.process(record(0, {"item": "a"})) == "applied"
    assert proc.process(record(0, {"item": "a"})) == "skipped"
    assert app.repository.get(TALLY).items == ["a"]


def test_a_malformed_record_is_dead_lettered_with_its_reason_and_the_next_is_processed() -> None:
    proc, app, spy = processor()
    broken = Record("rls.test.v1", 0, 0, b"{not json", [("ce_id", b"x")])
    assert proc.process(broken) == "dead-lettered"
    assert proc.process(record(1, {"wrong": "shape"})) == "dead-lettered"
    assert proc.process(record(2, {"item": "b"})) == "applied"
    assert [topic for topic, _, _ in spy.sent] == ["rls.test.v1.dlq", "rls.test.v1.dlq"]
    reasons = [dict(headers)["dlq_reason"].decode() for _, _, headers in spy.sent]
    assert reasons[0] == "record value is not JSON (JSONDecodeError)"
    assert reasons[1] == "invalid data: item (missing)"
    assert spy.sent[0][1] == b"{not json"  # the original bytes are kept for inspection
    assert app.repository.get(TALLY).items == ["b"]
    assert proc.process(broken) == "skipped"  # a dead letter is not retried forever


def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered() -> None:
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    spy = SinkSpy()
    calls = []

    def flaky(cloud_event: CloudEvent, tracking: Tracking) -> None:
        calls.append(tracking)
        raise TimeoutError

    sink = DeadLetterSink(spy.send_raw)
    proc = RecordProcessor(app, flaky, sink, group="g", declared=DECLARED, max_attempts=3, retry_sleep=0)
    assert proc.process(record(0, {"item": "a"})) == "dead-lettered"
    assert len(calls) == 3
    assert dict(spy.sent[0][2])["dlq_reason"] == b"failed 3 times: TimeoutError"


def test_a_record_applied_before_its_handler_failed_is_not_retried_nor_dead_lettered() -> None:
    """A handler that failed after its record was applied (its tracking committed: by this handler before a later
    step failed, or by another member of the group after a rebalance) leaves it applied: the record is skipped, not
    retried into a conflict and then dead-lettered."""
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    spy = SinkSpy()
    calls = []

    def applied_then_failed(cloud_event: CloudEvent, tracking: Tracking) -> None:
        calls.append(tracking)
        app.apply(cloud_event, tracking)
        raise TimeoutError

    sink = DeadLetterSink(spy.send_raw)
    proc = RecordProcessor(app, applied_then_failed, sink, group="g", declared=DECLARED, retry_sleep=0)
    assert proc.process(record(0, {"item": "a"})) == "skipped"
    assert len(calls) == 1 and spy.sent == []
    assert app.repository.get(TALLY).items == ["a"]


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int


class Shipment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    counts: dict[str, int]
    by_kind: dict[Literal["SMALL", "LARGE"], int]
    parts: list[Part]


def test_a_reason_names_declared_fields_and_shows_undeclared_keys_as_key() -> None:
    with pytest.raises(ValidationError) as refused:
        Shipment.model_validate(
            {
                "counts": {PERSON: "many"},  # a free key, its value refused
                "by_kind": {"SMALL": "few", PERSON: 1},  # a literal key, then a refused one
                "parts": [{"size": 1}, {"size": "big", PERSON: 1}],  # an unknown member
                PERSON: 1,
            }
        )
    reason = invalid_data(refused.value, names_declared_by(Shipment))
    assert reason == (
        "invalid data: counts.<key> (int_parsing), by_kind.SMALL (int_parsing), by_kind.<key>.[key] (literal_error),"
        " parts.1.size (int_parsing), parts.1.<key> (extra_forbidden), <key> (extra_forbidden)"
    )
    assert "Tremblay" not in reason and "TREJ" not in reason


def test_a_poison_record_with_a_personal_key_is_dead_lettered_and_logged_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    proc, _, spy = processor()
    with caplog.at_level(logging.WARNING, logger="services.common.consumer"):
        assert proc.process(record(0, {"item": "a", "counts": {PERSON: "many"}})) == "dead-lettered"
    reason = dict(spy.sent[0][2])["dlq_reason"].decode()
    assert reason == "invalid data: counts.<key> (int_parsing)"
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [f"record rls.test.v1#0@0 dead-lettered: {reason}"]
    assert "Tremblay" not in reason and "Tremblay" not in caplog.text


Sent = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


@dataclass
class KafkaChecked:
    """Dead letters put through kafka-python's own checks of a record: the real KafkaProducer's `send`, with no broker
    (the wait for the topic's metadata that follows the checks gives up at once). Those that pass are kept; a record
    the checks refuse raises what kafka-python raises."""

    producer: KafkaProducer
    sent: list[Sent] = field(default_factory=list)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        try:
            self.producer.send(topic, key=key, value=value, headers=headers)
        except KafkaTimeoutError:  # past the checks, waiting for a broker there is not
            self.sent.append((topic, key, value, headers))
        else:
            raise AssertionError("the producer found a broker")


@pytest.fixture
def kafka_checked() -> Iterator[KafkaChecked]:
    producer = KafkaProducer(bootstrap_servers="127.0.0.1:9", api_version=(2, 8, 0), max_block_ms=0)
    try:
        yield KafkaChecked(producer)
    finally:
        producer.close(timeout=1)


def test_records_kafka_python_cannot_send_as_they_are_are_dead_lettered_and_the_next_is_processed(
    kafka_checked: KafkaChecked,
) -> None:
    """Kafka stores a header without value and a record with neither key nor value (Java and librdkafka producers
    write them); kafka-python refuses to send either. Their dead letters carry them as far as they can, and say so."""
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    proc = RecordProcessor(app, app.apply, DeadLetterSink(kafka_checked.send_raw), "g", DECLARED, retry_sleep=0)
    good = record(2, {"item": "b"})
    null_header = Record("rls.test.v1", 0, 0, good.value, [("ce_id", None), *good.headers[1:], ("trace", None)])
    no_key_no_value = Record("rls.test.v1", 0, 1, None, good.headers, key=None)

    outcomes = [proc.process(r) for r in (null_header, no_key_no_value, good)]
    assert outcomes == ["dead-lettered", "dead-lettered", "applied"]
    assert app.repository.get(TALLY).items == ["b"]
    assert [app.has_processed(Tracking("rls.test.v1#0", n)) for n in (1, 2, 3)] == [True, True, True]
    (topic, key, value, headers), (_, key2, value2, headers2) = kafka_checked.sent
    assert (topic, key, value) == ("rls.test.v1.dlq", b"k", good.value)
    assert headers[0] == ("ce_id", b"") and ("trace", b"") in headers
    assert json.loads(dict(headers)[NULL_HEADERS]) == ["ce_id", "trace"]
    assert dict(headers)["dlq_offset"] == b"0"
    assert (key2, value2) == (None, b"")
    assert dict(headers2)[NULL_VALUE] == b"true" and NULL_HEADERS not in dict(headers2)
    assert dict(headers2)["dlq_reason"] == b"record value must be a JSON object"
    assert proc.dead_lettered == {"rls.test.v1": 2}


@dataclass
class Refusing:
    """A publisher refusing the first `refusals` records it is given for ever (`RecordRefusedError`: too large)."""

    refusals: int
    sent: list[Sent] = field(default_factory=list)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if self.refusals:
            self.refusals -= 1
            raise RecordRefusedError(0, "MessageSizeTooLargeError")
        self.sent.append((topic, key, value, headers))


def test_a_dead_letter_refused_as_it_is_goes_without_the_records_content() -> None:
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    kafka = Refusing(refusals=1)
    proc = RecordProcessor(app, app.apply, DeadLetterSink(kafka.send_raw), "g", DECLARED, retry_sleep=0)
    assert proc.process(record(0, {"item": "a", "counts": {PERSON: "many"}})) == "dead-lettered"
    [(topic, key, value, headers)] = kafka.sent
    assert (topic, key, value) == ("rls.test.v1.dlq", None, b"")
    assert [name for name, _ in headers] == [
        "dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_consumer_group", CONTENT_DROPPED
    ]  # fmt: skip
    assert dict(headers)[CONTENT_DROPPED] == b"MessageSizeTooLargeError"
    assert app.has_processed(Tracking("rls.test.v1#0", 1))


def test_a_record_whose_dead_letter_kafka_refuses_is_logged_counted_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retried, a record that can never be dead-lettered would stop its partition for ever."""
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    kafka = Refusing(refusals=2)
    proc = RecordProcessor(app, app.apply, DeadLetterSink(kafka.send_raw), "g", DECLARED, retry_sleep=0)
    with caplog.at_level(logging.WARNING, logger="services.common.consumer"):
        assert proc.process(record(0, {"item": "a", "counts": {PERSON: "many"}})) == "dropped"
    assert proc.process(record(1, {"item": "b"})) == "applied"
    assert app.has_processed(Tracking("rls.test.v1#0", 1)) and app.repository.get(TALLY).items == ["b"]
    assert proc.dead_letters_refused == {"rls.test.v1": 1} and proc.dead_lettered == {}
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert caplog.records[0].getMessage() == (
        "record rls.test.v1#0@0 not dead-lettered, Kafka refuses its dead letter (MessageSizeTooLargeError; without the"
        " record's content: MessageSizeTooLargeError); skipped: invalid data: counts.<key> (int_parsing)"
    )
    assert "Tremblay" not in caplog.text


@dataclass
class Unavailable:
    """A publisher that cannot reach Kafka until `back` is set."""

    back: bool = False
    sent: list[Sent] = field(default_factory=list)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if not self.back:
            raise KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
        self.sent.append((topic, key, value, headers))


def test_a_dead_letter_not_sent_while_kafka_is_unavailable_leaves_the_record_to_be_processed_again() -> None:
    """The consumer loop fails (its restart resumes from the tracked positions): the record is not skipped."""
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    kafka = Unavailable()
    proc = RecordProcessor(app, app.apply, DeadLetterSink(kafka.send_raw), "g", DECLARED, retry_sleep=0)
    poison = record(0, {"wrong": "shape"})
    with pytest.raises(KafkaTimeoutError):
        proc.process(poison)
    assert not app.has_processed(Tracking("rls.test.v1#0", 1))
    assert proc.dead_lettered == {} and proc.dead_letters_refused == {}
    kafka.back = True
    assert proc.process(poison) == "dead-lettered"
    assert len(kafka.sent) == 1 and app.has_processed(Tracking("rls.test.v1#0", 1))


@dataclass
class Coordinator:
    rejoins_requested: int = 0

    def request_rejoin(self) -> None:
        self.rejoins_requested += 1


@dataclass
class Member:
    """What `_keep_joining` reads of a `KafkaConsumer`: its membership, and its coordinator."""

    state: str
    _coordinator: Coordinator = field(default_factory=Coordinator)

    def group_metadata(self) -> ConsumerGroupMetadata:
        return ConsumerGroupMetadata("group", 1, "member", None, self.state)


@pytest.mark.parametrize(
    ("state", "rejoins"), [(MemberState.REBALANCING, 1), (MemberState.STABLE, 0), (MemberState.UNJOINED, 0)]
)
def test_a_member_left_rebalancing_keeps_asking_to_rejoin_until_the_outcome_is_applied(
    state: str, rejoins: int
) -> None:
    """kafka-python 3.0.12 applies a rejoin's outcome only while the member still wants to rejoin, and a rejoin the
    leader makes when its topic's metadata arrives stops being wanted once under way: when it outlived a poll, the
    member stayed rebalancing for ever, fetching nothing (the platform's notifications consumer forwarded no referral,
    about one start in fifteen under load). Before each poll, a member still rebalancing asks to rejoin again; a stable
    or unjoined one asks nothing (a rejoin costs a rebalance of the whole group)."""
    member = Member(state)
    assert _keep_joining(member) is bool(rejoins)
    assert member._coordinator.rejoins_requested == rejoins


def test_how_long_a_consumer_has_been_rebalancing_is_a_gauge() -> None:
    """While rebalancing a member fetches nothing, and its lag is not read again (stale, or absent for partitions
    never fetched): the gauge counts from the first poll that saw the rebalance until one sees it over."""
    records, app, _ = processor()
    tracking = TrackingConsumer("127.0.0.1:9092", "g", ["rls.test.v1"], records)
    [gauge] = [r for r in consumer_readings(app, tracking) if r.name == "rls_consumer_rebalancing_seconds"]
    member = Member(MemberState.STABLE)
    tracking.watch_membership(member, now=100.0)
    assert tracking.rebalancing_seconds(now=101.0) == 0.0
    member.state = MemberState.REBALANCING
    for now in (102.0, 130.0):
        tracking.watch_membership(member, now)
    assert tracking.rebalancing_seconds(now=160.0) == 58.0
    assert [labels for labels, _ in gauge.read()] == [("g",)]
    member.state = MemberState.STABLE
    tracking.watch_membership(member, now=161.0)
    assert tracking.rebalancing_seconds(now=162.0) == 0.0
    assert list(gauge.read()) == [(("g",), 0.0)]


def test_the_kafka_python_api_the_consumer_relies_on_is_there() -> None:
    """`_keep_joining` uses a private attribute of kafka-python (no public way to ask for a rejoin): an upgrade that
    renames it fails here, not silently in production."""
    assert callable(BaseCoordinator.request_rejoin)
    assert callable(KafkaConsumer.group_metadata)
    assert "_coordinator" in KafkaConsumer.__init__.__code__.co_names
    assert ConsumerGroupMetadata().state == MemberState.UNJOINED


class ClearedWhileRead(TrackingConsumer):
    """The polling thread clearing the rebalance's start between two reads of the metrics' thread."""

    reads = 0

    @property
    def rebalancing_since(self) -> float | None:
        self.reads += 1
        return 100.0 if self.reads == 1 else None

    @rebalancing_since.setter
    def rebalancing_since(self, value: float | None) -> None:
        pass


def test_the_rebalancing_gauge_reads_the_start_once() -> None:
    """Scraped on another thread: the start read once, a rebalance that ended meanwhile is not `now - None`."""
    consumer = ClearedWhileRead("127.0.0.1:9092", "g", ["rls.test.v1"], processor()[0])
    assert consumer.rebalancing_seconds(now=130.0) == 30.0
    assert consumer.rebalancing_seconds(now=50.0) == 0.0  # none under way now
