"""End to end through a real broker: POST /v1/referrals → event store → relay → rls.referral.v1 →
notifications consumer → rls.org.<to_org>.referrals.v1 → a consumer of that topic sees it."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.contract.topics import org_referrals
from tests.helpers import read_topic, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_submitted_referral_reaches_the_receiving_organisations_topic(
    kafka_bootstrap: str,
    referral_and_notifications: Callable[[str], tuple[TestClient, TestClient]],
    auth: Callable[..., dict[str, str]],
) -> None:
    referral, notifications = referral_and_notifications("e2e")
    to_org = "e2e-" + uuid.uuid4().hex[:10]
    topic = org_referrals(to_org)
    for org in (to_org, "e2e-sender"):  # topic delivery is opt-in: each organisation subscribes to its topic
        subscribed = notifications.post(
            "/v1/subscriptions", json={"org_id": org, "channel": "KAFKA_TOPIC"}, headers=auth(org, "admin")
        )
        assert subscribed.status_code == 201
        assert subscribed.json()["topic"] == org_referrals(org)
    latencies = []
    for n in range(4):
        body = {
            "subject_id": f"S-E2E-{n}",
            "from_org": "e2e-sender",
            "from_service": "AAOR",
            "to_org": to_org,
            "to_service": "CRISIS_24_7",
            "channel": "PHONE",
            "urgency": "URGENT",
            "reason_code": "FAMILY_CRISIS",
        }
        started = time.monotonic()
        response = referral.post("/v1/referrals", json=body, headers=auth("e2e-sender", "intake"))
        assert response.status_code == 201
        referral_id = response.json()["id"]

        def arrived(rid: str = referral_id) -> list[Any]:
            return [e for _, e in read_topic(kafka_bootstrap, topic, idle_s=0.2) if e and e.subject == rid]

        events = wait_for(arrived, timeout=60, interval=0.05)
        latencies.append(time.monotonic() - started)
        event = events[0]
        assert event.type == "ca.qc.rls.referral.submitted.v1"
        assert event.data["to_org"] == to_org
        assert "reason_code" not in event.data  # record information never travels on topics
    print(
        f"\nsubmit → {topic}: first {latencies[0] * 1000:.0f} ms (consumer group joining), "
        f"then median {statistics.median(latencies[1:]) * 1000:.0f} ms over {len(latencies) - 1}"
    )
    sender_topic = read_topic(kafka_bootstrap, org_referrals("e2e-sender"), idle_s=0.2)
    assert len([e for _, e in sender_topic if e and e.data["to_org"] == to_org]) == len(latencies)
