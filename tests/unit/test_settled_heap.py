"""A service's start moves its start-up objects out of the garbage collector's reach; its shutdown gives them back.
A burst of short-lived objects pauses the collector, for every thread, until the last burst is done."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from services.common.heap import collector_paused
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


def test_the_collector_paused_by_several_threads_resumes_when_the_last_one_is_done() -> None:
    """The collector is the process's: a thread leaving its pause while another is still in its own does not resume
    it, and a collector someone else disabled stays disabled."""
    second_in, first_out = threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())

    assert gc.isenabled()
    other = threading.Thread(target=second)
    with collector_paused():
        other.start()
        second_in.wait(5)
        seen.append(gc.isenabled())
    first_out.set()
    other.join(5)
    assert seen == [False, False] and gc.isenabled()

    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
