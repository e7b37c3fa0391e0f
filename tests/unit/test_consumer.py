"""Record processing: once in effect, poison to the dead-letter sink with a reason that shows no value nor key the
producer wrote, processing goes on."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.consumer import DeadLetterSink, RecordProcessor
from services.common.declared import invalid_data, names_declared_by
from services.common.envelope import CloudEvent
from services.common.eventstore import TrackedApplication


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
    headers: list[tuple[str, bytes]]
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
    return Record("rls.test.v1", 0, offset, value, headers)


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
