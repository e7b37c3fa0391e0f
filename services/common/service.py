"""Assembles a service process from its builders (`services.common.composition.Service`): the FastAPI app, health
endpoints, `/metrics` and request spans, the workers every service builds the same way (outbox relay, checkpoints,
consumers, periodic loops) with what they show on `/metrics`, clean shutdown."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from services.common.auth import DEV_ISSUER, TokenVerifier, load_dev_key
from services.common.cipher import CIPHER_TOPIC
from services.common.composition import BackgroundLoops, Service, Workers, run_until
from services.common.consumer import DeadLetterSink, Handler, RecordProcessor, TrackingConsumer
from services.common.eventstore import STORE_SETTING, TrackedApplication, persistence_env
from services.common.heap import settle_heap
from services.common.integrity.checkpoints import CheckpointPublisher, ensure_checkpoint_topic
from services.common.integrity.sealing import SealedStore
from services.common.kafka import KafkaProbe, KafkaPublisher
from services.common.leader import once_per_store
from services.common.metrics import checkpoint_readings, consumer_readings, outbox_lag
from services.common.openapi import document_problems
from services.common.problems import ProblemSpec, install_problem_handlers, problem_response
from services.common.relay import Mapper, OutboxRelay, relay_readings
from services.common.settings import PlatformSettings, ServiceSettings
from services.common.strict_json import StrictJSONMiddleware
from services.common.telemetry import NATIVE_TELEMETRY, observe
from services.common.transcoder import TRANSCODER_TOPIC

S = TypeVar("S")
A = TypeVar("A")


def application_env(settings: ServiceSettings) -> dict[str, str]:
    """The eventsourcing environment of a service's application."""
    env = persistence_env(settings.event_store_url)
    env[STORE_SETTING] = settings.event_store_setting
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.aggregate_cache_size)
    env["TRANSCODER_TOPIC"] = TRANSCODER_TOPIC
    env["CIPHER_TOPIC"] = CIPHER_TOPIC
    env["CIPHER_KEY"] = settings.store_cipher_key.get_secret_value()
    return env


def build_verifier(settings: PlatformSettings) -> TokenVerifier:
    issuer = settings.jwt_issuer or DEV_ISSUER
    if settings.jwks_url:
        return TokenVerifier(settings.jwt_audience, issuer, jwks_url=settings.jwks_url)
    return TokenVerifier(settings.jwt_audience, issuer, dev_key=load_dev_key(settings.signing_key_file))


def from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A `Depends` getter of what the composition root put on `app.state` under `name` (the application, the
    settings, a gateway): routes reach it through `Annotated[Type, Depends(from_state(name))]`."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return get


@dataclass
class Api:
    """What a service shows over HTTP: its routers, its domain errors (one table), what its routes reach on
    `app.state` through `Depends` getters (tests override them), and what to close with it."""

    title: str
    routers: Sequence[APIRouter]
    domain_errors: Mapping[type[Exception], ProblemSpec]
    description: str = ""
    state: Mapping[str, Any] = field(default_factory=dict)
    closers: Sequence[Callable[[], object]] = ()
    shortcuts: Sequence[Callable[[ASGIApp], ASGIApp]] = ()
    """ASGI middleware run innermost (inside telemetry, the body limit and strict JSON, before routing): a hot
    route's plain case answered without the framework's per-request work, handing every other request on."""


def checkpoint_workers(settings: ServiceSettings, application: TrackedApplication) -> Workers:
    """The loop publishing the chain head of the service's event store (when it is sealed and checkpoints are on)."""
    if settings.checkpoint_interval_s <= 0 or not isinstance(application.recorder, SealedStore):
        return Workers()
    sink = KafkaPublisher(settings.kafka_access, f"{settings.service_name}-checkpoints")
    checkpoints = CheckpointPublisher(
        application.recorder,
        sink,
        application=application.name,
        topic=settings.checkpoint_topic,
        source=f"/rls/{settings.service_name}",
        interval_s=settings.checkpoint_interval_s,
        prepare=lambda: ensure_checkpoint_topic(settings.kafka_access, settings.checkpoint_topic),
    )
    return Workers({"integrity-checkpoints": checkpoints.run}, [sink.close], checkpoint_readings(checkpoints))


def outbox_relay(
    settings: ServiceSettings, application: TrackedApplication, mapper: Mapper, tracking_name: str, topic: str
) -> Workers:
    """The outbox relay of a service (its position tracked under `tracking_name`; a stored event it cannot map goes
    to `<topic>.dlq`), and its store's checkpoints."""
    publisher = KafkaPublisher(settings.kafka_access, f"{settings.service_name}-relay")
    relay = OutboxRelay(
        application,
        mapper,
        publisher,
        name=tracking_name,
        batch_size=settings.relay_batch_size,
        gap_timeout=settings.relay_gap_timeout_s,
        dead_letter_topic=topic,
    )
    readings = [outbox_lag(application, tracking_name), *relay_readings(relay)]
    relayed = Workers({f"{settings.service_name}-relay": relay.run}, [publisher.close], readings)
    return relayed + checkpoint_workers(settings, application)


