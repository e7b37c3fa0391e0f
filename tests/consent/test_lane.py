"""The decision lane answers plain decisions and disclosures exactly as the routes would, and leaves every other
request to them: two services on one store, one with the lane and one without, are asked the same things."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.concurrency import run_in_threadpool

from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from services.common.tracing import traced
from services.consent import api, lane
from services.consent.lane import DecisionLane
from services.consent.main import build_app
from services.consent.settings import ConsentSettings
from services.contract.codes import OrgKind
from tests.consent.conftest import DISCLOSER, PINNED, RECIPIENT, SUBJECT, T0, organisation_event
from tests.consent.test_api import ASK, CONSENT, _observe

Auth = Callable[..., dict[str, str]]
Pair = tuple[TestClient, TestClient]

DANGER = {
    "act": "SUICIDE",
    "risk": "DEATH",
    "at_risk": "USER",
    "urgent": True,
    "recipient_role": "HELPER",
    "authorised_by": "DSP-DIR-1",
}
REPRESENTATIVE = {
    "requester_role": "CURATOR",
    "representation": {"mandate_ref": "500-14-000777-251", "categories": ["IDENTIFICATION", "CONTACT"]},
}
"""A curator asks for the record (art. 22), stating what exercising the curatorship requires."""
PLAIN = [
    ("consent covers part", {}, {}),
    ("in English", {"lang": "en"}, {}),
    ("Accept-Language", {}, {"Accept-Language": "en-CA,en;q=0.8"}),
    ("nothing consented", {"categories": ["ASSESSMENT"]}, {}),
    ("danger", {"purpose": "EMERGENCY", "context": {"danger_assessment": DANGER}}, {}),
    ("a deceased person", {"context": {"subject_deceased_on": "2026-11-20", "requester_role": "SPOUSE"}}, {}),
    (
        "a minor",
        {
            "purpose": "USER_REQUESTED_TRANSFER",
            "subject_birth_date": "2012-03-04",
            "context": {"minor": {"youth_protection_intervention": False}, "requester_role": "PARENT"},
        },
        {},
    ),
    ("dated a few minutes back", {"at": "2026-11-25T09:57:00-05:00"}, {}),
    ("a representative", {"purpose": "USER_REQUESTED_TRANSFER", "context": REPRESENTATIVE}, {}),
    (
        "a representative stating nothing",
        {"purpose": "USER_REQUESTED_TRANSFER", "context": {"requester_role": "CARE_SUBSTITUTE"}},
        {},
    ),
]
PAST = {"at": "2026-11-20T12:00:00-05:00"}
"""A past moment: a decision may be asked as of it; a disclosure, which happens now, may not (both paths refuse)."""
ASKED = [(path, *case) for path in ("/v1/decisions", "/v1/disclosures") for case in PLAIN]
ASKED.append(("/v1/decisions", "a decision dated in the past", PAST, {}))
VARYING = {"decision_id", "register_entry_id"}


@pytest.fixture
def pair(
    tmp_path: Any, service_settings: Callable[..., Any], client_for: Callable[[FastAPI], TestClient], clock: ManualClock
) -> Pair:
    """The service with its lane and the same service without it, on one SQLite store (one clock, one key)."""
    store = f"sqlite:///{tmp_path / 'events.db'}"

    def service(lane: bool) -> TestClient:
        app = build_app(service_settings(ConsentSettings, regime=PINNED, event_store=store), clock=clock)
        if not lane:
            app.user_middleware[:] = [m for m in app.user_middleware if not _is_lane(m.cls)]
        return client_for(app)

    with_lane, without = service(True), service(False)
    _observe(with_lane, organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=30)))
    return with_lane, without


def _is_lane(middleware: object) -> bool:
    return middleware is DecisionLane


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The application calls the routes made from now on (the lane's own calls are not among them)."""
    calls: list[str] = []

    async def spy(call: Callable[..., Any], *args: Any) -> Any:
        calls.append(call.__name__)
        return await run_in_threadpool(call, *args)

    monkeypatch.setattr(api, "run_in_threadpool", spy)
    return calls


