"""The kernel's metrics and tracing: readings isolated from each other, counts from the store, traces stored apart
from the events, the OTLP exporter off unless configured — and on, to a real HTTP endpoint, when it is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.domain import Aggregate, event
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, generate_latest

from services.common import tracing
from services.common.eventstore import TrackedApplication, persistence_env
from services.common.metrics import Reading, tally_reading
from services.common.projections import EventTally, Projector
from tests.helpers import spied, wait_for
from tests.notifications.fakes import Receiver


class Thing(Aggregate):
    @event("Made")
    def __init__(self, kind: str) -> None:
        self.kind = kind

    @event("Renamed")
    def rename(self) -> None:
        pass


class Things(TrackedApplication):
    name = "things"


@pytest.fixture
def things() -> Iterator[Things]:
    app = Things(env=persistence_env("memory://"))
    yield app
    app.close()


def test_a_reading_that_fails_is_left_out_and_the_others_are_reported() -> None:
    def broken() -> list[tuple[tuple[str, ...], float]]:
        raise ConnectionError("store down")

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Reading("rls_broken", "Fails", ("x",), broken))
    registry.register(Reading("rls_fine", "Works", ("x",), lambda: [(("a",), 1.0)]))
    text = generate_latest(registry).decode()
    assert 'rls_fine{x="a"} 1.0' in text and "rls_broken" not in text


def tallied(things: Things) -> Projector:
    projector = Projector(things, EventTally("thing_tally", {Thing.Made: lambda made: [(made.kind,)]}), batch=2)
    things.projectors = (projector,)
    return projector


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_a_store_counted_counter_counts_each_event_once_and_only_the_classes_it_is_given(store_url: str) -> None:
    with Things(env=persistence_env(store_url)) as things:
        counter = tally_reading(tallied(things), "rls_things", "Things made", ("kind",))
        for kind in ("a", "b", "a"):
            thing = Thing(kind)
            thing.rename()
            things.save(thing)
        assert counter.read() == [(("a",), 2.0), (("b",), 1.0)]
        things.save(Thing("c"))
        assert counter.read() == [(("a",), 2.0), (("b",), 1.0), (("c",), 1.0)]
        text = registered(counter)
        assert 'rls_things_total{kind="a"} 2.0' in text and "# TYPE rls_things_total counter" in text
    with Things(env=persistence_env(store_url)) as restarted:
        again = tallied(restarted)
        assert again.catch_up() == 0, "a restart counts nothing again: the counts are kept with the store's position"
        restarted.save(Thing("a"))
        read = tally_reading(again, "rls_things", "Things made", ("kind",)).read()
        assert read == [(("a",), 3.0), (("b",), 1.0), (("c",), 1.0)], "the counts are the store's, in every process"


def registered(reading: Reading) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(reading)
    return generate_latest(registry).decode()


def test_outside_any_trace_events_are_stored_as_before(things: Things) -> None:
    things.save(Thing("a"))
    [stored] = things.recorder.select_notifications(start=1, limit=1)
    assert tracing.traced(things.mapper, stored)[1] is None
    assert tracing.current_traceparent() is None and tracing.trace_headers() == {}


def test_inside_a_trace_the_context_is_stored_apart_from_the_event(
    things: Things, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each event of a write is stored with the context it was recorded in, read once for the whole write."""
    reads = spied(tracing, monkeypatch, "current_traceparent", lambda: None)
    with tracing.span("work", None, SpanKind.INTERNAL) as work:
        things.record(Thing("a"), Thing("b"), Thing("c"))
    assert len(reads) == 1
    for stored, kind in zip(things.recorder.select_notifications(start=1, limit=3), "abc", strict=True):
        decoded, parent = tracing.traced(things.mapper, stored)
        assert parent is not None and parent.split("-")[1] == f"{work.get_span_context().trace_id:032x}"
        assert tracing.STORED_KEY not in vars(decoded)
        assert things.repository.get(decoded.originator_id).kind == kind


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_traces_are_exported_only_when_an_otlp_endpoint_is_configured(env: dict[str, str], on: bool) -> None:
    assert tracing.configured(env) is on


def test_configured_spans_reach_the_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = Receiver().start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{collector.port}/v1/traces")
    try:
        tracing.configure("rls-test")
        with tracing.span("GET /v1/things/{thing_id}", None, SpanKind.SERVER):
            pass
        provider = tracing._provider
        assert provider is not None
        provider.force_flush()  # type: ignore[attr-defined]
        [export] = wait_for(lambda: collector.requests, timeout=10)
        assert export.headers["content-type"] == "application/x-protobuf"
        assert b"GET /v1/things/{thing_id}" in export.body and b"rls-test" in export.body
    finally:
        if tracing._provider is not None:
            tracing._provider.shutdown()  # type: ignore[attr-defined]
        tracing.use_provider(None)
        collector.stop()
