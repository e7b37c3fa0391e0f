"""Assembles a service process: FastAPI app, health endpoints, background loops, clean shutdown."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from services.common.auth import DEV_ISSUER, TokenVerifier, load_dev_key
from services.common.backoff import Backoff
from services.common.eventstore import TrackedApplication, persistence_env
from services.common.integrity.checkpoints import CheckpointPublisher, ensure_checkpoint_topic
from services.common.integrity.sealing import SealedStore
from services.common.kafka import KafkaProbe, KafkaPublisher
from services.common.openapi import document_problems
from services.common.problems import ProblemSpec, install_problem_handlers, problem_response
from services.common.settings import PlatformSettings, ServiceSettings
from services.common.strict_json import StrictJSONMiddleware

log = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]


def application_env(settings: ServiceSettings) -> dict[str, str]:
    """The eventsourcing environment of a service's application."""
    env = persistence_env(settings.event_store_url)
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.aggregate_cache_size)
    env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
    env["CIPHER_KEY"] = settings.store_cipher_key.get_secret_value()
    return env


def build_verifier(settings: PlatformSettings) -> TokenVerifier:
    issuer = settings.jwt_issuer or DEV_ISSUER
    if settings.jwks_url:
        return TokenVerifier(settings.jwt_audience, issuer, jwks_url=settings.jwks_url)
    return TokenVerifier(settings.jwt_audience, issuer, dev_key=load_dev_key(settings.signing_key_file))


@dataclass
class BackgroundLoops:
    """Named loops (relays, consumers) run on daemon threads until stopped."""

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


@dataclass
class ServiceParts:
    """Everything a service's composition root built; `create_service_app` wires it into FastAPI."""

    title: str
    settings: ServiceSettings
    application: TrackedApplication
    routers: Sequence[APIRouter]
    domain_errors: Mapping[type[Exception], ProblemSpec]
    loops: Mapping[str, Loop]
    closers: Sequence[Callable[[], Any]] = ()
    state: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def integrity_checkpoints(settings: ServiceSettings, application: TrackedApplication) -> tuple[Loop, KafkaPublisher]:
    """The loop publishing the chain head of the service's event store, and its Kafka client (to close)."""
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
    return checkpoints.run, sink


def publisher_loops(
    settings: ServiceSettings, application: TrackedApplication
) -> tuple[dict[str, Loop], list[Callable[[], Any]]]:
    """What the process publishing a store's outbox also runs: the store's integrity checkpoints (when sealed)."""
    if settings.checkpoint_interval_s <= 0 or not isinstance(application.recorder, SealedStore):
        return {}, []
    loop, sink = integrity_checkpoints(settings, application)
    return {"integrity-checkpoints": loop}, [sink.close]


def create_service_app(parts: ServiceParts) -> FastAPI:
    probe = KafkaProbe(parts.settings.kafka_access, f"{parts.settings.service_name}-probe")
    loop_map, closers = dict(parts.loops), list(parts.closers)
    if parts.settings.relay_enabled:
        extra_loops, extra_closers = publisher_loops(parts.settings, parts.application)
        loop_map.update(extra_loops)
        closers += extra_closers
    loops = BackgroundLoops(loop_map)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loops.start()
        try:
            yield
        finally:
            loops.stop()
            for close in closers:
                close()
            probe.close()
            parts.application.close()

    api = FastAPI(title=parts.title, version="1.0.0", description=parts.description, lifespan=lifespan)
    api.state.settings = parts.settings
    api.state.application = parts.application
    api.state.verifier = build_verifier(parts.settings)
    for name, value in parts.state.items():
        setattr(api.state, name, value)
    install_problem_handlers(api, parts.domain_errors)
    api.add_middleware(StrictJSONMiddleware)
    document_problems(api)

    @api.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"], responses={503: {"description": "A dependency is unreachable"}})
    def readyz() -> Any:
        """Ready: the event store and Kafka are reachable."""
        checks: dict[str, str] = {}
        for name, check in (("event_store", parts.application.check_store), ("kafka", probe.check)):
            try:
                check()
                checks[name] = "ok"
            except Exception as error:  # noqa: BLE001 -- any failure means not ready
                checks[name] = type(error).__name__
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        failing = ", ".join(k for k, v in checks.items() if v != "ok")
        return problem_response(503, "not-ready", "Not ready", f"unreachable: {failing}", checks=checks)

    for router in parts.routers:
        api.include_router(router)
    return api


def json_ok(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))