@pytest.mark.parametrize(("path", "case", "change", "extra"), ASKED, ids=[f"{c}-{p}" for p, c, _, _ in ASKED])
def test_the_lane_answers_a_plain_request_with_the_routes_bytes(
    pair: Pair, auth: Auth, routed: list[str], path: str, case: str, change: dict[str, Any], extra: dict[str, str]
) -> None:
    with_lane, without = pair
    intake = {**auth(DISCLOSER, "intake"), **extra}
    assert with_lane.post("/v1/consents", json=CONSENT, headers=intake).status_code == 201
    body = {**ASK, **change}
    lane = with_lane.post(path, json=body, headers={**intake, "Idempotency-Key": "one"})
    assert routed == [], "the lane answered"
    route = without.post(path, json=body, headers={**intake, "Idempotency-Key": "two"})
    assert routed == [path.removeprefix("/v1/").replace("decisions", "decide").replace("disclosures", "disclose")]
    assert (lane.status_code, route.status_code) == (200, 200), (lane.text, route.text)
    assert lane.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert {k: v for k, v in lane.json().items() if k not in VARYING} == {
        k: v for k, v in route.json().items() if k not in VARYING
    }
    # each replays the other's decision, byte for byte
    for answered, replayed in [
        (lane, without.post(path, json=body, headers={**intake, "Idempotency-Key": "one"})),
        (route, with_lane.post(path, json=body, headers={**intake, "Idempotency-Key": "two"})),
    ]:
        assert replayed.content == answered.content
        assert replayed.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in answered.headers


def test_the_lane_answers_a_recipients_preview_with_the_routes_bytes(pair: Pair, auth: Auth, routed: list[str]) -> None:
    """A decision the recipient asks for itself reads none of the discloser's records (the discloser's consent here),
    whichever path answers it."""
    with_lane, without = pair
    assert with_lane.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake")).status_code == 201
    recipient = auth(RECIPIENT, "intake")
    lane = with_lane.post("/v1/decisions", json=ASK, headers={**recipient, "Idempotency-Key": "one"})
    assert routed == [], "the lane answered"
    route = without.post("/v1/decisions", json=ASK, headers={**recipient, "Idempotency-Key": "two"})
    assert routed == ["decide"]
    assert (lane.status_code, route.status_code) == (200, 200), (lane.text, route.text)
    assert {k: v for k, v in lane.json().items() if k not in VARYING} == {
        k: v for k, v in route.json().items() if k not in VARYING
    }
    assert lane.json()["outcome"] == "DENY" and lane.json()["basis"] == []


def _refusals(auth: Auth) -> list[tuple[str, str, dict[str, str], bytes]]:
    intake = {**auth(DISCLOSER, "intake"), "Content-Type": "application/json"}
    service = {**auth(PLATFORM_ORG, "service"), "Content-Type": "application/json"}
    ask = json.dumps(ASK).encode()
    danger_flag = json.dumps({**ASK, "purpose": "EMERGENCY", "context": {"danger": True}}).encode()
    spouse = {**REPRESENTATIVE, "requester_role": "SPOUSE"}
    not_represented = json.dumps({**ASK, "purpose": "USER_REQUESTED_TRANSFER", "context": spouse}).encode()
    return [
        ("no token", "/v1/decisions", {"Content-Type": "application/json"}, ask),
        ("not a token", "/v1/decisions", {**intake, "Authorization": "Bearer not-a-token"}, ask),
        ("another scheme", "/v1/decisions", {**intake, "Authorization": "Basic dXNlcjpwYXNz"}, ask),
        (
            "a role not admitted",
            "/v1/disclosures",
            {**auth(DISCLOSER, "auditor"), "Content-Type": "application/json"},
            ask,
        ),
        (
            "a third organisation",
            "/v1/decisions",
            {**auth("org-nobody", "intake"), "Content-Type": "application/json"},
            ask,
        ),
        ("an invalid body", "/v1/decisions", intake, json.dumps({**ASK, "purpose": "CURIOSITY"}).encode()),
        ("not JSON", "/v1/decisions", intake, b"subject_id=S-000123"),
        ("JSON as text", "/v1/decisions", {**intake, "Content-Type": "text/plain"}, ask),
        ("a duplicated key", "/v1/decisions", intake, b'{"purpose": "REFERRAL", ' + ask[1:]),
        ("a key too long", "/v1/decisions", {**intake, "Idempotency-Key": "k" * 201}, ask),
        ("an empty requester token", "/v1/disclosures", {**intake, "Requester-Token": ""}, ask),
        ("a service without a requester", "/v1/disclosures", service, ask),
        ("a disclosure to come", "/v1/disclosures", intake, json.dumps({**ASK, "at": "2026-11-26T15:00:00Z"}).encode()),
        ("a disclosure dated in the past", "/v1/disclosures", intake, json.dumps({**ASK, **PAST}).encode()),
        ("a bare danger flag asked", "/v1/decisions", intake, danger_flag),
        ("a bare danger flag disclosed", "/v1/disclosures", intake, danger_flag),
        ("a representation stated by a spouse", "/v1/decisions", intake, not_represented),
        ("a representation disclosed to a spouse", "/v1/disclosures", intake, not_represented),
    ]


