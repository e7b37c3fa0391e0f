"""Outbox relay: follows an application's notification log and publishes integration events.

The notification log *is* the outbox. The relay reads notifications after its stored position, maps each
domain event to zero or more integration events, publishes them and waits for Kafka's acknowledgement, and
only then stores the new position (a tracking row in the application's own database). A crash between the
two re-publishes the same events with the same deterministic ids; nothing is lost.

A gap in the notification ids is final on the platform's stores: every writer takes the events table's lock before
drawing ids and commits before releasing it (PostgreSQL; SQLite has one writer and reuses the ids of a rolled-back
write), so ids become visible in order, and a missing id below a visible one belongs to a write that rolled back
(a version conflict). The relay moves past it at once (`gap_timeout` 0, the default). For a store whose writers
could commit out of order, `gap_timeout` > 0 holds the relay back at a gap until the missing ids appear or that
time has passed.

A stored event the mapping cannot turn into integration events (a value its contract refuses, say) would fail the same
way at every retry and hold back every later event of the store: it goes to the dead-letter twin of the relay's
topic (`dead_letter_topic`) with its id and the reason, without its content, and the relay goes on. Only failures of
the event itself are taken for that (`UNMAPPABLE`: the contract's validation); any other (the store unreachable while
the mapping loads the aggregate, a regression of our own code), like a dead letter Kafka did not take (the broker
down), keeps the position: nothing is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification, Tracking
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from services.common.declared import invalid_data, names_declared_by
from services.common.envelope import CloudEvent, event_id, event_type, schema_uri
from services.common.eventstore import TrackedApplication
from services.common.kafka import Outgoing, RecordRefusedError
from services.common.metrics import Reading, Sample
from services.common.tracing import current_traceparent, span, traced

log = logging.getLogger(__name__)

Mapper = Callable[[DomainEventProtocol[Any]], Sequence[Outgoing]]

UNMAPPABLE: tuple[type[Exception], ...] = (ValidationError,)
"""Failures of a mapping that come from the stored event itself: a value the integration event's contract refuses.
Mapped again, it fails again. Any other error (a `KeyError` of a regression in our own domain code, a ciphertext
that does not decrypt) stops the relay until it is fixed: dead-lettered, such an event would be lost to every
consumer for good."""


def outgoing(
    domain_event: DomainEventProtocol[Any], context: str, name: str, topic: str, key: str, at: datetime, data: BaseModel
) -> Outgoing:
    """The integration event `ca.qc.rls.<context>.<name>.v1` publishing one stored domain event on `topic`, keyed and
    correlated by `key`. Its id derives from the stored event (originator id and version), so a re-published event
    has the same id and consumers deduplicate."""
    type_ = event_type(context, name)
    event = CloudEvent(
        id=event_id(domain_event.originator_id, domain_event.originator_version),
        source=f"/rls/{context}",
        type=type_,
        time=at,
        subject=key,
        dataschema=schema_uri(type_),
        correlationid=key,
        data=data.model_dump(mode="json"),
    )
    return Outgoing(topic=topic, key=key, event=event)


class Publisher(Protocol):
    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Returns once every message is acknowledged; raises otherwise (`RecordRefusedError` for a message Kafka
        will never take)."""

    def dead_letter(self, message: Outgoing, reason: str) -> None:
        """Says on the topic's dead-letter twin that `message` could not be published, and why."""


