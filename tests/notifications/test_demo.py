"""`make run`'s demo network subscribes each organisation to its topic (the README walkthrough reads one), once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from services.common.auth import load_dev_key, mint_dev_token
from services.notifications.main import build_app
from services.notifications.settings import NotificationsSettings
from services.runtime import demo
from tests.helpers import wait_for


@pytest.fixture
def notifications_url(service_settings: Callable[..., Any]) -> Iterator[str]:
    settings = service_settings(NotificationsSettings)
    config = uvicorn.Config(build_app(settings), host="127.0.0.1", port=settings.port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, interval=0.02)
    yield f"http://127.0.0.1:{settings.port}"
    server.should_exit = True
    thread.join(10)


def test_the_demo_organisations_subscribe_to_their_topics_once(notifications_url: str, dev_key_file: Path) -> None:
    key = load_dev_key(dev_key_file)

    def token_for(org_id: str) -> str:
        return mint_dev_token(key, org_id, ["admin"], "demo", "rls", timedelta(minutes=5))

    demo.subscribe_demo_topics(notifications_url, token_for)
    demo.subscribe_demo_topics(notifications_url, token_for)  # a second `make run`
    for organisation in demo.ORGANISATIONS:
        org_id = organisation["id"]
        listed = httpx.get(
            notifications_url + "/v1/subscriptions", headers={"Authorization": f"Bearer {token_for(org_id)}"}
        ).json()["items"]
        assert [(s["channel"], s["topic"]) for s in listed] == [("KAFKA_TOPIC", f"rls.org.{org_id}.referrals.v1")]