def test_what_the_lane_does_not_answer_the_routes_answer_unchanged(pair: Pair, auth: Auth) -> None:
    with_lane, without = pair
    for case, path, headers, content in _refusals(auth):
        lane = with_lane.post(path, content=content, headers=headers)
        route = without.post(path, content=content, headers=headers)
        assert lane.status_code == route.status_code and lane.status_code >= 400, (case, lane.text)
        assert lane.content == route.content, case
        assert lane.headers["content-type"] == "application/problem+json", case
    assert (
        with_lane.get("/v1/register", params={"subject_id": SUBJECT}, headers=auth(DISCLOSER, "intake")).json()["items"]
        == []
    )


def test_the_lane_and_the_route_refuse_invalid_terms_alike_on_both_paths(pair: Pair, auth: Auth) -> None:
    """The domain's refusal of terms: one problem, the same bytes from the lane and the route, for a decision as for
    a disclosure (they answered in two shapes)."""
    with_lane, without = pair
    body = {**ASK, "purpose": "EMERGENCY", "context": {"danger": True}}
    answers = [
        client.post(path, json=body, headers=auth(DISCLOSER, "intake")).json()
        for path in ("/v1/decisions", "/v1/disclosures")
        for client in (with_lane, without)
    ]
    assert {a.pop("instance") for a in answers} == {"/v1/decisions", "/v1/disclosures"}
    assert all(a == answers[0] for a in answers), answers
    assert answers[0]["field"] == "context.danger_assessment"


def test_a_domain_error_in_the_lane_is_answered_by_the_route(pair: Pair, auth: Auth, routed: list[str]) -> None:
    """An idempotency key reused for another request: the lane's call raises, the route raises it again (nothing was
    recorded) and maps it."""
    with_lane, _ = pair
    intake = {**auth(DISCLOSER, "intake"), "Idempotency-Key": "k-1"}
    assert with_lane.post("/v1/decisions", json=ASK, headers=intake).status_code == 200
    assert routed == []
    reused = with_lane.post("/v1/decisions", json={**ASK, "recipient_org_id": "org-gamma"}, headers=intake)
    assert reused.status_code == 409 and reused.json()["type"].endswith(":idempotency-key-reused"), reused.text
    assert routed == ["decide"]


def test_the_lane_is_measured_under_its_route(pair: Pair, auth: Auth) -> None:
    with_lane, _ = pair
    assert with_lane.post("/v1/decisions", json=ASK, headers=auth(DISCLOSER, "intake")).status_code == 200
    metrics = with_lane.get("/metrics").text
    assert 'rls_http_request_duration_seconds_count{method="POST",route="/v1/decisions",status="200"} 1.0' in metrics
    assert RECIPIENT not in metrics and SUBJECT not in metrics


def test_a_decision_the_lane_answers_keeps_the_requests_trace(
    pair: Pair, auth: Auth, routed: list[str], spans: InMemorySpanExporter
) -> None:
    with_lane, _ = pair
    headers = {**auth(DISCLOSER, "intake"), "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert with_lane.post("/v1/decisions", json=ASK, headers=headers).status_code == 200
    assert routed == []
    (server,) = [s for s in spans.get_finished_spans() if s.name == "POST /v1/decisions"]
    assert server.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    consents: Any = with_lane.app.state.application  # type: ignore[attr-defined]
    (decision,) = [n for n in consents.recorder.select_notifications(start=1, limit=50) if "Decision" in n.topic]
    parent = traced(consents.mapper, decision)[1]
    assert parent is not None and f"{server.context.trace_id:032x}" in parent


def test_on_a_store_read_over_the_network_the_lane_decides_on_the_thread_pool(
    pair: Pair, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process (SQLite) the decision is made on the loop; on a database over the network its reads would stall
    the loop, so it goes to the thread pool. Both answer the same."""
    with_lane, _ = pair
    consents: Any = with_lane.app.state.application  # type: ignore[attr-defined]
    pooled: list[str] = []

    async def spy(call: Callable[..., Any], *args: Any) -> Any:
        pooled.append(call.__name__)
        return await run_in_threadpool(call, *args)

    monkeypatch.setattr(lane, "run_in_threadpool", spy)
    intake = auth(DISCLOSER, "intake")
    assert consents.reads_in_process
    on_loop = with_lane.post("/v1/decisions", json=ASK, headers=intake)
    assert pooled == []
    monkeypatch.setattr(consents, "reads_in_process", False)
    pooled_answer = with_lane.post("/v1/decisions", json=ASK, headers=intake)
    assert pooled == ["decide"]
    assert (on_loop.status_code, pooled_answer.status_code) == (200, 200)
    assert {k: v for k, v in on_loop.json().items() if k not in VARYING} == {
        k: v for k, v in pooled_answer.json().items() if k not in VARYING
    }