class OutboxRelay:
    """Relays one application's notification log through `mapper` to `publisher`; a stored event the mapper cannot
    map goes to the dead-letter twin of `dead_letter_topic` (None: its failure fails the batch, which is retried)."""

    def __init__(
        self,
        app: TrackedApplication,
        mapper: Mapper,
        publisher: Publisher,
        *,
        name: str = "outbox-relay",
        batch_size: int = 500,
        gap_timeout: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        dead_letter_topic: str | None = None,
    ) -> None:
        self.app = app
        self.mapper = mapper
        self.publisher = publisher
        self.name = name
        self.batch_size = batch_size
        self.gap_timeout = gap_timeout
        self.dead_letter_topic = dead_letter_topic
        self._clock = clock
        self._gap_seen_at: dict[int, float] = {}
        self._wakeup = app.listen()
        self.dead_lettered: Counter[str] = Counter(unmappable=0, refused=0)
        """Stored events this process dead-lettered and moved past, by cause: `unmappable` (the mapping failed),
        `refused` (Kafka refuses the record)."""

    @property
    def position(self) -> int:
        return self.app.position(self.name)

    def run_once(self) -> int:
        """Relays at most one batch; returns how many notifications it moved past."""
        start = self.position
        notifications = self.app.recorder.select_notifications(
            start=start, limit=self.batch_size, inclusive_of_start=False
        )
        ready = self._contiguous(start, notifications)
        if not ready:
            return 0
        messages: list[Outgoing] = []
        unmappable: list[tuple[Outgoing, str]] = []
        for notification in ready:
            mapped = self._traced(notification)
            if isinstance(mapped, list):
                messages += mapped
            else:
                unmappable.append(mapped)
        refused = self._publish(messages)
        for letter, reason in unmappable:  # after the batch's events: a dead letter Kafka did not take fails it
            self.publisher.dead_letter(letter, reason)
        self.app.mark_processed(Tracking(self.name, ready[-1].id))
        self.dead_lettered.update({"refused": refused, "unmappable": len(unmappable)})
        return len(ready)

    def _publish(self, messages: Sequence[Outgoing]) -> int:
        """Publishes the messages in order; one Kafka will never take (too large) is dead-lettered and the others go
        on: retried, it would hold back every later event of the store for ever. Returns how many were refused."""
        refusals = 0
        while messages:
            try:
                self.publisher.publish(messages)
                return refusals
            except RecordRefusedError as refused:
                message = messages[refused.index]
                log.error(
                    "relay %s: Kafka refuses event %s (%s on %s): dead-lettered, the relay goes on",
                    self.name,
                    message.event.id,
                    refused.reason,
                    message.topic,
                )
                self.publisher.dead_letter(message, refused.reason)
                refusals += 1
                messages = messages[refused.index + 1 :]
        return refusals

    def _traced(self, notification: Notification) -> list[Outgoing] | tuple[Outgoing, str]:
        """The integration events of one stored event, carrying the trace of the request that recorded it (through a
        span of this relay: the trace shows when the event left); or, when the event cannot be mapped, its dead
        letter and the reason."""
        domain_event, parent = traced(self.app.mapper, notification)
        try:
            messages = list(self.mapper(domain_event))
        except UNMAPPABLE as error:
            if self.dead_letter_topic is None:
                raise
            return self._unmappable(notification, domain_event, error)
        if parent is None or not messages:
            return messages
        with span("relay", parent, SpanKind.PRODUCER, {"messaging.system": "kafka", "rls.relay": self.name}):
            carried = current_traceparent()
        return [replace(m, event=m.event.model_copy(update={"traceparent": carried})) for m in messages]

    def _unmappable(
        self, notification: Notification, domain_event: DomainEventProtocol[Any], error: Exception
    ) -> tuple[Outgoing, str]:
        """The dead letter of a stored event the mapper cannot map: its id, stored type (`ce_type`), aggregate and
        time, none of its content; and why, naming fields and rules, never a value (it may be personal)."""
        assert self.dead_letter_topic is not None
        stored: Any = domain_event  # an aggregate's event: it has a timestamp
        key = str(stored.originator_id)
        letter = CloudEvent(
            id=event_id(stored.originator_id, stored.originator_version),
            source=f"/rls/{self.app.name}",
            type=notification.topic,
            time=stored.timestamp,
            subject=key,
        )
        reason = f"not mapped: {_reason(error)}"
        log.error(
            "relay %s: stored event %s (%s, notification %d) %s; dead-lettered on %s, the relay goes on",
            self.name,
            letter.id,
            notification.topic,
            notification.id,
            reason,
            self.dead_letter_topic,
        )
        return Outgoing(self.dead_letter_topic, key, letter), reason

    def _contiguous(self, start: int, notifications: Sequence[Notification]) -> list[Notification]:
        """The notifications that follow `start` without an unexplained hole."""
        ready: list[Notification] = []
        expected = start + 1
        for notification in notifications:
            if notification.id != expected and not self._gap_expired(expected):
                break
            ready.append(notification)
            expected = notification.id + 1
        return ready

    def _gap_expired(self, missing_id: int) -> bool:
        first_seen = self._gap_seen_at.setdefault(missing_id, self._clock())
        if self._clock() - first_seen < self.gap_timeout:
            return False
        del self._gap_seen_at[missing_id]
        log.info("relay %s: notification %d of a write that rolled back; moving past it", self.name, missing_id)
        return True

    def run(self, stop: threading.Event, idle_sleep: float = 0.2, error_sleep: float = 1.0) -> None:
        """Relays until `stop` is set; a failed batch is retried from the stored position.

        Idle, it wakes as soon as this process records an event, and every `idle_sleep` for events recorded by
        other processes sharing the store.
        """
        while not stop.is_set():
            self._wakeup.clear()
            try:
                moved = self.run_once()
            except Exception:  # any failure: keep the position, back off, retry
                log.exception("relay %s: batch failed; retrying from the stored position", self.name)
                stop.wait(error_sleep)
                continue
            if moved < self.batch_size:
                self._wakeup.wait(idle_sleep)


def _reason(error: Exception) -> str:
    """Why a mapping failed, without a value: for a validation error the fields (as the failing model declares them)
    and rules; otherwise the error's type only (its message may quote the event's content)."""
    if isinstance(error, ValidationError):
        return f"{error.title} {invalid_data(error, _declared_by(error.title))}"
    return type(error).__name__


def _declared_by(model_name: str) -> frozenset[str]:
    """The names the models called `model_name` declare (a validation error names its model, not its class)."""
    found: list[type[BaseModel]] = []
    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if model.__name__ == model_name:
            found.append(model)
    return names_declared_by(*found)


def relay_readings(relay: OutboxRelay) -> list[Reading]:
    """The stored events the relay dead-lettered and moved past, by cause (a metric: each is one event consumers
    never receive)."""

    def read() -> list[Sample]:
        return [((relay.name, cause), float(n)) for cause, n in sorted(relay.dead_lettered.items())]

    return [
        Reading(
            "rls_outbox_dead_letters",
            "Stored events the relay sent to <topic>.dlq and moved past (unmappable: the mapping failed; refused: "
            "Kafka refuses the record)",
            ("relay", "cause"),
            read,
            "counter",
        )
    ]
