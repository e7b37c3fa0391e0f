"""Outbox relay on in-memory storage: order, durable position, late commits, failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Notification
from pydantic import BaseModel, ConfigDict, ValidationError

from services.common.envelope import CloudEvent, event_id
from services.common.eventstore import TrackedApplication
from services.common.kafka import Outgoing
from services.common.relay import OutboxRelay, relay_readings


class Counter(Aggregate):
    @event("Started")
    def __init__(self) -> None:
        self.n = 0

    @event("Incremented")
    def increment(self) -> None:
        self.n += 1


class Counters(TrackedApplication):
    name = "counters"


def to_messages(domain_event: Any) -> Sequence[Outgoing]:
    cloud_event = CloudEvent(
        id=event_id(domain_event.originator_id, domain_event.originator_version),
        source="/test",
        type="ca.qc.rls.test.changed.v1",
        time=domain_event.timestamp,
    )
    return [Outgoing("test.v1", str(domain_event.originator_id), cloud_event)]


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.fail_next = False

    def publish(self, messages: Sequence[Outgoing]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("broker unavailable")
        self.sent.extend(messages)


@pytest.fixture
def app() -> Counters:
    return Counters(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_relay_publishes_every_event_in_order_and_stores_its_position(app: Counters) -> None:
    counter = Counter()
    for _ in range(4):
        counter.increment()
    app.record(counter)
    publisher = RecordingPublisher()
    relay = OutboxRelay(app, to_messages, publisher, batch_size=2)
    assert relay.run_once() == 2
    assert relay.run_once() == 2
    assert relay.run_once() == 1
    assert relay.run_once() == 0
    assert [m.event.id for m in publisher.sent] == [event_id(counter.id, v) for v in range(1, 6)]
    assert relay.position == 5


def test_relay_resumes_from_the_stored_position_after_a_restart(app: Counters) -> None:
    counter = Counter()
    app.record(counter)
    first = RecordingPublisher()
    OutboxRelay(app, to_messages, first).run_once()
    counter.increment()
    app.record(counter)
    second = RecordingPublisher()
    OutboxRelay(app, to_messages, second).run_once()
    assert [m.event.id for m in second.sent] == [event_id(counter.id, 2)]


def test_failed_publish_keeps_the_position_and_is_retried(app: Counters) -> None:
    app.record(Counter())
    publisher = RecordingPublisher()
    publisher.fail_next = True
    relay = OutboxRelay(app, to_messages, publisher)
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert relay.position == 0
    assert relay.run_once() == 1
    assert len(publisher.sent) == 1


class GappyRecorder:
    """Shows notification 2 only once 'its transaction commits' (a later call), as a slow writer would."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.hide: set[int] = {2}

    def select_notifications(self, start: int, limit: int, **kwargs: Any) -> list[Notification]:
        rows = self.real.select_notifications(start=start, limit=limit, **kwargs)
        return [n for n in rows if n.id not in self.hide]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_relay_waits_for_a_notification_whose_transaction_commits_late(app: Counters) -> None:
    for _ in range(3):
        app.record(Counter())
    gappy = GappyRecorder(app.recorder)
    app.recorder = gappy  # type: ignore[assignment]
    now = [0.0]
    publisher = RecordingPublisher()
    relay = OutboxRelay(app, to_messages, publisher, gap_timeout=10.0, clock=lambda: now[0])
    assert relay.run_once() == 1  # 1 only: 3 waits behind the hole at 2
    now[0] = 5.0
    assert relay.run_once() == 0
    gappy.hide.clear()  # the slow transaction commits
    assert relay.run_once() == 2
    assert [m.event.subject for m in publisher.sent] == [None, None, None]
    assert len(publisher.sent) == 3


def test_relay_moves_past_a_hole_that_never_fills(app: Counters) -> None:
    for _ in range(3):
        app.record(Counter())
    gappy = GappyRecorder(app.recorder)
    app.recorder = gappy  # type: ignore[assignment]
    now = [0.0]
    relay = OutboxRelay(app, to_messages, RecordingPublisher(), gap_timeout=10.0, clock=lambda: now[0])
    assert relay.run_once() == 1
    now[0] = 11.0
    assert relay.run_once() == 1  # the rolled-back id 2 is skipped, 3 is relayed
    assert relay.position == 3


class DeadLetteringPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.dead: list[tuple[Outgoing, str]] = []
        self.down = False

    def publish(self, messages: Sequence[Outgoing]) -> None:
        if self.down:
            raise RuntimeError("broker unavailable")
        super().publish(messages)

    def dead_letter(self, message: Outgoing, reason: str) -> None:
        if self.down:
            raise RuntimeError("broker unavailable")
        self.dead.append((message, reason))


class Changed(BaseModel):
    """An integration event's data: its title is required."""

    model_config = ConfigDict(extra="forbid")

    title: str


def failing_at(version: int, error: Exception | None = None) -> Any:
    """A mapping that cannot map the stored event `version` (its data breaks the contract's model, or `error`)."""

    def to_messages_or_fail(domain_event: Any) -> Sequence[Outgoing]:
        if domain_event.originator_version == version:
            if error is not None:
                raise error
            Changed.model_validate({"title": None, "note": "a value the reason must not show"})
        return to_messages(domain_event)

    return to_messages_or_fail


def test_a_stored_event_the_mapping_cannot_map_is_dead_lettered_with_its_reason_and_the_relay_goes_on(
    app: Counters,
) -> None:
    counter = Counter()
    for _ in range(3):
        counter.increment()
    app.record(counter)
    publisher = DeadLetteringPublisher()
    relay = OutboxRelay(app, failing_at(2), publisher, name="poison", dead_letter_topic="test.v1")
    assert relay.run_once() == 4
    assert relay.position == 4
    assert [m.event.id for m in publisher.sent] == [event_id(counter.id, v) for v in (1, 3, 4)]
    [(letter, reason)] = publisher.dead
    assert (letter.topic, letter.key, letter.event.id) == ("test.v1", str(counter.id), event_id(counter.id, 2))
    assert letter.event.data == {} and letter.event.type.endswith("Counter.Incremented")
    assert reason == "not mapped: Changed invalid data: title (string_type), <key> (extra_forbidden)"
    assert "a value the reason must not show" not in reason
    assert relay.dead_lettered == {"unmappable": 1, "refused": 0}
    [reading] = relay_readings(relay)
    [family] = reading.collect()
    assert {(s.labels["cause"], s.value) for s in family.samples if s.name == "rls_outbox_dead_letters_total"} == {
        ("unmappable", 1.0),
        ("refused", 0.0),
    }


@pytest.mark.parametrize(
    "error", [RuntimeError("store unreachable"), KeyError("left"), ValueError("Decrypt failed")], ids=type
)
def test_a_mapping_failure_of_another_kind_keeps_the_position_and_is_retried(app: Counters, error: Exception) -> None:
    """Only the contract's refusal is the event's own fault: a regression of our domain code (a `KeyError`) or a
    ciphertext that does not decrypt would otherwise lose the event to every consumer for good."""
    app.record(Counter())
    publisher = DeadLetteringPublisher()
    relay = OutboxRelay(app, failing_at(1, error), publisher, dead_letter_topic="test.v1")
    with pytest.raises(type(error)):
        relay.run_once()
    assert (relay.position, publisher.sent, publisher.dead) == (0, [], [])


def test_nothing_is_skipped_while_the_broker_is_down(app: Counters) -> None:
    counter = Counter()
    counter.increment()
    app.record(counter)
    publisher = DeadLetteringPublisher()
    publisher.down = True
    relay = OutboxRelay(app, failing_at(2), publisher, dead_letter_topic="test.v1")
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert (relay.position, relay.dead_lettered["unmappable"]) == (0, 0)
    publisher.down = False
    assert relay.run_once() == 2
    assert [m.event.id for m in publisher.sent] == [event_id(counter.id, 1)]
    assert [letter.event.id for letter, _ in publisher.dead] == [event_id(counter.id, 2)]


def test_a_relay_without_a_dead_letter_topic_retries_an_unmappable_event(app: Counters) -> None:
    app.record(Counter())
    relay = OutboxRelay(app, failing_at(1), DeadLetteringPublisher())
    with pytest.raises(ValidationError):
        relay.run_once()
    assert relay.position == 0
