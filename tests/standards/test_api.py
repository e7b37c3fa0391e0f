"""The board's API over a board view filled directly (no broker): who reads which rows, filters, CSV, call reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.auth import PLATFORM_ORG
from services.common.kafka import Outgoing
from services.contract.standards_events import HoursInForceV1
from services.standards.access import POLICY
from services.standards.bounds import Period
from services.standards.domain import CallMark, CallRowKey, RowKey
from services.standards.main import build_app
from services.standards.settings import StandardsSettings
from services.standards.state import HOURS_IN_FORCE, BoardState, Publication
from services.standards.worker import encoded
from tests.access_matrix import granted, mismatches

Auth = Callable[..., dict[str, str]]


@dataclass
class FakePublisher:
    sent: list[Outgoing] = field(default_factory=list)

    def publish(self, messages: list[Outgoing]) -> None:
        self.sent += messages

    def close(self) -> None:
        return None


@pytest.fixture
def board(service_settings: Callable[..., Any], client_for: Callable[..., TestClient]) -> tuple[TestClient, Any]:
    app = build_app(service_settings(StandardsSettings))
    app.state.publisher = FakePublisher()
    app.state.today = lambda: date(2026, 3, 10)
    state = BoardState(app.state.settings.bounds())
    for org, day, met in (("org-a", "2026-03-02", True), ("org-a", "2026-03-02", False), ("org-b", "2026-03-05", True)):
        for period, label in ((Period.DAY, day), (Period.MONTH, day[:7])):
            state.dirty |= state.board.replace([], [(RowKey(org, "AAOR", "AAOR_CALLBACK", period, label), met)])
    state.dirty |= state.calls.replace(
        [], [(CallRowKey("03", Period.DAY, "2026-03-02"), CallMark("ANSWERED", 30, True))]
    )
    view = app.state.queries.view
    for publication in state.take():
        view.apply(publication.key.encode(), *encoded(publication, datetime.now(UTC)))
    view.caught_up.set()
    return client_for(app), app


def rows(client: TestClient, auth: Auth, query: str, org: str = "org-a", role: str = "coordinator") -> Any:
    response = client.get(f"/v1/board?{query}", headers=auth(org, role))
    return response.status_code, response.json()


def test_an_organisation_reads_its_own_rows_and_a_network_auditor_every_one(
    board: tuple[TestClient, Any], auth: Auth
) -> None:
    client, _ = board
    status, body = rows(client, auth, "period=DAY")
    assert status == 200
    assert [(r["org"], r["bucket"], r["total"], r["met"], r["pct_met"]) for r in body] == [
        ("org-a", "2026-03-02", 2, 1, 50.0)
    ]
    assert rows(client, auth, "org=org-b")[0] == 403
    status, body = rows(client, auth, "period=MONTH", role="network-auditor")
    assert [(r["org"], r["bucket"], r["total"]) for r in body] == [("org-a", "2026-03", 2), ("org-b", "2026-03", 1)]
    status, body = rows(client, auth, "org=org-b&period=DAY&from=2026-03-03T00:00:00-05:00", role="network-auditor")
    assert [r["bucket"] for r in body] == ["2026-03-05"]
    assert rows(client, auth, "period=DAY&standard=AAOR_ANALYSIS") == (200, [])


def test_a_telephony_system_reads_its_own_rows_and_only_a_platform_service_every_one(
    board: tuple[TestClient, Any], auth: Auth
) -> None:
    """Role `service` is an establishment's telephony system too (it reports calls): it reads its own organisation's
    rows, like its workers. Only the platform's own services (organisation `rls-platform`) read every one's."""
    client, _ = board
    assert rows(client, auth, "org=org-b&period=DAY", role="service")[0] == 403
    status, body = rows(client, auth, "period=DAY", role="service")
    assert (status, {r["org"] for r in body}) == (200, {"org-a"})
    status, body = rows(client, auth, "period=DAY", org=PLATFORM_ORG, role="service")
    assert (status, {r["org"] for r in body}) == (200, {"org-a", "org-b"})


def test_the_board_answers_every_role_of_every_organisation_as_the_policy_says(
    board: tuple[TestClient, Any], auth: Auth
) -> None:
    client, _ = board
    for operation, path in (("board", "/v1/board"), ("board_csv", "/v1/board.csv")):

        def probe(org: str, role: str, path: str = path) -> bool:
            return granted(client.get(f"{path}?org=org-b&period=DAY", headers=auth(org, role)), {200})

        assert mismatches(POLICY, operation, {"org": "org-b"}, probe) == []


def test_the_csv_export_has_the_same_rows(board: tuple[TestClient, Any], auth: Auth) -> None:
    client, _ = board
    response = client.get("/v1/board.csv?period=DAY", headers=auth("org-a", "auditor"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == [
        "org,service,standard,period,bucket,total,met,breached,pct_met",
        "org-a,AAOR,AAOR_CALLBACK,DAY,2026-03-02,2,1,1,50.0",
    ]


def test_hours_rows_are_counted_for_the_days_asked_up_to_today(board: tuple[TestClient, Any], auth: Auth) -> None:
    client, app = board
    always = [{"day": d, "opens": "00:00", "closes": "24:00", "channels": ["PHONE"]} for d in ("MON", "TUE", "WED")]
    schedule = {"org_id": "org-a", "service": "CRISIS_24_7", "weekly": always, "effective_from": "2026-03-02",
                "occurred_at": "2026-03-01T12:00:00Z"}  # fmt: skip
    record = HoursInForceV1.model_validate({"org_id": "org-a", "service": "CRISIS_24_7", "schedules": [schedule]})
    publication = Publication("hours|org-a|CRISIS_24_7", HOURS_IN_FORCE, record)
    app.state.queries.view.apply(publication.key.encode(), *encoded(publication, datetime.now(UTC)))
    _, body = rows(client, auth, "period=MONTH&standard=HOURS_24_7")  # March 2-10: Mondays to Wednesdays covered
    assert [(r["bucket"], r["total"], r["met"], r["breached"]) for r in body] == [
        ("2026-03", 9, 5, 4)
    ]  # Mon-Wed covered, twice
    _, body = rows(client, auth, "period=DAY&standard=HOURS_24_7&to=2026-03-04T00:00:00-05:00")
    assert [(r["bucket"], r["met"]) for r in body] == [("2026-03-02", 1), ("2026-03-03", 1)]


def test_an_organisation_offering_a_service_without_hours_has_every_day_breached(
    board: tuple[TestClient, Any], auth: Auth
) -> None:
    client, app = board
    record = HoursInForceV1.model_validate(
        {"org_id": "org-a", "service": "INFO_SOCIAL", "schedules": [], "offered_from": "2026-03-04"}
    )
    publication = Publication("hours|org-a|INFO_SOCIAL", HOURS_IN_FORCE, record)
    app.state.queries.view.apply(publication.key.encode(), *encoded(publication, datetime.now(UTC)))
    query = "period=DAY&service=INFO_SOCIAL&from=2026-03-02T00:00:00-05:00&to=2026-03-07T00:00:00-05:00"
    _, body = rows(client, auth, query)
    assert [(r["bucket"], r["met"], r["breached"]) for r in body] == [
        ("2026-03-04", 0, 1), ("2026-03-05", 0, 1), ("2026-03-06", 0, 1),
    ]  # fmt: skip


def test_without_from_the_board_answers_the_last_13_months(board: tuple[TestClient, Any], auth: Auth) -> None:
    """Registered in January 2024, no hours declared; today is 10 March 2026. Without `from`, March 2025 to March
    2026 (hours days are never counted since the registration on every read); `from` reaches further back, and
    without `from` a `to` ends the 13 months."""
    client, app = board
    record = HoursInForceV1.model_validate(
        {"org_id": "org-a", "service": "INFO_SOCIAL", "schedules": [], "offered_from": "2024-01-15"}
    )
    publication = Publication("hours|org-a|INFO_SOCIAL", HOURS_IN_FORCE, record)
    app.state.queries.view.apply(publication.key.encode(), *encoded(publication, datetime.now(UTC)))
    _, body = rows(client, auth, "period=MONTH&service=INFO_SOCIAL")
    assert [r["bucket"] for r in body] == [f"2025-{m:02}" for m in range(3, 13)] + ["2026-01", "2026-02", "2026-03"]
    assert (body[-1]["total"], body[-1]["breached"]) == (10, 10)
    _, body = rows(client, auth, "period=MONTH&service=INFO_SOCIAL&from=2000-01-01T00:00:00-05:00")
    assert (len(body), body[0]["bucket"], body[0]["total"]) == (27, "2024-01", 17)
    _, body = rows(client, auth, "period=MONTH&service=INFO_SOCIAL&to=2025-01-01T00:00:00-05:00")
    assert [r["bucket"] for r in body] == [f"2024-{m:02}" for m in range(1, 13)]
    _, body = rows(client, auth, "period=DAY&standard=AAOR_CALLBACK")  # stored rows: the same window
    assert [r["bucket"] for r in body] == ["2026-03-02"]


def test_info_social_rows_by_region(board: tuple[TestClient, Any], auth: Auth) -> None:
    client, _ = board
    response = client.get("/v1/board/infosocial?region=03&period=DAY", headers=auth("org-b", "intake"))
    assert response.status_code == 200
    [row] = response.json()
    assert (row["offered"], row["answered_within_240s"], row["pct_within_240s"], row["p90_wait_s"]) == (1, 1, 100.0, 30)
    assert client.get("/v1/board/infosocial?period=HOUR", headers=auth("org-b", "intake")).json() == []


CALL = {"call_id": "tel-1", "region": "03", "offered_at": "2026-03-02T14:00:00Z", "anonymous": True}


def test_calls_are_published_keyed_by_region_and_bad_ones_name_their_field(
    board: tuple[TestClient, Any], auth: Auth
) -> None:
    client, app = board
    answered = {**CALL, "call_id": "tel-2", "answered_at": "2026-03-02T14:02:00Z"}
    response = client.post("/v1/infosocial/calls", json={"calls": [CALL, answered]}, headers=auth("csss-a", "service"))
    assert response.status_code == 202 and response.json() == {"accepted": 2}
    sent = app.state.publisher.sent
    assert [(m.topic, m.key, m.event.data["call_id"]) for m in sent] == [
        ("rls.infosocial.calls.v1", "03", "tel-1"),
        ("rls.infosocial.calls.v1", "03", "tel-2"),
    ]
    client.post("/v1/infosocial/calls", json={"calls": [CALL]}, headers=auth("csss-a", "service"))
    assert sent[2].event.id == sent[0].event.id  # the same report again: the same CloudEvent id
    early = {**CALL, "answered_at": "2026-03-02T13:00:00Z"}
    both = {**CALL, "answered_at": "2026-03-02T14:01:00Z", "abandoned_at": "2026-03-02T14:02:00Z"}
    response = client.post("/v1/infosocial/calls", json={"calls": [early, both]}, headers=auth("csss-a", "service"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"calls.0.answered_at", "calls.1.abandoned_at"}
    assert "13:00" not in response.text  # values are never echoed
    denied = client.post("/v1/infosocial/calls", json={"calls": [CALL]}, headers=auth("csss-a", "intake"))
    assert denied.status_code == 403


def test_the_board_answers_503_until_its_topic_is_read(board: tuple[TestClient, Any], auth: Auth) -> None:
    client, app = board
    app.state.queries.view.caught_up.clear()
    response = client.get("/v1/board", headers=auth("org-a", "coordinator"))
    assert response.status_code == 503
    assert response.json()["type"] == "urn:ca.qc.rls:problem:not-ready"


def test_metrics_show_board_requests_by_route_template_never_by_organisation(
    board: tuple[TestClient, Any], auth: Auth
) -> None:
    client, _ = board
    assert rows(client, auth, "org=org-a&period=DAY")[0] == 200
    text = client.get("/metrics").text
    assert 'rls_http_request_duration_seconds_count{method="GET",route="/v1/board",status="200"} 1.0' in text
    assert "org-a" not in text


@pytest.mark.parametrize("query", ["to=0001-01-05T00:00:00Z", "to=0001-01-01T00:00:00Z", "from=9999-12-31T23:00:00Z"])
@pytest.mark.parametrize("path", ["/v1/board", "/v1/board.csv"])
def test_a_period_beyond_the_calendar_is_a_422_naming_it(
    board: tuple[TestClient, Any], auth: Auth, path: str, query: str
) -> None:
    """The default window (13 months before `to`) fell before year 1: a 500."""
    client, _ = board
    response = client.get(f"{path}?{query}", headers=auth("org-a", "coordinator"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == query.split("=")[0]
