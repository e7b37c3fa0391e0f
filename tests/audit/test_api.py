"""The audit service's REST API: read-only, role `auditor`, every query recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.audit.application import AuditQueries, IntegrityAnswer
from services.audit.main import build_app
from services.audit.recheck import ConsentEvaluator
from services.audit.settings import AuditSettings
from services.common.clock import ManualClock
from services.common.envelope import CloudEvent
from services.common.kafka import Outgoing
from services.consent.main import build_app as build_consent
from services.consent.settings import ConsentSettings
from services.contract.consent_events import ConsentRecordedV1
from services.runtime.registry import event_stores
from tests.audit.conftest import Auth, ingest
from tests.conftest import free_port

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
CONSENT_ID = "c0000000-0000-4000-8000-000000000001"

ENDPOINTS = [
    "/v1/referrals/r-1/state",
    "/v1/agreements/a-1/state",
    f"/v1/consents/{CONSENT_ID}/state",
    "/v1/integrity?service=referral",
    "/v1/integrity/acknowledgements",
    "/v1/decisions/recheck",
    "/v1/reports/compliance",
    "/v1/replay",
    "/v1/inquiries",
]


def consent_recorded(occurred_at: datetime) -> Outgoing:
    data = ConsentRecordedV1(
        consent_id=CONSENT_ID,
        subject_id="S-AUDIT-03",
        grantor_role="SELF",
        age_band_at_start="ADULT",
        method="WRITTEN",
        purposes=["REFERRAL"],
        recipient_org_ids=["org-b"],
        recipient_kinds=[],
        categories=["CONTACT"],
        valid_from=datetime(2026, 11, 1, tzinfo=UTC),
        recorded_by_org="csss-a",
        occurred_at=occurred_at,
    )
    event = CloudEvent(
        id="e-consent-1",
        source="/rls/consent",
        type="ca.qc.rls.consent.recorded.v1",
        time=occurred_at,
        data=data.model_dump(mode="json"),
    )
    return Outgoing("rls.consent.v1", CONSENT_ID, event)


@pytest.fixture
def api(
    audit_settings: Callable[..., AuditSettings],
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
) -> TestClient:
    app = build_app(
        audit_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", kafka_timeout_s=0.5),
        clock=ManualClock(NOW),
        stores=event_stores,
    )
    consent = TestClient(build_consent(service_settings(ConsentSettings), clock=ManualClock(NOW)))

    def evaluator_for(token: str) -> ConsentEvaluator:
        consent.headers["Authorization"] = f"Bearer {token}"
        return ConsentEvaluator(consent)

    app.state.evaluator_factory = evaluator_for
    queries: AuditQueries = app.state.queries
    ingest(queries.history, [consent_recorded(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))])
    return client_for(app)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_token_is_401(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("role", ["intake", "clinician", "coordinator", "admin"])
def test_only_auditors_are_admitted(api: TestClient, auth: Auth, path: str, role: str) -> None:
    response = api.get(path, headers=auth("csss-a", role))
    assert response.status_code == 403
    assert response.json()["type"].endswith(":forbidden")


def test_a_consent_as_of_dates_and_every_query_in_the_trail(api: TestClient, auth: Auth) -> None:
    auditor = auth("ministere", "network-auditor", sub="auditor-7")
    before = api.get(f"/v1/consents/{CONSENT_ID}/state?as_of=2026-11-19", headers=auditor)
    after = api.get(f"/v1/consents/{CONSENT_ID}/state?as_of=2026-11-20T15:00:00Z", headers=auditor)
    bad = api.get(f"/v1/consents/{CONSENT_ID}/state?as_of=yesterday", headers=auditor)
    trail = api.get("/v1/inquiries", headers=auditor).json()

    assert before.status_code == 404 and before.json()["type"].endswith(":state-not-found")
    assert after.status_code == 200 and after.json()["state"]["status"] == "ACTIVE"
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "as_of"
    assert [(e["auditor"], e["org"], e["channel"], e["action"], e["target"], e["outcome"]) for e in trail] == [
        ("auditor-7", "ministere", "REST", "STATE", f"consent/{CONSENT_ID}", "NOT_FOUND"),
        ("auditor-7", "ministere", "REST", "STATE", f"consent/{CONSENT_ID}", "OK"),
        ("auditor-7", "ministere", "REST", "TRAIL", "inquiries", "ASKED"),  # answered once listed
    ]
    assert trail[0]["parameters"]["as_of"].startswith("2026-11-19T23:59:59")
    assert all(e["at"] == "2026-11-25T15:00:00Z" for e in trail)


def test_reports_in_three_formats(api: TestClient, auth: Auth) -> None:
    auditor = auth("ministere", "network-auditor")
    as_json = api.get("/v1/reports/compliance?from=2026-11-01&to=2026-11-30", headers=auditor)
    as_csv = api.get("/v1/reports/compliance?from=2026-11-01&to=2026-11-30&format=csv", headers=auditor)
    as_html = api.get("/v1/reports/compliance?format=html", headers=auditor)
    backwards = api.get("/v1/reports/compliance?from=2026-12-01&to=2026-11-01", headers=auditor)

    assert as_json.status_code == 200 and as_json.json()["start"] == "2026-11-01T00:00:00-04:00"
    assert as_json.json()["end"] == "2026-12-01T00:00:00-05:00"
    assert as_csv.headers["content-type"].startswith("text/csv") and as_csv.text.startswith("section,org")
    assert as_html.headers["content-type"].startswith("text/html") and "<svg" in as_html.text
    assert backwards.status_code == 422


def test_recheck_through_the_api_runs_as_the_calling_auditor(api: TestClient, auth: Auth) -> None:
    response = api.get("/v1/decisions/recheck", headers=auth("ministere", "network-auditor"))
    assert response.status_code == 200
    assert response.json() == {"checked": 0, "what_if_regime": None, "what_if_regime_version": None, "differing": []}
    unknown = api.get(
        "/v1/decisions/recheck?regime=LRSSS&regime_version=nope-typed-version",
        headers=auth("ministere", "network-auditor"),
    )
    assert unknown.status_code == 422 and unknown.json()["type"].endswith(":unknown-rule-table")
    assert unknown.json()["field"] == "regime_version"
    assert "nope-typed-version" not in unknown.text  # problems name the field, never echo what the caller typed


def test_integrity_of_a_missing_store_is_a_failure_not_a_crash(api: TestClient, auth: Auth) -> None:
    response = api.get("/v1/integrity?service=referral", headers=auth("ministere", "network-auditor"))
    body = response.json()
    assert response.status_code == 200 and body["ok"] is False
    assert body["stores"][0]["problem"] == "no event store at the configured path"
    assert body["checkpoint_problem"] == "checkpoints not readable: KafkaTimeoutError"


@pytest.mark.parametrize(
    "path", ["/v1/integrity", "/v1/integrity?service=referral", "/v1/integrity/acknowledgements", "/v1/replay"]
)
def test_the_stores_integrity_and_the_replay_counts_are_for_network_auditors_only(
    api: TestClient, auth: Auth, path: str
) -> None:
    """Integrity findings name aggregates (a referral's id is its aggregate's) of every organisation and count every
    store's events, and the stores' acknowledged retirements are the whole network's; the last replay counts the
    whole network's events: not an organisation auditor's to read."""
    refused = api.get(path, headers=auth("csss-a", "auditor"))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith(":forbidden") and "network-auditor" in refused.json()["detail"]
    assert api.get(path, headers=auth("ministere", "network-auditor")).status_code == 200


@pytest.mark.parametrize("query", ["service=refferal", "service=referral&service=refferal"])
def test_verifying_a_service_without_an_event_store_is_422_naming_the_known_ones(
    api: TestClient, auth: Auth, query: str
) -> None:
    auditor = auth("ministere", "network-auditor")
    response = api.get(f"/v1/integrity?{query}", headers=auditor)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "service"
    assert error["message"] == (
        "a service given has no event store here; known services: agreements, audit, consent, notifications, referral"
    )
    assert "refferal" not in response.text  # problems name the field and the accepted names, never what was typed
    trail = api.get("/v1/inquiries", headers=auditor).json()
    assert "VERIFY" not in {e["action"] for e in trail}  # verified nothing, as a malformed as_of reads nothing


def test_a_verification_of_no_store_is_never_a_pass() -> None:
    assert IntegrityAnswer([], 0, None).ok is False
    assert IntegrityAnswer([], 3, None).as_dict()["ok"] is False


def test_an_organisations_auditor_reads_only_that_organisations_history_and_trail(api: TestClient, auth: Auth) -> None:
    own, other = auth("csss-a", "auditor", sub="auditor-a"), auth("org-z", "auditor", sub="auditor-z")
    as_of = "as_of=2026-11-21"
    assert api.get(f"/v1/consents/{CONSENT_ID}/state?{as_of}", headers=own).status_code == 200
    hidden = api.get(f"/v1/consents/{CONSENT_ID}/state?{as_of}", headers=other)
    assert hidden.status_code == 404 and "S-AUDIT-03" not in hidden.text
    assert api.get("/v1/reports/compliance", headers=own).status_code == 403  # the network report: network only

    trail_of_z = api.get("/v1/inquiries", headers=other).json()
    assert {e["org"] for e in trail_of_z} == {"org-z"}  # not the other organisations' auditors' inquiries
    # refused reads stay, shown to the organisation as reads of nothing (else they tell which ids exist, and since when)
    assert api.get(f"/v1/consents/{CONSENT_ID}/state?as_of=2026-11-19", headers=other).status_code == 404  # before it
    assert (
        api.get("/v1/consents/00000000-0000-0000-0000-00000000dead/state?as_of=2026-11-21", headers=other).status_code
        == 404
    )
    trail_of_z = api.get("/v1/inquiries", headers=other).json()
    assert [e["outcome"] for e in trail_of_z if e["action"] == "STATE"] == ["NOT_FOUND"] * 3
    everyone = api.get("/v1/inquiries", headers=auth("ombudsman", "network-auditor")).json()
    assert {"csss-a", "org-z", "ombudsman"} <= {e["org"] for e in everyone}
    of_z = [e["outcome"] for e in everyone if e["org"] == "org-z" and e["action"] == "STATE"]
    assert of_z == ["NOT_VISIBLE", "NOT_FOUND", "NOT_FOUND"]  # network auditors see which reads were refused


def test_an_organisations_auditor_pages_its_own_trail_and_learns_nothing_of_the_others(
    api: TestClient, auth: Auth
) -> None:
    """Paged in the query by the organisation's own positions: a page holds its inquiries however many others made
    in between, and neither the positions nor the cursor tell how many those were."""
    network, z = auth("ministere", "network-auditor"), auth("org-z", "auditor", sub="auditor-z")
    for _ in range(60):
        api.get(f"/v1/consents/{CONSENT_ID}/state", headers=network)
    api.get(f"/v1/consents/{CONSENT_ID}/state", headers=z)

    first = api.get("/v1/inquiries?limit=100", headers=z)
    assert [(e["position"], e["org"], e["action"]) for e in first.json()] == [
        (1, "org-z", "STATE"),
        (2, "org-z", "TRAIL"),
    ]
    assert "link" not in first.headers  # the whole of its trail
    for _ in range(60):
        api.get(f"/v1/consents/{CONSENT_ID}/state", headers=network)
    page = api.get("/v1/inquiries?limit=2", headers=z)
    assert [e["position"] for e in page.json()] == [1, 2]
    assert page.headers["link"] == '</v1/inquiries?cursor=2&limit=2>; rel="next"'
    rest = api.get("/v1/inquiries?cursor=2&limit=2", headers=z)
    assert [(e["position"], e["action"], e["parameters"]) for e in rest.json()] == [
        (3, "TRAIL", {"after": "0", "limit": "2"}),
        (4, "TRAIL", {"after": "2", "limit": "2"}),  # this read, recorded before it read
    ]
    assert "link" not in rest.headers


def test_a_network_auditor_pages_the_whole_trail_by_its_positions(api: TestClient, auth: Auth) -> None:
    network, z = auth("ministere", "network-auditor"), auth("org-z", "auditor", sub="auditor-z")
    for headers in (network, z, network):
        api.get(f"/v1/consents/{CONSENT_ID}/state", headers=headers)

    page = api.get("/v1/inquiries?limit=2", headers=network)
    entries = page.json()
    assert [e["org"] for e in entries] == ["ministere", "org-z"]
    assert entries[0]["position"] < entries[1]["position"]  # the log's positions: made, answered, made…
    assert page.headers["link"] == f'</v1/inquiries?cursor={entries[1]["position"]}&limit=2>; rel="next"'
    rest = api.get(f"/v1/inquiries?cursor={entries[1]['position']}&limit=2", headers=network).json()
    assert [(e["org"], e["action"]) for e in rest] == [("ministere", "STATE"), ("ministere", "TRAIL")]


@pytest.mark.parametrize(
    "query",
    ["as_of=9999-12-31", "as_of=0001-01-01T00:00:00%2B01:00", "as_of=9999-12-31T23:00:00-05:00"],
)
def test_a_moment_out_of_the_calendars_range_is_a_422_naming_as_of(api: TestClient, auth: Auth, query: str) -> None:
    response = api.get(f"/v1/consents/{CONSENT_ID}/state?{query}", headers=auth("ministere", "network-auditor"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "as_of"
    assert "out of the calendar's range" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=9999-12-31", "to"),  # its next day is past the calendar
        ("to=9999-06-30", "to"),  # the report counts the agreement year holding its last day
        ("to=0001-01-05", "to"),  # the 30 days before it are past the calendar
        ("from=0001-01-01T00:00:00%2B01:00&to=2026-01-01", "from"),
        ("from=2026-01-01&to=bad", "to"),
        ("from=bad&to=2026-01-01", "from"),
        ("from=2026-02-01&to=2026-01-01", "from"),
    ],
)
def test_a_report_period_that_cannot_be_one_is_a_422_naming_its_parameter(
    api: TestClient, auth: Auth, query: str, field: str
) -> None:
    response = api.get(f"/v1/reports/compliance?{query}", headers=auth("ministere", "network-auditor"))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_report_up_to_the_last_day_a_period_may_hold(api: TestClient, auth: Auth) -> None:
    response = api.get("/v1/reports/compliance?to=9998-12-31", headers=auth("ministere", "network-auditor"))
    assert response.status_code == 200, response.text
    assert response.json()["end"] == "9999-01-01T00:00:00-05:00"
