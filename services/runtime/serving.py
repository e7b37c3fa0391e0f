"""`rls serve`: one service's API (with its relay and consumers) in the foreground, in one process or in several
worker processes sharing its port.

One Python process answers with one core: at about 1.6 ms of CPU a consent decision, one process saturates near 600
decisions/s (`bench/consent_decisions.py`). `--workers N` runs N processes on the service's store, behind one port:
uvicorn's supervisor binds the port, starts the workers (each builds the service's app, as `rls serve` does) and
starts a worker again if it dies. Their writes take turns on the store (SQLite: `services.common.writer_lock`; on
PostgreSQL, the store's own concurrency), each batching its concurrent writes (`services.common.group_commit`); the
relay and the loops run in one of them at a time (`services.common.leader.once_per_store`), consumers share their
group's partitions. A store in memory is refused: each worker would have its own; so is a process that runs one at a
time (`registry.SINGLE`: the audit service, the standards board).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys

from fastapi import FastAPI

from services.common.settings import ServiceSettings
from services.runtime.registry import SINGLE, app_builder, settings_class

SERVED = "RLS_SERVED_PROCESS"
"""Names the process each worker builds (the workers are started afresh and import `worker_app` by name)."""

MEMORY = "memory://"


class ServeError(ValueError):
    """What `rls serve` is asked cannot be run (said to the operator, exit status 2)."""


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # kafka-python narrates every connection at INFO and every refused one at ERROR; keep what matters.
    logging.getLogger("kafka").setLevel(logging.CRITICAL if level == "WARNING" else logging.WARNING)


def serve(name: str, workers: int = 1) -> None:
    """Runs `name`'s app until a signal stops it: in this process, or in `workers` processes on one port."""
    import uvicorn

    if workers > 1 and name in SINGLE:
        raise ServeError(f"{name} runs in one process at a time: {SINGLE[name]}")
    settings = settings_class(name)()
    if workers > 1 and isinstance(settings, ServiceSettings) and settings.event_store_url.startswith(MEMORY):
        raise ServeError(
            f"{settings.event_store_setting}={MEMORY}: each of the {workers} workers would keep its own store; "
            "give them a SQLite file or a PostgreSQL database"
        )
    _prepare_process()
    if workers == 1:
        app = app_builder(name)(settings)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
        return
    os.environ[SERVED] = name  # the workers, started afresh, inherit it
    uvicorn.run(
        f"{__name__}:{worker_app.__name__}",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
    )


def worker_app() -> FastAPI:
    """The app of one worker of `serve` (called in that worker's process)."""
    _prepare_process()
    return app_builder(os.environ[SERVED])()


def _prepare_process() -> None:
    """What a serving process sets up before its app: the log, and `kill -USR1 <pid>` writing every thread's stack
    to it."""
    configure_logging()
    faulthandler.register(signal.SIGUSR1)
