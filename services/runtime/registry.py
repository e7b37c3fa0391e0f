"""Every process of the platform and how to build it: one list for `rls serve`, `rls relay`, `rls run` (the launcher),
the schema export and the audit service's store sources.

Each process's `services/<name>/main.py` defines `SERVICE` (`services.common.composition.Service`): the same builders
in every event-sourced service (application, relay, consumers, loops, ASGI app, how its store is read); the console,
which holds no data, has only its settings and its ASGI app. Modules are imported only when asked for.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from services.common.composition import Service
from services.common.eventstore import StoreRef
from services.common.settings import PlatformSettings, StoreLocation


@dataclass(frozen=True)
class Entry:
    """A process `rls run` starts: its name, its default port (CONTRACT.md), whether it is a service (an API with
    its schema and a Kafka principal; the console is neither). The services keep an event store but the standards
    board, rebuilt from the topics (its `SERVICE` has no store)."""

    name: str
    port: int
    service: bool = True
    single: str | None = None
    """Why it runs as one process at a time (`rls serve --workers` refuses more), or None: any number may serve it."""


ENTRIES = (
    Entry("console", 8000, service=False),
    Entry("referral", 8001),
    Entry("agreements", 8002),
    Entry("consent", 8003),
    Entry("notifications", 8004),
    Entry("audit", 8005, single="its replays rebuild the audit database"),
    Entry("standards", 8006, single="its board's stream worker keeps the standards' tables"),
)

SERVICES: dict[str, int] = {e.name: e.port for e in ENTRIES if e.service}
"""The services: name -> default port."""

PROCESSES: dict[str, int] = {e.name: e.port for e in ENTRIES}
"""What `rls run` starts and `rls serve` runs (the services and the console)."""

SINGLE: dict[str, str] = {e.name: e.single for e in ENTRIES if e.single is not None}
"""The processes that run one at a time, and why."""

AUDIT = "audit"
"""The service that reads every other service's store (given to it from here: it imports none of them)."""


def service(name: str) -> Service[Any, Any]:
    """`services.<name>.main.SERVICE`, imported when asked for."""
    if name not in PROCESSES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(PROCESSES)}")
    found: Service[Any, Any] = importlib.import_module(f"services.{name}.main").SERVICE
    return found


def app_builder(name: str) -> Callable[..., FastAPI]:
    """The process's ASGI app builder (`settings` optional); the audit service is given the platform's stores."""
    build = service(name).app
    if name == AUDIT:
        return functools.partial(build, stores=event_stores)
    return build


def settings_class(name: str) -> Any:
    """`services.<name>.settings.<Name>Settings` (light: what the launcher and the console read)."""
    module = importlib.import_module(f"services.{name}.settings")
    return getattr(module, f"{name.capitalize()}Settings")


def event_stores(platform: PlatformSettings) -> list[StoreRef]:
    """Every service's event store but the audit's own, located by that service's own variables
    (`<SERVICE>_EVENT_STORE`, `<SERVICE>_CIPHER_KEY`) under the caller's `var/`, with how to read it."""
    refs = []
    for name in SERVICES:
        reader = service(name).store
        if name == AUDIT or reader is None:
            continue
        location = StoreLocation.of(name, platform.var_dir)
        refs.append(StoreRef(name, reader.application, location.url, location.cipher_key, reader.open_outbox))
    return refs
