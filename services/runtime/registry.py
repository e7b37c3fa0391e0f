"""The services of the platform and how to build each one."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

SERVICES: dict[str, int] = {
    "referral": 8001,
    "agreements": 8002,
    "consent": 8003,
    "notifications": 8004,
    "audit": 8005,
    "standards": 8006,
}
"""Service name -> default port (CONTRACT.md)."""

CONSOLE: dict[str, int] = {"console": 8000}
"""The web console: pages over the services' APIs (no API or schema of its own)."""

PROCESSES: dict[str, int] = {**SERVICES, **CONSOLE}
"""What `rls run` starts and `rls serve` runs."""


def app_builder(name: str) -> Callable[..., FastAPI]:
    """`services.<name>.main.build_app` (imported only when asked for)."""
    if name not in PROCESSES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(PROCESSES)}")
    builder: Callable[..., FastAPI] = importlib.import_module(f"services.{name}.main").build_app
    return builder


def settings_class(name: str) -> Any:
    module = importlib.import_module(f"services.{name}.settings")
    return getattr(module, f"{name.capitalize()}Settings")
