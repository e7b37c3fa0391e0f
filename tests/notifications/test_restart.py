"""`rls serve notifications` killed by SIGKILL while webhook deliveries are pending (the receiver is down):
after a restart none is lost, each is received once in effect, in order per referral."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.envelope import CloudEvent
from services.common.kafka import KafkaPublisher, Outgoing
from services.contract import topics
from tests.helpers import free_port, service_env, service_process, wait_for, wait_ready
from tests.notifications.conftest import SECRET, Story, org, verify
from tests.notifications.fakes import Receiver

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]


def publish(bootstrap: str, events: list[CloudEvent]) -> None:
    publisher = KafkaPublisher(bootstrap, "test-referral-events")
    try:
        publisher.publish([Outgoing(topics.REFERRAL, event.subject or "", event) for event in events])
    finally:
        publisher.close()


def test_a_killed_process_loses_no_pending_delivery(
    kafka_bootstrap: str, tmp_path: Path, dev_key_file: Path, auth: Auth
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **service_env("notifications", kafka_bootstrap, tmp_path, dev_key_file, port),
        "NOTIFICATIONS_CONSUMER_GROUP": "restart-" + uuid.uuid4().hex,
        "NOTIFICATIONS_RETRY_INITIAL_S": "0.1",
        "NOTIFICATIONS_RETRY_MAX_INTERVAL_S": "0.3",
    }
    sender, receiving = org("csss"), org("crise")
    receiver = Receiver()  # down: nothing listens on its port yet
    stories = [Story(sender, receiving) for _ in range(4)]
    lifecycles = [s.lifecycle() for s in stories]
    before_kill = [lifecycle[n] for n in range(4) for lifecycle in lifecycles]
    while_down = [s.changed("follow-up-started", "FOLLOW_UP_STARTED") for s in stories]

    with service_process("notifications", env, tmp_path / "first.log") as first:
        wait_ready(base_url, first)
        created = httpx.post(
            base_url + "/v1/subscriptions",
            json={"org_id": receiving, "channel": "WEBHOOK", "url": receiver.url, "secret": SECRET},
            headers=auth(receiving, "admin"),
        )
        assert created.status_code == 201
        deliveries_url = base_url + f"/v1/subscriptions/{created.json()['id']}/deliveries"
        publish(kafka_bootstrap, before_kill)

        def pending() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = httpx.get(deliveries_url, headers=auth(receiving, "admin")).json()
            return found

        wait_for(
            lambda: len(found := pending()) == len(before_kill) and sum(d["attempts"] > 1 for d in found) == 4,
            timeout=60,
            interval=0.2,
        )
        assert {d["status"] for d in pending()} == {"FAILED", "PENDING"}
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    publish(kafka_bootstrap, while_down)
    receiver.start()
    # Positions come from the tracking rows in the event store, not from the group's offsets: a new group id only
    # spares the wait for the killed member's session to expire.
    env["NOTIFICATIONS_CONSUMER_GROUP"] = "restart-" + uuid.uuid4().hex
    try:
        with service_process("notifications", env, tmp_path / "second.log") as second:
            wait_ready(base_url, second)
            expected = before_kill + while_down
            wait_for(lambda: len(receiver.accepted()) == len(expected), timeout=60, interval=0.2)
            deliveries = httpx.get(deliveries_url, headers=auth(receiving, "admin")).json()
            assert [d["status"] for d in deliveries] == ["DELIVERED"] * len(expected)
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    finally:
        receiver.stop()

    accepted = receiver.accepted()
    assert sorted(r.event["id"] for r in accepted) == sorted(e.id for e in expected), "none lost, none twice"
    assert all(verify(SECRET, r.headers, r.body) for r in accepted)
    for story in stories:
        sent = [e.id for e in expected if e.subject == story.referral_id]
        assert [r.event["id"] for r in accepted if r.event["subject"] == story.referral_id] == sent
