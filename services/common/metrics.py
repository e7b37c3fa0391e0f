"""Prometheus metrics: what a service process reads out when `/metrics` is scraped.

Each metric family is a `Reading`: its samples are computed at scrape time from what the process holds (the event
store, its consumers' positions, its checkpoints), so a restarted process reports the store's figures, not zeros.
The kernel reads the lags, dead letters and checkpoints of the workers it builds (`services.common.service`); each
service adds its own domain readings through its composition root (`Service.metrics`).

Labels are codes, templates and topic names — never an identifier of a person or a raw path.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.clock import Clock, system_clock
from services.common.consumer import TrackingConsumer
from services.common.eventstore import TrackedApplication
from services.common.integrity.checkpoints import CheckpointPublisher
from services.common.integrity.sealing import SealedStore
from services.common.projections import EventTally, Labels, Projector

log = logging.getLogger(__name__)

Sample = tuple[Labels, float]


@dataclass(frozen=True)
class Reading(Collector):
    """One metric family, read when scraped: `read` returns (label values, value) pairs. A reading that fails (the
    store unreachable, say) is left out of that scrape; the others are still reported."""

    name: str
    documentation: str
    labels: Labels
    read: Callable[[], Iterable[Sample]]
    kind: Literal["gauge", "counter"] = "gauge"

    def collect(self) -> Iterator[Metric]:
        family_of = GaugeMetricFamily if self.kind == "gauge" else CounterMetricFamily
        family = family_of(self.name, self.documentation, labels=list(self.labels))
        try:
            for values, value in self.read():
                family.add_metric(list(values), value)
        except Exception as error:  # noqa: BLE001 -- one unreadable figure must not hide the others
            log.warning("metric %s not read: %s", self.name, type(error).__name__)
            return
        yield family


def tally_reading(projector: Projector, name: str, documentation: str, labels: Labels) -> Reading:
    """A counter read from the projector of an `EventTally` (`services.common.projections`), caught up first."""

    tally = projector.projection
    assert isinstance(tally, EventTally)

    def read() -> list[Sample]:
        with projector.reading() as tx:
            return [(labels, float(n)) for labels, n in tally.counts(tx)]

    return Reading(name, documentation, labels, read, "counter")


def outbox_lag(app: TrackedApplication, relay: str) -> Reading:
    """How many stored events the relay tracked as `relay` has yet to publish."""

    def read() -> list[Sample]:
        last = app.recorder.max_notification_id() or 0
        return [((relay,), float(max(last - app.position(relay), 0)))]

    return Reading(
        "rls_outbox_lag", "Stored events not yet published (last notification id - relay position)", ("relay",), read
    )


def consumer_readings(app: TrackedApplication, consumer: TrackingConsumer) -> list[Reading]:
    """The lag of each partition the consumer is assigned (its end offset - the position tracked in the store), how
    long it has been rebalancing (its lag is not read meanwhile: alert when that lasts), and its dead letters
    (`dead_letter_readings`)."""
    group = consumer.group

    def lag() -> list[Sample]:
        return [
            ((group, topic, str(partition)), float(max(end - app.position(f"{topic}#{partition}"), 0)))
            for (topic, partition), end in sorted(consumer.highwaters.items())
        ]

    processor = consumer.processor
    return [
        Reading(
            "rls_consumer_lag",
            "Records not yet applied (end offset - tracked position)",
            ("group", "topic", "partition"),
            lag,
        ),
        Reading(
            "rls_consumer_rebalancing_seconds",
            "How long the consumer has been rebalancing, fetching nothing (0: it is not)",
            ("group",),
            lambda: [((group,), consumer.rebalancing_seconds(time.monotonic()))],
        ),
        *dead_letter_readings(group, processor.dead_lettered, processor.dead_letters_refused),
    ]


def dead_letter_readings(group: str, dead_lettered: Counter[str], refused: Counter[str]) -> list[Reading]:
    """The records this process dead-lettered per topic read, and those it skipped because Kafka refused their dead
    letter (`services.common.consumer.send_dead_letter` counts both): a consumer's, or the standards board's."""

    def counts(counter: Counter[str]) -> Callable[[], list[Sample]]:
        return lambda: [((group, topic), float(n)) for topic, n in sorted(counter.items())]

    return [
        Reading(
            "rls_dead_letters",
            "Records sent to <topic>.dlq by this process",
            ("group", "topic"),
            counts(dead_lettered),
            "counter",
        ),
        Reading(
            "rls_dead_letters_refused",
            "Poison records skipped without a dead letter: Kafka refused it even without their content",
            ("group", "topic"),
            counts(refused),
            "counter",
        ),
    ]


def checkpoint_readings(checkpoints: CheckpointPublisher, clock: Clock = system_clock) -> list[Reading]:
    """The age of the last integrity checkpoint this process published, and how many stored events came after it."""
    application = (checkpoints.application,)

    def age() -> list[Sample]:
        published = checkpoints.published_at
        return [] if published is None else [(application, (clock() - published).total_seconds())]

    def behind() -> list[Sample]:
        recorder = checkpoints.recorder
        last = recorder.max_notification_id() if isinstance(recorder, SealedStore) else None
        covered = checkpoints.published.notification_id if checkpoints.published is not None else 0
        return [(application, float(last - covered if last is not None else 0))]

    return [
        Reading(
            "rls_integrity_checkpoint_age_seconds",
            "Seconds since the last checkpoint was published",
            ("application",),
            age,
        ),
        Reading("rls_integrity_checkpoint_behind", "Stored events after the last checkpoint", ("application",), behind),
    ]
