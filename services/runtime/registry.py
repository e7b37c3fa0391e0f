"""The five services of the platform and how to build each one."""

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
}
"""Service name -> default port (CONTRACT.md)."""


def app_builder(name: str) -> Callable[..., FastAPI]:
    """`services.<name>.main.build_app` (imported only when asked for)."""
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    builder: Callable[..., FastAPI] = importlib.import_module(f"services.{name}.main").build_app
    return builder


def settings_class(name: str) -> Any:
    module = importlib.import_module(f"services.{name}.settings")
    return getattr(module, f"{name.capitalize()}Settings")
