"""Distributed traces (OpenTelemetry), off unless configured by the standard `OTEL_*` variables.

A request's trace context (W3C `traceparent`) is stored with the domain events it records (`TracingMapper`), carried
by the relay in the CloudEvent's `traceparent` extension (CloudEvents distributed-tracing extension), continued by
consumers and by the webhook delivery: a referral's submit → relay → notifications → webhook is one trace.

Spans name routes by their template and carry methods, status codes, topics and partitions: never a body, a header,
a query string or a raw path (they may name a person).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import httpx
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
STORED_KEY = "__traceparent__"
"""Where a stored event's state keeps the trace context of the request that recorded it (absent: none)."""

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def configured(env: Mapping[str, str] = os.environ) -> bool:
    """Traces are exported when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER", "") == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(service: str, env: Mapping[str, str] = os.environ) -> None:
    """Exports this process's spans over OTLP (HTTP/protobuf) when `configured`; once per process."""
    if _provider is not None or not configured(env):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = SdkTracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", service)}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)


def use_provider(provider: TracerProvider | None) -> None:
    """The provider spans are made with (None: OpenTelemetry's global one, a no-op unless set). Tests give theirs."""
    global _provider
    _provider = provider


def tracer() -> Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer("rls")


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span (None outside any trace)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def trace_headers() -> dict[str, str]:
    """The `traceparent` header continuing the current trace in an outgoing HTTP request (empty outside any)."""
    parent = current_traceparent()
    return {TRACEPARENT: parent} if parent else {}


def propagate(request: httpx.Request) -> None:
    """An httpx request hook continuing the current trace in the service called (`event_hooks`)."""
    request.headers.update(trace_headers())


@contextmanager
def span(name: str, parent: str | None, kind: SpanKind, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A span continuing the trace of `parent` (a `traceparent`; None: the current context), current while open.
    Untraced processes still carry `parent` on (the no-op span keeps its context)."""
    context = _PROPAGATOR.extract({TRACEPARENT: parent}) if parent else None
    with tracer().start_as_current_span(name, context=context, kind=kind, attributes=attributes) as opened:
        yield opened


class TracingMapper(Mapper[Any]):
    """Stores the current trace context with each domain event it encodes, and reads it back apart from the event
    (the decoded event is as it was recorded: aggregates and views never see it)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        return self._stored(current_traceparent(), domain_event)

    def encoder(self) -> Callable[[DomainEventProtocol[Any]], StoredEvent]:
        """`to_stored_event` for the events of one write, all recorded in the current context: read once, not once an
        event (a clock tick's thousand flags)."""
        return partial(self._stored, current_traceparent())

    def _stored(self, parent: str | None, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        if parent is None:
            return super().to_stored_event(domain_event)
        traced = object.__new__(type(domain_event))
        object.__setattr__(traced, "__dict__", {**vars(domain_event), STORED_KEY: parent})
        return super().to_stored_event(traced)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        return self.traced_domain_event(stored_event)[0]

    def traced_domain_event(self, stored_event: StoredEvent) -> tuple[DomainEventProtocol[Any], str | None]:
        """The domain event and the `traceparent` it was recorded under."""
        domain_event = super().to_domain_event(stored_event)
        parent = vars(domain_event).pop(STORED_KEY, None)
        return domain_event, parent


def traced(mapper: Mapper[Any], stored_event: StoredEvent) -> tuple[DomainEventProtocol[Any], str | None]:
    """A stored event decoded with the trace context it was recorded under (None from another mapper)."""
    if isinstance(mapper, TracingMapper):
        return mapper.traced_domain_event(stored_event)
    return mapper.to_domain_event(stored_event), None
