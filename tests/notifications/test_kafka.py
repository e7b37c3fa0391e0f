"""The whole service on a real broker: referral events on `rls.referral.v1` → consumer → deliveries → each
organisation's topic and webhook. Topic isolation with interleaved referrals of several organisations."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.envelope import CloudEvent
from services.common.kafka import KafkaPublisher, Outgoing
from services.contract import topics
from services.contract.topics import org_referrals
from services.notifications.main import build_app
from services.notifications.settings import NotificationsSettings
from tests.helpers import read_topic, wait_for
from tests.notifications.conftest import SECRET, Story, org, verify
from tests.notifications.fakes import Receiver

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]


def concerns(event: CloudEvent, org_id: str) -> bool:
    """The rule, restated: reminders concern the organisation that must act; other events the sender, the
    receiver and, for a redirect, the previous receiver."""
    data = event.data
    if event.type.split(".")[-2] in {"delay-at-risk", "delay-breached"}:
        return bool(data["responsible_org"] == org_id)
    return org_id in {data["from_org"], data["to_org"], data.get("redirected_from_org")}


def publish(bootstrap: str, events: list[CloudEvent]) -> None:
    publisher = KafkaPublisher(bootstrap, "test-referral-events")
    try:
        publisher.publish([Outgoing(topics.REFERRAL, event.subject or "", event) for event in events])
    finally:
        publisher.close()


def by_referral(events: list[CloudEvent]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for event in events:
        grouped.setdefault(event.subject or "", []).append(event.id)
    return grouped


def test_each_organisation_topic_holds_exactly_the_referrals_concerning_it(
    kafka_bootstrap: str,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    receiver: Receiver,
) -> None:
    settings = service_settings(
        NotificationsSettings,
        event_store=f"sqlite:///{tmp_path / 'notifications.db'}",
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_group="test-" + uuid.uuid4().hex,
        relay_enabled=True,
        consumers_enabled=True,
        retry_initial_s=0.05,
        retry_max_interval_s=0.2,
    )
    client = client_for(build_app(settings))
    csss, crisis, listening, regional = org("csss"), org("crise"), org("tel-aide"), org("crdp")
    for org_id in (csss, crisis):
        topic = client.post(
            "/v1/subscriptions", json={"org_id": org_id, "channel": "KAFKA_TOPIC"}, headers=auth(org_id, "admin")
        )
        assert topic.status_code == 201
    hook = client.post(
        "/v1/subscriptions",
        json={"org_id": crisis, "channel": "WEBHOOK", "url": receiver.url, "secret": SECRET},
        headers=auth(crisis, "admin"),
    ).json()

    to_crisis, from_crisis, to_csss, elsewhere = (
        Story(csss, crisis),
        Story(crisis, listening),
        Story(listening, csss),
        Story(listening, regional),
    )
    redirected = Story(csss, listening)
    lifecycles = [s.lifecycle() for s in (to_crisis, from_crisis, to_csss, elsewhere)]
    events = [lifecycle[n] for n in range(4) for lifecycle in lifecycles]
    events += [
        redirected.submitted(),
        to_crisis.delay("breached", responsible_org=crisis),
        redirected.changed("received", "RECEIVED"),
        to_csss.delay("at-risk", responsible_org=csss),
        redirected.redirected(crisis),
        elsewhere.delay("at-risk", responsible_org=regional),
        redirected.changed("received", "RECEIVED"),
    ]
    publish(kafka_bootstrap, events)

    expected = {org_id: [e for e in events if concerns(e, org_id)] for org_id in (csss, crisis)}
    assert (len(expected[csss]), len(expected[crisis])) == (4 + 4 + 4 + 1, 4 + 4 + 1 + 2)

    def on_topic(org_id: str) -> list[CloudEvent]:
        return [e for _, e in read_topic(kafka_bootstrap, org_referrals(org_id), idle_s=0.2) if e is not None]

    for org_id in (csss, crisis):
        wait_for(lambda o=org_id: len(on_topic(o)) >= len(expected[o]), timeout=90, interval=0.3)
    wait_for(lambda: len(receiver.accepted()) >= len(expected[crisis]), timeout=30)
    for org_id in (csss, crisis):
        received = on_topic(org_id)
        assert sorted(e.id for e in received) == sorted(e.id for e in expected[org_id]), "exactly its own"
        assert by_referral(received) == by_referral(expected[org_id]), "in order per referral"
        assert all("reason_code" not in e.data for e in received)
    assert not on_topic(listening) and not on_topic(regional), "no subscription, no topic"

    webhooks = receiver.accepted()
    assert sorted(r.event["id"] for r in webhooks) == sorted(e.id for e in expected[crisis])
    assert all(verify(SECRET, r.headers, r.body) for r in webhooks)
    deliveries = client.get(f"/v1/subscriptions/{hook['id']}/deliveries", headers=auth(crisis, "admin")).json()
    assert {d["status"] for d in deliveries} == {"DELIVERED"}
    assert len(deliveries) == len(expected[crisis])
