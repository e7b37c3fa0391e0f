"""Composition root of the standards board: the board view, the API, the call publisher and (unless disabled) the
faust worker on the API's event loop."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from faust.contrib.asgi import faust_app_running
from kafka.errors import KafkaError

from services.common.composition import BackgroundLoops, Service
from services.common.kafka import KafkaProbe, KafkaPublisher, PublishError
from services.common.metrics import dead_letter_readings
from services.common.openapi import document_problems
from services.common.problems import (
    DEPENDENCY_UNAVAILABLE,
    ProblemSpec,
    install_problem_handlers,
    problem_response,
)
from services.common.service import build_verifier
from services.common.strict_json import StrictJSONMiddleware
from services.common.telemetry import NATIVE_TELEMETRY, observe
from services.standards.api import router
from services.standards.application import BoardQueries
from services.standards.settings import StandardsSettings
from services.standards.views import BoardView
from services.standards.worker import Worker, ensure_board_topics

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    PublishError: DEPENDENCY_UNAVAILABLE,
    KafkaError: DEPENDENCY_UNAVAILABLE,
}

DESCRIPTION = (
    "Every standard of the ministry's orientations, measured from the platform's topics: delay, duration of "
    "service, Info-Social 8-1-1 answers and hours of access, per organisation × service × day or month. The board "
    "is rebuilt from the topics at will; it is in no write path."
)


def build_app(settings: StandardsSettings | None = None) -> FastAPI:
    settings = settings or StandardsSettings()
    view = BoardView(settings.kafka_access, settings.board_topic, f"{settings.app_id}-view")
    publisher = KafkaPublisher(settings.kafka_access, f"{settings.app_id}-calls")
    probe = KafkaProbe(settings.kafka_access, f"{settings.app_id}-probe")
    loops = BackgroundLoops({"board-view": view.run})
    zone = settings.zone
    dead_lettered: Counter[str] = Counter()
    dead_letters_refused: Counter[str] = Counter()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if settings.consumers_enabled and settings.worker_enabled:
                ensure_board_topics(settings)
                worker = Worker(settings, dead_lettered, dead_letters_refused)
                stack.callback(worker.close)  # after the app stops
                await stack.enter_async_context(faust_app_running(worker.app))
            if settings.consumers_enabled:
                loops.start()
            try:
                yield
            finally:
                loops.stop()
                publisher.close()
                probe.close()

    api = FastAPI(
        title="RLS Referrals — standards board",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=NATIVE_TELEMETRY,
    )
    api.state.settings = settings
    api.state.verifier = build_verifier(settings)
    api.state.queries = BoardQueries(view, settings.bounds())
    api.state.publisher = publisher
    api.state.today = lambda: datetime.now(zone).date()
    install_problem_handlers(api, DOMAIN_ERRORS)
    api.add_middleware(StrictJSONMiddleware)
    document_problems(api)
    observe(api, "standards", dead_letter_readings(settings.app_id, dead_lettered, dead_letters_refused))

    @api.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"], responses={503: {"description": "Kafka unreachable or board not read"}})
    def readyz() -> object:
        """Ready: Kafka is reachable and the board topic has been read to its end."""
        try:
            probe.check()
        except Exception as error:  # noqa: BLE001 -- any failure means not ready
            return problem_response(503, "not-ready", "Not ready", f"unreachable: kafka ({type(error).__name__})")
        if not view.caught_up.is_set():
            return problem_response(503, "not-ready", "Not ready", "the board topic is still being read")
        return {"status": "ready", "checks": {"kafka": "ok", "board": "ok"}}

    api.include_router(router)
    return api


SERVICE: Service[StandardsSettings, None] = Service(name="standards", settings=StandardsSettings, app=build_app)
"""The standards board in the registry: settings and an ASGI app, whose lifespan runs the faust worker (`worker.py`)
and the board view. No event store (it is rebuilt from the topics), so no application, relay or store reader."""
