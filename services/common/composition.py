"""The shape of every composition root: a `Service` is the same builders in every service's `main.py`, listed in
`services/runtime/registry.py`; `Workers` is what a builder starts in the background (loops and what to close)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from services.common.backoff import Backoff

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prometheus_client.registry import Collector

    from services.common.eventstore import TrackedApplication
    from services.common.relay import Mapper

log = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]
"""A background loop: runs until the event is set."""

S = TypeVar("S")
A = TypeVar("A")


@dataclass
class Workers:
    """Named background loops, what to close once they stopped (Kafka clients, HTTP pools), and what they show on
    `/metrics` (lags, dead letters, checkpoints: `services.common.metrics`)."""

    loops: dict[str, Loop] = field(default_factory=dict)
    closers: list[Callable[[], object]] = field(default_factory=list)
    readings: Sequence[Collector] = ()

    def __add__(self, other: Workers) -> Workers:
        return Workers(
            {**self.loops, **other.loops}, [*self.closers, *other.closers], [*self.readings, *other.readings]
        )

    def close(self) -> None:
        for close in self.closers:
            close()


Outbox = tuple["TrackedApplication", "Mapper"]
"""An application on its store and the mapping its relay publishes through."""


@dataclass(frozen=True)
class StoreReader:
    """How an auditor reads a service's event store: the application's name (its tables, its checkpoints) and, for a
    store whose events are published, how to open the application on it (read-only) with its relay's mapping."""

    application: str
    open_outbox: Callable[[Mapping[str, str]], Outbox] | None = None


@dataclass(frozen=True)
class Service(Generic[S, A]):
    """A process of the platform as its composition root builds it. Every event-sourced service has the same builders;
    the console, which holds no data, has only its settings and its ASGI app.

    - `application(settings)`: the write model on the service's store (nothing is built at import time);
    - `relay(settings, application)`: what publishes the store (the outbox relay, or the delivery worker) and its
      integrity checkpoints — run by the API process when `relay_enabled`, or alone by `rls relay <service>`;
    - `consumers(settings, application)`: the consumed topics (when `consumers_enabled`);
    - `loops(settings, application)`: periodic work (clock ticks, schedulers);
    - `app(settings=None)`: the ASGI app, running all of the above in its lifespan;
    - `store`: how the audit service reads this service's event store;
    - `metrics(settings, application)`: the service's own readings on `/metrics` (decisions, clocks, deliveries),
      beside those the kernel adds for every process (requests, and the lags of the workers it runs).
    """

    name: str
    settings: Callable[[], S]
    app: Callable[..., FastAPI]
    application: Callable[[S], A] | None = None
    relay: Callable[[S, A], Workers] | None = None
    consumers: Callable[[S, A], Workers] | None = None
    loops: Callable[[S, A], Workers] | None = None
    store: StoreReader | None = None
    metrics: Callable[[S, A], Sequence[Collector]] | None = None


@dataclass
class BackgroundLoops:
    """Named loops (relays, consumers) run on daemon threads until stopped; a loop that crashes is started again."""

    loops: Mapping[str, Loop]
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for name, loop in self.loops.items():
            thread = threading.Thread(target=self._guarded, args=(name, loop), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _guarded(self, name: str, loop: Loop) -> None:
        backoff = Backoff()
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                loop(self.stop_event)
            except Exception:
                backoff.ran_for(time.monotonic() - started)
                delay = backoff.next_delay()
                log.exception("background loop %s crashed; restarting in %.1f s", name, delay)
                self.stop_event.wait(delay)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)


def run_until(workers: Workers, stop: threading.Event, poll_s: float = 0.5) -> None:
    """Runs `workers` in the foreground until `stop` is set (signal handlers set it), then stops and closes them."""
    background = BackgroundLoops(workers.loops)
    background.start()
    try:
        while not stop.wait(poll_s):
            pass
    finally:
        background.stop()
        workers.close()
