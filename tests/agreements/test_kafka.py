"""The agreements service end to end on a real Kafka broker: its consumer loop counts accepted referrals from
`rls.referral.v1` once in effect, its scheduler activates agreements, its relay publishes on `rls.agreements.v1`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.main import build_app
from services.agreements.settings import AgreementsSettings
from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from services.common.kafka import KafkaPublisher, Outgoing
from services.contract import topics
from tests.agreements.conftest import CSSS, NETWORK, REGIONAL, accepted, service_108
from tests.helpers import read_topic, wait_for

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def service(
    kafka_bootstrap: str,
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    tmp_path: Path,
    auth: Auth,
) -> tuple[TestClient, ManualClock]:
    """The service with its relay, consumer and scheduler running, on a SQLite file, with a test clock."""
    clock = ManualClock(datetime(2026, 11, 25, 15, tzinfo=UTC))
    settings = service_settings(
        AgreementsSettings,
        kafka_bootstrap_servers=kafka_bootstrap,
        event_store=f"sqlite:///{tmp_path / 'agreements.db'}",
        relay_enabled=True,
        consumers_enabled=True,
        scheduler_enabled=True,
        tick_interval_s=0.1,
        consumer_group=f"agreements-test-{uuid.uuid4().hex[:8]}",
    )
    client = client_for(build_app(settings, clock=clock))
    suffix = uuid.uuid4().hex[:6]  # organisations of this test only (the topics outlive it)
    for organisation in NETWORK[:2]:
        body = {**organisation, "id": f"{organisation['id']}-{suffix}"}
        assert client.post("/v1/organisations", json=body, headers=auth(PLATFORM_ORG, "admin")).status_code == 201
    client.headers["X-Test-Suffix"] = suffix
    return client, clock


def in_force(client: TestClient, auth: Auth, **changes: Any) -> str:
    suffix = client.headers["X-Test-Suffix"]
    csss, regional = f"{CSSS}-{suffix}", f"{REGIONAL}-{suffix}"
    body = service_108(parties=[csss, regional], **changes)
    agreement = client.post("/v1/agreements", json=body, headers=auth(csss, "coordinator")).json()
    for party in (csss, regional):
        client.post(f"/v1/agreements/{agreement['id']}/sign", headers=auth(party, "coordinator"))
    return str(agreement["id"])


def test_accepted_referrals_from_kafka_are_counted_once_and_thresholds_published(
    service: tuple[TestClient, ManualClock], kafka_bootstrap: str, auth: Auth
) -> None:
    client, _ = service
    suffix = client.headers["X-Test-Suffix"]
    agreement_id = in_force(
        client, auth, start="2026-01-01", volumes=[{"service": "SPECIALISED_SERVICES", "per_year": 4}]
    )
    times = [datetime(2026, 11, 25, 16, tzinfo=UTC) + timedelta(hours=h) for h in (3, 1, 2, 0, 5)]
    parties = {"from_org": f"{CSSS}-{suffix}", "to_org": f"{REGIONAL}-{suffix}"}  # the agreement covers them
    referrals = [accepted(f"r-{suffix}-{n}", at, agreement_id, **parties) for n, at in enumerate(times)]
    copies = [referrals[0], referrals[1], referrals[0], referrals[2], referrals[1], referrals[3], referrals[3]]
    publisher = KafkaPublisher(kafka_bootstrap, "agreements-test")
    try:
        publisher.publish([Outgoing(topics.REFERRAL, e.data["referral_id"], e) for e in copies])
        publisher.send_raw(topics.REFERRAL, f"poison-{suffix}".encode(), b"not a cloud event", [])
        publisher.publish([Outgoing(topics.REFERRAL, referrals[4].data["referral_id"], referrals[4])])
    finally:
        publisher.close()

    def used() -> int:
        party = auth(f"{CSSS}-{suffix}", "auditor")  # volumes: to the agreement's parties
        lines = client.get(f"/v1/agreements/{agreement_id}/volumes", headers=party).json()
        return int(lines[0]["used"])

    wait_for(lambda: used() == 5, timeout=60)
    wait_for(lambda: len(published_about(kafka_bootstrap, agreement_id)) >= len(EXPECTED), timeout=60)
    time.sleep(1.0)  # let any further (wrong) count or event show up
    dead = read_topic(kafka_bootstrap, topics.REFERRAL + ".dlq")
    assert used() == 5
    assert published_about(kafka_bootstrap, agreement_id) == EXPECTED
    assert [record.key for record, _ in dead].count(f"poison-{suffix}".encode()) == 1


COUNTED = "referral-counted"
EXPECTED = [
    *("drafted", "signed", "signed", "activated"),
    *[COUNTED] * 4,
    *("volume-threshold-reached", "volume-exceeded", COUNTED),
]
"""In order: one key (the agreement id) keeps its events in one partition. Each referral counted once (five), the
fourth reaching 80 % and 100 % of the four a year."""


def published_about(bootstrap: str, agreement_id: str) -> list[str]:
    records = read_topic(bootstrap, topics.AGREEMENTS)
    return [e.type.split(".")[-2] for _, e in records if e is not None and e.subject == agreement_id]


def test_scheduler_activates_at_the_start_date_and_the_relay_publishes_it(
    service: tuple[TestClient, ManualClock], kafka_bootstrap: str, auth: Auth
) -> None:
    client, clock = service
    agreement_id = in_force(client, auth)  # starts 2027-01-01

    def status() -> str:
        return str(client.get(f"/v1/agreements/{agreement_id}", headers=auth(CSSS, "auditor")).json()["status"])

    signed = status()
    clock.now = datetime(2027, 1, 1, 5, 0, 1, tzinfo=UTC)
    wait_for(lambda: status() == "ACTIVE", timeout=10)

    def activation() -> Any:
        found = [e for _, e in read_topic(kafka_bootstrap, topics.AGREEMENTS) if e and e.subject == agreement_id]
        return next((e for e in found if e.type == "ca.qc.rls.agreements.activated.v1"), None)

    event = wait_for(activation, timeout=60)
    assert signed == "SIGNED"
    assert event.data["occurred_at"] == "2027-01-01T00:00:00-05:00" and event.data["status"] == "ACTIVE"
