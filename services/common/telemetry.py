"""What every process shows operators over HTTP: `/metrics` (Prometheus text format) and a span per request.

Requests are measured and traced by route template (`/v1/referrals/{referral_id}`), method and status: never the raw
path, the query string, a header or a body. The health routes and `/metrics` itself are neither measured nor traced.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.tracing import configure, span

NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's own OpenTelemetry instrumentation stays off: `RequestTelemetry` traces and measures each request once,
and FastAPI's check whether a provider is configured reads the environment on every request (7 % of the CPU of a
consent decision, profiled)."""

METRICS_PATH = "/metrics"
UNOBSERVED = frozenset({METRICS_PATH, "/healthz", "/readyz"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
"""The route of a request no route matched (its path is not a label: it could be anything a client sent)."""


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request (set on the scope by the router), else `<unmatched>`."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestTelemetry:
    """ASGI middleware: one server span (continuing the caller's `traceparent`) and one latency observation per
    request."""

    def __init__(self, app: ASGIApp, durations: Histogram) -> None:
        self.app = app
        self.durations = durations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNOBSERVED:
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        parent = dict(scope["headers"]).get(b"traceparent", b"").decode("latin-1") or None
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        with span(method, parent, SpanKind.SERVER, {"http.request.method": method}) as server:
            try:
                await self.app(scope, receive, sending)
            finally:
                route = route_template(scope)
                server.update_name(f"{method} {route}")
                server.set_attributes({"http.route": route, "http.response.status_code": status})
                self.durations.labels(method, route, str(status)).observe(time.perf_counter() - started)


def observe(app: FastAPI, service: str, readings: Iterable[Collector] = ()) -> CollectorRegistry:
    """Adds `/metrics` (request durations by route and status, and `readings`) and per-request spans to `app`;
    exports this process's spans if OpenTelemetry is configured (`services.common.tracing.configure`)."""
    registry = CollectorRegistry(auto_describe=False)
    durations = Histogram(
        "rls_http_request_duration_seconds",
        "HTTP requests by method, route template and status (count: the request rate)",
        ("method", "route", "status"),
        registry=registry,
    )
    for reading in readings:
        registry.register(reading)
    app.add_middleware(RequestTelemetry, durations=durations)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    configure(f"rls-{service}")
    app.state.metrics = registry
    return registry