def topic_consumer(
    settings: ServiceSettings,
    application: TrackedApplication,
    name: str,
    group: str,
    topics: Sequence[str],
    handler: Handler,
    declared: frozenset[str],
) -> Workers:
    """A consumer group member applying each record of `topics` once in effect (poison records: `<topic>.dlq`, with
    a reason showing only the keys in `declared`: the names the handler's models declare)."""
    dead_letters = KafkaPublisher(settings.kafka_access, f"{settings.service_name}-dead-letters")
    processor = RecordProcessor(
        app=application,
        handler=handler,
        dead_letters=DeadLetterSink(dead_letters.send_raw),
        group=group,
        declared=declared,
    )
    consumer = TrackingConsumer(settings.kafka_access, group, list(topics), processor)
    return Workers({name: consumer.run}, [dead_letters.close], consumer_readings(application, consumer))


def periodic(name: str, work: Callable[[], object], interval_s: float) -> Workers:
    """A loop calling `work` every `interval_s` (clock ticks, schedulers: the work itself says what is due)."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            work()
            stop.wait(interval_s)

    return Workers({name: run})


def background_workers(service: Service[S, A], settings: S, application: A) -> Workers:
    """What a service process runs beside its API: relay (`relay_enabled`), consumers (`consumers_enabled`), loops;
    the relay and the loops only while this process holds their lease on the store (replicas run them once)."""
    assert isinstance(settings, ServiceSettings)
    workers = Workers()
    if settings.relay_enabled and service.relay is not None:
        workers += once_per_store(settings.event_store_url, service.relay(settings, application))
    if settings.consumers_enabled and service.consumers is not None:
        workers += service.consumers(settings, application)  # consumer groups share the partitions out
    if service.loops is not None:
        workers += once_per_store(settings.event_store_url, service.loops(settings, application))
    return workers


def run_relay(service: Service[S, A], stop: threading.Event) -> None:
    """`rls relay <service>`: only the service's relay, until `stop` (the API may run elsewhere; relays of one store
    take turns through its lease)."""
    if service.application is None or service.relay is None:
        raise ValueError(f"the {service.name} service has no relay")
    settings = service.settings()
    assert isinstance(settings, ServiceSettings)
    application = service.application(settings)
    try:
        run_until(once_per_store(settings.event_store_url, service.relay(settings, application)), stop)
    finally:
        close = getattr(application, "close", None)
        if close is not None:
            close()


def create_service_app(service: Service[S, A], settings: S, application: A, api: Api) -> FastAPI:
    """The service's ASGI app: its API, health endpoints, and its workers run for the app's lifespan."""
    assert isinstance(settings, ServiceSettings) and isinstance(application, TrackedApplication)
    probe = KafkaProbe(settings.kafka_access, f"{settings.service_name}-probe")
    workers = background_workers(service, settings, application)
    loops = BackgroundLoops(workers.loops)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settle_heap()
        loops.start()
        try:
            yield
        finally:
            loops.stop()
            workers.close()
            for close in api.closers:
                close()
            probe.close()
            application.close()
            gc.unfreeze()  # what the app held can be collected again (a process running apps one after another)

    app = FastAPI(
        title=api.title,
        version="1.0.0",
        description=api.description,
        lifespan=lifespan,
        telemetry=NATIVE_TELEMETRY,
    )
    app.state.settings = settings
    app.state.application = application
    app.state.verifier = build_verifier(settings)
    for name, value in api.state.items():
        setattr(app.state, name, value)
    install_problem_handlers(app, api.domain_errors)
    app.add_middleware(StrictJSONMiddleware)
    document_problems(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "A dependency is unreachable"}})
    def readyz() -> Any:
        """Ready: the event store and Kafka are reachable."""
        checks: dict[str, str] = {}
        for name, check in (("event_store", application.check_store), ("kafka", probe.check)):
            try:
                check()
                checks[name] = "ok"
            except Exception as error:  # noqa: BLE001 -- any failure means not ready
                checks[name] = type(error).__name__
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        failing = ", ".join(k for k, v in checks.items() if v != "ok")
        return problem_response(503, "not-ready", "Not ready", f"unreachable: {failing}", checks=checks)

    for router in api.routers:
        app.include_router(router)
    app.user_middleware.extend(Middleware(shortcut) for shortcut in api.shortcuts)  # appended: innermost
    own = service.metrics(settings, application) if service.metrics is not None else []
    observe(app, settings.service_name, [*workers.readings, *own])
    return app
