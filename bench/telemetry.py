"""Telemetry benchmark: what `/metrics` and the request spans cost.

In one run:

1. requests: the median time of a trivial route through the in-process ASGI client, on an app without telemetry, with
   `/metrics` and spans off (no OTLP endpoint: the default), and with spans recorded (an SDK provider, in-memory
   exporter); the blocks are interleaved, the figures are medians of the per-block medians and their ratios to bare;
2. scrapes: a store-counted counter (`EventTally`) over N stored events (default 20,000): the first scrape (reads the
   whole log), then one after 100 more events, then the text exposition of the whole registry.

Usage: `.venv/bin/python bench/telemetry.py [--requests 2000] [--events 20000]`
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from services.common import tracing
from services.common.eventstore import TrackedApplication, persistence_env
from services.common.metrics import EventTally, Reading
from services.common.telemetry import observe


def app(observed: bool) -> FastAPI:
    made = FastAPI()

    @made.get("/v1/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    if observed:
        observe(made, "bench")
    return made


def per_request(client: TestClient, n: int) -> float:
    times = []
    for i in range(n):
        started = time.perf_counter()
        client.get(f"/v1/things/{i}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def requests(n: int, blocks: int = 5) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bare, observed = TestClient(app(False)), TestClient(app(True))
    runs: dict[str, list[float]] = {"bare": [], "metrics, spans off": [], "metrics, spans recorded": []}
    for _ in range(blocks):
        runs["bare"].append(per_request(bare, n // blocks))
        runs["metrics, spans off"].append(per_request(observed, n // blocks))
        tracing.use_provider(provider)
        runs["metrics, spans recorded"].append(per_request(observed, n // blocks))
        tracing.use_provider(None)
        exporter.clear()
    reference = statistics.median(runs["bare"])
    for name, medians in runs.items():
        median = statistics.median(medians)
        print(f"request, {name:24}: median {median * 1e6:7.0f} µs  ({median / reference:.2f}× bare)")


class Thing(Aggregate):
    @event("Made")
    def __init__(self, kind: str) -> None:
        self.kind = kind


class Things(TrackedApplication):
    name = "things"


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def scrapes(events: int) -> None:
    things = Things(env=persistence_env("memory://"))
    for i in range(events):
        things.save(Thing(kind=("a", "b", "c")[i % 3]))
    tally = EventTally(things, {Thing.Made: lambda made: [(made.kind,)]})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Reading("bench_things", "Things by kind", ("kind",), tally, "counter"))
    first = timed(tally)
    for _ in range(100):
        things.save(Thing(kind="a"))
    again = timed(tally)
    exposition = statistics.median(timed(lambda: generate_latest(registry)) for _ in range(20))
    print(f"scrape, store-counted counter over {events} events: first {first * 1000:.0f} ms, ", end="")
    print(f"after 100 more {again * 1000:.1f} ms, exposition of the registry {exposition * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    requests(args.requests)
    scrapes(args.events)


if __name__ == "__main__":
    main()
