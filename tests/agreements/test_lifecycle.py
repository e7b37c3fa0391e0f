"""Agreement lifecycle through the API: every transition, every refused one (409), who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from tests.agreements.conftest import (
    CRISIS,
    CSSS,
    LISTENING,
    OUTSIDER,
    REGIONAL,
    application_of,
    collaboration,
    problem_field,
    service_108,
    sign_all,
)

Auth = Callable[..., dict[str, str]]


def draft(api: TestClient, auth: Auth, body: dict[str, Any], org: str = CSSS) -> dict[str, Any]:
    response = api.post("/v1/agreements", json=body, headers=auth(org, "coordinator"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def act(api: TestClient, auth: Auth, agreement_id: str, command: str, org: str = CSSS, **body: Any) -> Any:
    return api.post(f"/v1/agreements/{agreement_id}/{command}", json=body or None, headers=auth(org, "coordinator"))


def get(api: TestClient, auth: Auth, agreement_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/agreements/{agreement_id}", headers=auth(OUTSIDER, "intake")).json())


def changes(api: TestClient, auth: Auth, agreement_id: str) -> list[dict[str, Any]]:
    history = api.get(f"/v1/agreements/{agreement_id}/history", headers=auth(CSSS, "auditor")).json()
    return list(history["changes"])


def at_montreal(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- drafting and signing ------------------------------------------------------------------------------


def test_draft_is_recorded_as_draft_with_version_and_revision(network: TestClient, auth: Auth) -> None:
    response = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator"))
    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["version"], body["revision"]) == ("DRAFT", 1, 1)
    assert response.headers["ETag"] == "1"
    assert get(network, auth, body["id"])["title"] == service_108()["title"]


def test_draft_with_the_same_idempotency_key_is_recorded_once(network: TestClient, auth: Auth) -> None:
    headers = {**auth(CSSS, "coordinator"), "Idempotency-Key": "draft-1"}
    first = network.post("/v1/agreements", json=service_108(), headers=headers)
    again = network.post("/v1/agreements", json=service_108(), headers=headers)
    other = network.post("/v1/agreements", json=service_108(title="Another"), headers=headers)
    assert first.json()["id"] == again.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409


def test_framework_agreement_becomes_active_when_the_last_party_signs_after_its_start(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    agreement = draft(network, auth, collaboration())
    states = []
    for party in (CSSS, CRISIS):
        states.append(act(network, auth, agreement["id"], "sign", org=party).json()["status"])
    clock.advance(timedelta(hours=1))
    last = act(network, auth, agreement["id"], "sign", org=LISTENING).json()
    assert states == ["DRAFT", "DRAFT"]
    assert last["status"] == "ACTIVE"
    assert {s["party"] for s in last["signatures"]} == {CSSS, CRISIS, LISTENING}
    assert last["respects_community_orientations"] is True
    activated = changes(network, auth, agreement["id"])[-1]
    assert activated["event"] == "activated" and at_montreal(activated["occurred_at"]) == clock()


def test_signed_agreement_becomes_active_by_itself_at_its_start_date(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    agreement = sign_all(network, auth, draft(network, auth, service_108()))
    app = application_of(network)
    clock.now = datetime(2027, 1, 1, 4, 59, tzinfo=UTC)  # 23:59 on 31 December in Montréal
    app.tick()
    before = get(network, auth, agreement["id"])["status"]
    clock.now = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    app.tick()
    assert (agreement["status"], before, get(network, auth, agreement["id"])["status"]) == (
        "SIGNED",
        "SIGNED",
        "ACTIVE",
    )
    activated = changes(network, auth, agreement["id"])[-1]
    assert activated["event"] == "activated" and activated["occurred_at"] == "2027-01-01T00:00:00-05:00"


def test_late_scheduler_records_each_transition_at_the_time_it_fell_due(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    agreement = sign_all(network, auth, draft(network, auth, service_108(review_every_months=6)))
    clock.now = datetime(2028, 3, 1, tzinfo=UTC)  # the service was down for over a year
    application_of(network).tick()
    due = [(c["event"], c["occurred_at"]) for c in changes(network, auth, agreement["id"])[3:]]
    assert due == [
        ("activated", "2027-01-01T00:00:00-05:00"),
        ("review-due", "2027-07-01T00:00:00-04:00"),
        ("expired", "2028-01-01T00:00:00-05:00"),
    ]


def test_agreement_expires_by_itself_after_its_end_date(network: TestClient, auth: Auth, clock: ManualClock) -> None:
    agreement = sign_all(network, auth, draft(network, auth, service_108(start="2026-01-01", end="2026-12-31")))
    app = application_of(network)
    clock.now = datetime(2027, 1, 1, 4, 0, tzinfo=UTC)  # still 31 December in Montréal
    app.tick()
    last_day = get(network, auth, agreement["id"])["status"]
    clock.now = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    app.tick()
    assert (agreement["status"], last_day, get(network, auth, agreement["id"])["status"]) == (
        "ACTIVE",
        "ACTIVE",
        "EXPIRED",
    )


# --- the other transitions -----------------------------------------------------------------------------


@pytest.fixture
def active(network: TestClient, auth: Auth) -> dict[str, Any]:
    return sign_all(network, auth, draft(network, auth, service_108(start="2026-01-01")))


def test_suspend_then_resume(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    """Any party suspends; only the organisation that suspended resumes. Another party lifting the suspension alone
    restarted the information flow the first one had stopped."""
    suspended = act(network, auth, active["id"], "suspend", reason="quality review").json()
    by_other = act(network, auth, active["id"], "resume", org=REGIONAL)
    assert by_other.status_code == 403, by_other.text
    assert by_other.json()["type"].endswith(":forbidden") and CSSS in by_other.json()["detail"]
    assert get(network, auth, active["id"])["status"] == "SUSPENDED"
    resumed = act(network, auth, active["id"], "resume").json()
    assert (suspended["status"], suspended["status_reason"]) == ("SUSPENDED", "quality review")
    assert (resumed["status"], resumed["status_reason"]) == ("ACTIVE", None)
    again = act(network, auth, active["id"], "suspend", org=REGIONAL).json()  # a new suspension, by the other party
    assert again["status"] == "SUSPENDED" and act(network, auth, active["id"], "resume").status_code == 403
    assert act(network, auth, active["id"], "resume", org=REGIONAL).json()["status"] == "ACTIVE"


def test_terminate_records_the_reason(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    terminated = act(network, auth, active["id"], "terminate", reason="services transferred")
    assert terminated.status_code == 200
    assert (terminated.json()["status"], terminated.json()["status_reason"]) == ("TERMINATED", "services transferred")
    assert changes(network, auth, active["id"])[-1]["note"] == "services transferred"


def test_terminate_without_a_reason_is_refused(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    response = act(network, auth, active["id"], "terminate", reason="")
    assert response.status_code == 422 and problem_field(response.json()) == "reason"
    assert get(network, auth, active["id"])["status"] == "ACTIVE"


def test_amendment_is_a_new_version_and_earlier_versions_stay_readable(
    network: TestClient, auth: Auth, active: dict[str, Any], clock: ManualClock
) -> None:
    clock.advance(timedelta(days=1))
    amended = act(network, auth, active["id"], "amend", org=REGIONAL, services=["SPECIALISED_SERVICES", "AAOR"])
    assert amended.status_code == 200, amended.text
    sign_all(network, auth, active)
    current, first = (
        get(network, auth, active["id"]),
        network.get(f"/v1/agreements/{active['id']}?version=1", headers=auth(OUTSIDER, "intake")).json(),
    )
    history = network.get(f"/v1/agreements/{active['id']}/history", headers=auth(CSSS, "auditor")).json()
    assert (current["version"], current["status"], current["services"]) == (
        2,
        "ACTIVE",
        ["SPECIALISED_SERVICES", "AAOR"],
    )
    assert (first["version"], first["latest_version"], first["services"]) == (1, 2, ["SPECIALISED_SERVICES"])
    assert [(v["version"], v["change"]) for v in history["versions"]] == [(1, "drafted"), (2, "amended")]
    missing = network.get(f"/v1/agreements/{active['id']}?version=3", headers=auth(CSSS, "auditor"))
    assert missing.status_code == 404


def test_amending_a_draft_voids_its_signatures(network: TestClient, auth: Auth) -> None:
    agreement = draft(network, auth, service_108())
    act(network, auth, agreement["id"], "sign")
    amended = act(network, auth, agreement["id"], "amend", title="Entente révisée").json()
    assert (amended["status"], amended["signatures"], amended["version"]) == ("DRAFT", [], 2)


def test_renewal_extends_the_term_as_a_new_version(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    proposed = act(network, auth, active["id"], "renew", end="2028-12-31").json()
    renewed = sign_all(network, auth, active)
    assert (proposed["end"], proposed["version"], proposed["proposal"]["end"]) == ("2027-12-31", 1, "2028-12-31")
    assert (renewed["status"], renewed["end"], renewed["version"], renewed["proposal"]) == (
        "ACTIVE",
        "2028-12-31",
        2,
        None,
    )


def test_renewal_brings_an_expired_agreement_back_into_force(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    agreement = sign_all(network, auth, draft(network, auth, service_108(start="2026-01-01", end="2026-12-31")))
    clock.now = datetime(2027, 1, 10, 15, tzinfo=UTC)
    application_of(network).tick()
    proposed = act(network, auth, agreement["id"], "renew", end="2027-12-31").json()
    renewed = sign_all(network, auth, agreement)
    too_early = act(network, auth, agreement["id"], "renew", end="2027-06-30")
    assert (proposed["status"], renewed["status"], renewed["version"]) == ("EXPIRED", "ACTIVE", 2)
    assert too_early.status_code == 422 and problem_field(too_early.json()) == "end"


def test_review_falls_due_once_and_recording_a_review_clears_it(
    network: TestClient, auth: Auth, active: dict[str, Any], clock: ManualClock
) -> None:
    app = application_of(network)
    clock.now = datetime(2027, 1, 2, tzinfo=UTC)  # 12 months after the start date
    app.tick()
    app.tick()
    due = get(network, auth, active["id"])
    reviewed = act(network, auth, active["id"], "review", summary="volumes adequate").json()
    events = [c["event"] for c in changes(network, auth, active["id"])]
    assert (due["review_due"], due["next_review_on"]) == (True, "2028-01-01")
    assert (reviewed["review_due"], reviewed["next_review_on"]) == (False, "2028-01-01")
    assert events.count("review-due") == 1 and events[-1] == "reviewed"


# --- refused transitions -------------------------------------------------------------------------------

REFUSED = {
    "DRAFT": ["suspend", "resume", "renew", "review"],
    "SIGNED": ["sign", "suspend", "resume", "renew", "review"],
    "ACTIVE": ["sign", "resume"],
    "SUSPENDED": ["sign", "suspend"],
    "TERMINATED": ["sign", "amend", "suspend", "resume", "terminate", "renew", "review"],
    "EXPIRED": ["sign", "amend", "suspend", "resume", "terminate", "review"],
}
BODIES: dict[str, dict[str, Any]] = {
    "amend": {"title": "Changed"},
    "terminate": {"reason": "ended"},
    "renew": {"end": "2029-12-31"},
}


def agreement_in(status: str, api: TestClient, auth: Auth, clock: ManualClock) -> dict[str, Any]:
    """An agreement brought to `status` through the API."""
    if status == "DRAFT":
        return draft(api, auth, service_108())
    if status == "SIGNED":
        return sign_all(api, auth, draft(api, auth, service_108()))
    agreement = sign_all(api, auth, draft(api, auth, service_108(start="2026-01-01", end="2026-12-31")))
    if status == "SUSPENDED":
        act(api, auth, agreement["id"], "suspend")
    elif status == "TERMINATED":
        act(api, auth, agreement["id"], "terminate", reason="ended")
    elif status == "EXPIRED":
        clock.now = datetime(2027, 1, 5, tzinfo=UTC)
        application_of(api).tick()
    return get(api, auth, agreement["id"])


@pytest.mark.parametrize(("status", "command"), [(s, c) for s, commands in REFUSED.items() for c in commands])
def test_refused_transition_answers_409_and_changes_nothing(
    network: TestClient, auth: Auth, clock: ManualClock, status: str, command: str
) -> None:
    agreement = agreement_in(status, network, auth, clock)
    response = act(network, auth, agreement["id"], command, **BODIES.get(command, {}))
    after = get(network, auth, agreement["id"])
    assert agreement["status"] == status
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("transition-impossible")
    assert (after["status"], after["revision"]) == (status, agreement["revision"])


def test_signing_twice_for_the_same_party_is_refused(network: TestClient, auth: Auth) -> None:
    agreement = draft(network, auth, service_108())
    act(network, auth, agreement["id"], "sign")
    assert act(network, auth, agreement["id"], "sign").status_code == 409


def test_renewing_an_agreement_without_end_date_is_refused(network: TestClient, auth: Auth) -> None:
    agreement = sign_all(network, auth, draft(network, auth, collaboration()))
    assert act(network, auth, agreement["id"], "renew", end="2030-01-01").status_code == 409


# --- who may act ---------------------------------------------------------------------------------------


def test_signing_by_an_organisation_that_is_not_a_party_is_forbidden(network: TestClient, auth: Auth) -> None:
    agreement = draft(network, auth, service_108())
    by_outsider = network.post(f"/v1/agreements/{agreement['id']}/sign", headers=auth(OUTSIDER, "coordinator"))
    by_outside_admin = network.post(f"/v1/agreements/{agreement['id']}/sign", headers=auth(OUTSIDER, "admin"))
    by_platform_admin = network.post(f"/v1/agreements/{agreement['id']}/sign", headers=auth(PLATFORM_ORG, "admin"))
    assert (by_outsider.status_code, by_outside_admin.status_code, by_platform_admin.status_code) == (403, 403, 403)
    assert by_outsider.json()["type"].endswith(":forbidden")
    assert get(network, auth, agreement["id"])["signatures"] == []


def test_changes_by_an_organisation_that_is_not_a_party_are_forbidden(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    response = network.post(f"/v1/agreements/{active['id']}/suspend", headers=auth(OUTSIDER, "coordinator"))
    assert response.status_code == 403
    assert get(network, auth, active["id"])["status"] == "ACTIVE"


def test_drafting_for_other_organisations_is_forbidden(network: TestClient, auth: Auth) -> None:
    response = network.post("/v1/agreements", json=service_108(), headers=auth(OUTSIDER, "coordinator"))
    assert response.status_code == 403


def test_if_match_with_a_stale_revision_is_a_conflict(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    url = f"/v1/agreements/{active['id']}/suspend"
    stale = network.post(url, headers={**auth(CSSS, "coordinator"), "If-Match": str(active["revision"] - 1)})
    garbled = network.post(url, headers={**auth(CSSS, "coordinator"), "If-Match": "yesterday"})
    fresh = network.post(url, headers={**auth(CSSS, "coordinator"), "If-Match": f'"{active["revision"]}"'})
    assert stale.status_code == 409 and stale.json()["type"].endswith("version-conflict")
    assert garbled.status_code == 422 and problem_field(garbled.json()) == "If-Match"
    assert fresh.status_code == 200 and fresh.headers["ETag"] == str(active["revision"] + 1)


def test_an_if_match_too_long_to_be_a_revision_is_invalid_not_an_error(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    """`int` refuses more than 4,300 digits."""
    url = f"/v1/agreements/{active['id']}/suspend"
    response = network.post(url, headers={**auth(CSSS, "coordinator"), "If-Match": "9" * 5000})
    assert response.status_code == 422 and problem_field(response.json()) == "If-Match"
    assert get(network, auth, active["id"])["status"] == "ACTIVE"


WRITES = [
    ("post", "/v1/organisations"),
    ("post", "/v1/agreements"),
    *[("post", f"/v1/agreements/00000000-0000-4000-8000-000000000000/{c}") for c in BODIES],
    *[("post", f"/v1/agreements/00000000-0000-4000-8000-000000000000/{c}") for c in ("sign", "suspend", "resume")],
    ("post", "/v1/agreements/00000000-0000-4000-8000-000000000000/review"),
]
READS = [
    "/v1/organisations",
    "/v1/organisations/csss-a",
    "/v1/agreements",
    "/v1/agreements/00000000-0000-4000-8000-000000000000",
    "/v1/agreements/00000000-0000-4000-8000-000000000000/history",
    "/v1/agreements/00000000-0000-4000-8000-000000000000/volumes",
    "/v1/coverage?from_org=csss-a&to_org=regional-b&service=AAOR",
]


@pytest.mark.parametrize(("method", "url"), [*WRITES, *[("get", u) for u in READS]])
def test_no_token_is_unauthenticated(api: TestClient, method: str, url: str) -> None:
    response = api.request(method.upper(), url, json={})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_a_role_without_the_right_is_forbidden(api: TestClient, auth: Auth, method: str, url: str) -> None:
    response = api.request(method.upper(), url, json={}, headers=auth(CSSS, "intake", "clinician", "auditor"))
    assert response.status_code == 403
