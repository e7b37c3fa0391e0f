"""From the producers' APIs to the board's API, on the real broker: a referral's meetings recorded through the referral
service's API and an organisation's hours declared through the agreements service's API are published as their own
outboxes map them, consumed by the faust worker, and read back through `GET /v1/board`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.agreements.main import build_app as agreements_app
from services.agreements.main import outbox as agreements_outbox
from services.agreements.settings import AgreementsSettings
from services.common.auth import PLATFORM_ORG
from services.common.kafka import Outgoing
from services.referral.main import build_app as referral_app
from services.referral.main import outbox as referral_outbox
from services.referral.ports import Gateways
from services.referral.settings import ReferralSettings
from services.standards.main import build_app as standards_app
from services.standards.settings import StandardsSettings
from tests.referral.fakes import FakeDirectory, FakeGate
from tests.standards.harness import BoardTopics, fresh_topics, publish, worker

pytestmark = pytest.mark.integration

Auth = Callable[..., dict[str, str]]
Settings = Callable[..., Any]
Client = Callable[[FastAPI], TestClient]
ZONE_SETTINGS = StandardsSettings()
RECEIVER = "org-b"


def published(app: FastAPI, mapping: Any, topic: str) -> list[Outgoing]:
    """What the service's relay publishes from its store (its own outbox mapping), on the test's topic."""
    application = app.state.application
    notifications = application.recorder.select_notifications(start=1, limit=10_000)
    return [
        Outgoing(topic, m.key, m.event) for n in notifications for m in mapping(application.mapper.to_domain_event(n))
    ]


def referral_with_meetings(settings: Settings, client_for: Client, auth: Auth, topics: BoardTopics) -> list[Outgoing]:
    """An AAOR referral, received, accepted, first contacted, then four meetings: the fourth goes past 3."""
    app = referral_app(settings(ReferralSettings))
    app.state.gateways = lambda token: Gateways(FakeDirectory(), FakeGate())
    client = client_for(app)
    body = {
        "subject_id": "S-E2E-1", "from_org": "csss-a", "from_service": "AAOR", "to_org": RECEIVER,
        "to_service": "AAOR", "channel": "IN_PERSON", "urgency": "ROUTINE", "reason_code": "FAMILY_CRISIS",
    }  # fmt: skip
    rid = client.post("/v1/referrals", json=body, headers=auth("csss-a", "intake")).json()["id"]
    for command in ("receive", "accept", "first-contact"):
        assert client.post(f"/v1/referrals/{rid}/{command}", headers=auth(RECEIVER, "clinician")).status_code == 200
    for n in range(4):
        response = client.post(
            f"/v1/referrals/{rid}/meetings",
            json={"mode": "IN_PERSON"},
            headers=auth(RECEIVER, "clinician") | {"Idempotency-Key": f"meeting-{n}"},
        )
        assert response.status_code == 200, response.text
    return published(app, referral_outbox(app.state.application, "http://referral.test"), topics.referral)


def declared_hours(
    settings: Settings, client_for: Client, auth: Auth, topics: BoardTopics, monday: str
) -> list[Outgoing]:
    """The receiver's AAOR hours: 70 hours a week by phone and in person, evenings and Saturday included; its crisis
    line 24/7."""
    client = client_for(agreements_app(settings(AgreementsSettings)))
    organisation = {
        "id": RECEIVER,
        "name": "B",
        "kind": "CSSS",
        "territory": "Nord",
        "services": ["AAOR", "CRISIS_24_7"],
    }
    assert client.post("/v1/organisations", json=organisation, headers=auth(PLATFORM_ORG, "admin")).status_code == 201
    channels = ["PHONE", "IN_PERSON"]
    weekdays = ("MON", "TUE", "WED", "THU", "FRI")
    weekly = [{"day": d, "opens": "08:00", "closes": "21:00", "channels": channels} for d in weekdays]
    weekly.append({"day": "SAT", "opens": "09:00", "closes": "14:00", "channels": channels})
    response = client.put(
        f"/v1/organisations/{RECEIVER}/services/AAOR/hours",
        json={"weekly": weekly, "effective_from": monday},
        headers=auth(RECEIVER, "coordinator"),
    )
    assert response.status_code == 200, response.text
    always = [{"day": d, "opens": "00:00", "closes": "24:00", "channels": ["PHONE"]} for d in (*weekdays, "SAT", "SUN")]
    response = client.put(
        f"/v1/organisations/{RECEIVER}/services/CRISIS_24_7/hours",
        json={"weekly": always, "effective_from": monday},
        headers=auth(RECEIVER, "coordinator"),
    )
    assert response.status_code == 200, response.text
    app: Any = client.app
    return published(app, agreements_outbox(app.state.application), topics.agreements)


def test_meetings_and_hours_from_the_producers_apis_reach_the_board_api(
    kafka_bootstrap: str, tmp_path: Path, service_settings: Settings, client_for: Client, auth: Auth
) -> None:
    topics = fresh_topics(kafka_bootstrap)
    today = datetime.now(ZONE_SETTINGS.zone).date()
    monday = today - timedelta(days=today.weekday())
    records = referral_with_meetings(service_settings, client_for, auth, topics)
    assert any(r.event.type.endswith("duration-exceeded.v1") for r in records)
    records += declared_hours(service_settings, client_for, auth, topics, monday.isoformat())
    publish(kafka_bootstrap, records)
    board = client_for(
        standards_app(
            service_settings(
                StandardsSettings,
                KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
                consumers_enabled=True,
                worker_enabled=False,
                board_topic=topics.board,
                app_id=f"e2e-api-{topics.prefix}",
            )
        )
    )
    query = {
        "org": RECEIVER,
        "period": "DAY",
        "from": datetime.combine(monday, dt_time(0), ZONE_SETTINGS.zone).isoformat(),
    }
    rows: dict[str, dict[str, Any]] = {}
    with worker(kafka_bootstrap, topics, tmp_path) as process:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not {"AAOR_MEETINGS", "AAOR_HOURS_PHONE", "HOURS_24_7"} <= set(rows):
            time.sleep(1)
            response = board.get("/v1/board", params=query, headers=auth(RECEIVER, "coordinator"))
            if response.status_code == 200:
                rows = {r["standard"]: r for r in response.json() if r["bucket"] == today.isoformat()}
    assert "AAOR_MEETINGS" in rows, (response.status_code, response.text[:2000], process.log.read_text()[-3000:])
    meetings = rows["AAOR_MEETINGS"]
    assert (meetings["total"], meetings["met"], meetings["breached"]) == (1, 0, 1)
    assert (rows["HOURS_24_7"]["total"], rows["HOURS_24_7"]["met"]) == (1, 1)
    # Declared today from Monday: the days before today count as recorded then (no hours), so this week offers 70
    # hours only if today is its Monday.
    for standard in ("AAOR_HOURS_PHONE", "AAOR_HOURS_IN_PERSON"):
        assert (rows[standard]["total"], rows[standard]["met"]) == (1, int(today.weekday() == 0))
