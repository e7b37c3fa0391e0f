"""A service's start moves its start-up objects out of the garbage collector's reach; its shutdown gives them back."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from services.runtime.registry import app_builder, settings_class


def test_a_started_service_collects_only_what_it_allocated_since_its_start(
    service_settings: Callable[..., Any],
) -> None:
    gc.unfreeze()
    app = app_builder("referral")(service_settings(settings_class("referral")))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # modules, the app, its routes and models
    assert gc.get_freeze_count() == 0
