"""An exception no handler takes is a 500 problem, logged by its type and route template only: its message (which
may quote what a client sent) reaches no log record, uvicorn's included, because nothing raises it on to uvicorn."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.problems import install_problem_handlers
from services.runtime.registry import SERVICES, app_builder, settings_class
from tests.helpers import free_port, wait_for

SECRET = "secret-value"


def boom() -> None:
    """A route failing unexpectedly, its message quoting what a user sent."""
    raise ValueError(f"subject {SECRET}")


def everything_logged(records: list[logging.LogRecord]) -> str:
    """What the records carry: messages, their arguments, tracebacks (formatted or not) and stacks."""
    parts = []
    for record in records:
        parts += [record.getMessage(), repr(record.args), record.exc_text or "", record.stack_info or ""]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)


@contextmanager
def every_logger(handler: logging.Handler) -> Iterator[None]:
    """`handler` on the loggers that do not propagate to the root (uvicorn's, once configured) too."""
    loggers = [logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    apart = [logger for logger in loggers if not logger.propagate]
    for logger in apart:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in apart:
            logger.removeHandler(handler)


def test_an_unexpected_error_served_by_uvicorn_is_a_problem_and_its_message_is_in_no_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_problem_handlers(app, {})
    app.add_api_route("/boom/{item}", boom)
    port = free_port()
    # uvicorn's logging configured as in production (its loggers apart from the root), before they are captured
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", access_log=False))
    with every_logger(caplog.handler), caplog.at_level(logging.DEBUG):
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: server.started, timeout=30, interval=0.02)
            response = httpx.get(f"http://127.0.0.1:{port}/boom/TREJ55123112")
        finally:  # uvicorn logs what the app raised after the response went out: the server's end waits for that
            server.should_exit = True
            thread.join(10)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:ca.qc.rls:problem:internal",
        "title": "Internal error",
        "status": 500,
        "instance": "/boom/TREJ55123112",
    }
    logged = everything_logged(caplog.records)
    assert SECRET not in logged
    assert "unexpected ValueError on GET /boom/{item}" in logged  # by route template: not the path


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_service_answers_an_unexpected_error_with_a_problem_raising_nothing(
    service: str,
    service_settings: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    spans: InMemorySpanExporter,
) -> None:
    app = app_builder(service)(service_settings(settings_class(service)))
    app.add_api_route("/boom", boom)
    with every_logger(caplog.handler), caplog.at_level(logging.DEBUG):
        response = TestClient(app).get("/boom")  # a TestClient raises what the app raises
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:ca.qc.rls:problem:internal"
    assert SECRET not in response.text
    logged = everything_logged(caplog.records)
    assert "unexpected ValueError on GET /boom" in logged
    assert SECRET not in logged
    traced = [
        (span.status.description, [event.attributes for event in span.events]) for span in spans.get_finished_spans()
    ]
    assert traced and SECRET not in repr(traced)  # nor in the request's span (a span records what passes through it)
