"""Referral lifecycle through the API: every transition, refused ones, idempotency, concurrency, authorisation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.referral.access import POLICY
from services.referral.ports import Coverage
from tests.access_matrix import granted, mismatches
from tests.referral.conftest import T0, ReferralService, body

Auth = Callable[..., dict[str, str]]
SENDER, RECEIVER, OTHER = "csss-a", "org-b", "org-z"


def submit(service: ReferralService, auth: Auth, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    headers = auth(SENDER, "intake") | ({"Idempotency-Key": key} if key else {})
    response = service.client.post("/v1/referrals", json=body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def act(
    service: ReferralService, auth: Auth, referral_id: str, command: str, org: str = RECEIVER, **payload: Any
) -> Any:
    return service.client.post(
        f"/v1/referrals/{referral_id}/{command}", json=payload or None, headers=auth(org, "clinician")
    )


def test_submission_records_coverage_and_flags_an_orientation(service: ReferralService, auth: Auth) -> None:
    orientation = submit(service, auth)
    assert orientation["status"] == "SUBMITTED"
    assert orientation["orientation_only"] is True
    service.directory.coverages[(SENDER, RECEIVER)] = Coverage("agr-1", "COLLABORATION")
    covered = submit(service, auth)
    assert covered["agreement_id"] == "agr-1"
    assert covered["agreement_kind"] == "COLLABORATION"
    assert covered["orientation_only"] is False


def test_target_must_offer_the_service_and_be_known(service: ReferralService, auth: Auth) -> None:
    service.directory.not_offered.add((RECEIVER, "SOCIAL_CONSULT"))
    response = service.client.post("/v1/referrals", json=body(), headers=auth(SENDER, "intake"))
    assert response.status_code == 422
    assert response.json()["field"] == "to_service"
    service.directory.unknown.add("org-x")
    unknown = service.client.post("/v1/referrals", json=body(to_org="org-x"), headers=auth(SENDER, "intake"))
    assert unknown.status_code == 422
    assert service.client.get("/v1/referrals", headers=auth(SENDER, "intake")).json()["items"] == []


def test_a_named_agreement_that_does_not_cover_the_referral_is_refused(service: ReferralService, auth: Auth) -> None:
    response = service.client.post(
        "/v1/referrals", json=body(agreement_id="agr-unknown"), headers=auth(SENDER, "intake")
    )
    assert response.status_code == 422
    assert response.json()["field"] == "agreement_id"


def test_the_full_happy_path_records_who_and_when(service: ReferralService, auth: Auth) -> None:
    referral = submit(service, auth)
    rid = referral["id"]
    for command, status in [
        ("receive", "RECEIVED"),
        ("analyse", "ANALYSED"),
        ("accept", "ACCEPTED"),
        ("first-contact", "FIRST_CONTACT_MADE"),
        ("start-follow-up", "FOLLOW_UP_STARTED"),
    ]:
        service.clock.advance(timedelta(hours=1))
        response = act(service, auth, rid, command)
        assert response.status_code == 200, (command, response.text)
        assert response.json()["status"] == status
    closed = act(service, auth, rid, "close", outcome="SERVICES_RENDERED")
    assert closed.json()["status"] == "CLOSED"
    steps = [h["step"] for h in closed.json()["history"]]
    assert steps == [
        "submitted",
        "received",
        "analysed",
        "accepted",
        "first-contact-made",
        "follow-up-started",
        "closed",
    ]
    assert closed.headers["ETag"] == str(closed.json()["version"]) == "7"


@pytest.mark.parametrize(
    ("path", "command", "expected"),
    [
        ([], "callback", "SUBMITTED"),
        (["receive"], "refuse", "REFUSED"),
        (["receive", "analyse"], "redirect", "REDIRECTED"),
        (["accept"], "close", "CLOSED"),
        ([], "cancel", "CANCELLED"),
        (["redirect"], "receive", "RECEIVED"),
        (["analyse"], "callback", "ANALYSED"),
        (["first-contact"], "analyse", "ANALYSED"),
        (["first-contact"], "callback", "FIRST_CONTACT_MADE"),
        (["first-contact"], "redirect", "REDIRECTED"),
        (["first-contact"], "accept", "ACCEPTED"),
        (["first-contact"], "cancel", "CANCELLED"),
        (["accept", "start-follow-up"], "first-contact", "FOLLOW_UP_STARTED"),
        (["first-contact", "accept"], "first-contact", "FIRST_CONTACT_MADE"),
        (["first-contact", "accept"], "start-follow-up", "FOLLOW_UP_STARTED"),
        (["first-contact", "accept"], "close", "CLOSED"),
    ],
)
def test_each_transition_leads_where_it_should(
    service: ReferralService, auth: Auth, path: list[str], command: str, expected: str
) -> None:
    rid = submit(service, auth)["id"]
    details = {
        "refuse": {"reason": "outside our mandate"},
        "redirect": {"to_org": "org-c", "to_service": "AAOR"},
        "close": {"outcome": "SERVICES_RENDERED"},
    }
    receiver = RECEIVER
    for step in path:
        assert act(service, auth, rid, step, receiver, **details.get(step, {})).status_code == 200
        if step == "redirect":
            receiver = "org-c"
    org = SENDER if command == "cancel" else receiver
    response = act(service, auth, rid, command, org, **details.get(command, {}))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == expected


@pytest.mark.parametrize(
    ("path", "command"),
    [
        (["accept"], "receive"),
        (["accept"], "refuse"),
        (["accept"], "cancel"),
        (["accept"], "redirect"),
        ([], "start-follow-up"),
        ([], "close"),
        (["refuse"], "accept"),
        (["cancel"], "receive"),
        (["callback"], "callback"),
        (["accept", "close"], "first-contact"),
        (["analyse", "accept"], "analyse"),
        (["accept"], "analyse"),
        (["accept", "first-contact"], "refuse"),
        (["accept", "first-contact"], "redirect"),
        (["accept", "first-contact"], "cancel"),
        (["first-contact", "analyse"], "first-contact"),
        (["accept", "first-contact", "start-follow-up"], "first-contact"),
        (["analyse", "callback"], "callback"),
        (["accept", "close"], "callback"),
        (["first-contact"], "start-follow-up"),  # a first contact before acceptance: the follow-up waits for it
        (["first-contact"], "close"),
    ],
)
def test_impossible_transitions_are_refused_with_409_and_change_nothing(
    service: ReferralService, auth: Auth, path: list[str], command: str
) -> None:
    rid = submit(service, auth)["id"]
    details = {
        "refuse": {"reason": "r"},
        "close": {"outcome": "DONE"},
        "redirect": {"to_org": "org-c", "to_service": "AAOR"},
    }
    for step in path:
        org = SENDER if step == "cancel" else RECEIVER
        assert act(service, auth, rid, step, org, **details.get(step, {})).status_code == 200
    before = service.client.get(f"/v1/referrals/{rid}", headers=auth(SENDER, "intake")).json()
    org = SENDER if command == "cancel" else RECEIVER
    response = act(service, auth, rid, command, org, **details.get(command, {}))
    assert response.status_code == 409
    assert response.json()["type"].endswith("transition-impossible")
    assert service.client.get(f"/v1/referrals/{rid}", headers=auth(SENDER, "intake")).json() == before


def test_steps_may_be_entered_late_but_never_in_the_future_nor_before_the_previous(
    service: ReferralService, auth: Auth
) -> None:
    rid = submit(service, auth)["id"]
    service.clock.advance(timedelta(hours=5))
    late = act(service, auth, rid, "receive", at=(T0 + timedelta(hours=1)).isoformat())
    assert late.status_code == 200
    assert late.json()["history"][-1]["at"] == (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    future = act(service, auth, rid, "analyse", at=(service.clock() + timedelta(minutes=1)).isoformat())
    assert future.status_code == 422
    assert future.json()["field"] == "at"
    earlier = act(service, auth, rid, "analyse", at=T0.isoformat())
    assert earlier.status_code == 422
    naive = act(service, auth, rid, "analyse", at="2026-03-02T10:00:00")
    assert naive.status_code == 422


def test_if_match_catches_concurrent_updates(service: ReferralService, auth: Auth) -> None:
    rid = submit(service, auth)["id"]
    headers = auth(RECEIVER, "clinician") | {"If-Match": "1"}
    first = service.client.post(f"/v1/referrals/{rid}/receive", headers=headers)
    assert first.status_code == 200
    stale = service.client.post(f"/v1/referrals/{rid}/accept", headers=headers)
    assert stale.status_code == 409
    assert stale.json()["type"].endswith("version-conflict")
    fresh = service.client.post(
        f"/v1/referrals/{rid}/accept", headers=auth(RECEIVER, "clinician") | {"If-Match": '"2"'}
    )
    assert fresh.status_code == 200


def test_a_reused_idempotency_key_returns_the_first_result(service: ReferralService, auth: Auth) -> None:
    first = submit(service, auth, key="k-1")
    service.clock.advance(timedelta(minutes=3))
    again = service.client.post(
        "/v1/referrals", json=body(), headers=auth(SENDER, "intake") | {"Idempotency-Key": "k-1"}
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first
    different = service.client.post(
        "/v1/referrals", json=body(urgency="URGENT"), headers=auth(SENDER, "intake") | {"Idempotency-Key": "k-1"}
    )
    assert different.status_code == 409
    assert len(service.client.get("/v1/referrals", headers=auth(SENDER, "intake")).json()["items"]) == 1


def test_authorisation_matrix(service: ReferralService, auth: Auth) -> None:
    rid = submit(service, auth)["id"]
    get = service.client.get
    assert get(f"/v1/referrals/{rid}", headers=auth(OTHER, "clinician")).status_code == 404
    assert act(service, auth, rid, "receive", OTHER).status_code == 404
    assert get(f"/v1/referrals/{rid}/clocks", headers=auth(OTHER, "clinician")).status_code == 404
    assert get("/v1/referrals", headers=auth(OTHER, "clinician")).json()["items"] == []
    assert act(service, auth, rid, "accept", SENDER).status_code == 403  # only the receiver accepts
    assert act(service, auth, rid, "refuse", SENDER, reason="no").status_code == 403
    assert act(service, auth, rid, "cancel", RECEIVER).status_code == 403  # only the referrer cancels
    # an organisation's auditor reads that organisation's referrals; the whole network is a role of its own
    assert get(f"/v1/referrals/{rid}", headers=auth(OTHER, "auditor")).status_code == 404
    assert get("/v1/referrals", headers=auth(OTHER, "auditor")).json()["items"] == []
    assert get(f"/v1/referrals/{rid}", headers=auth(SENDER, "auditor")).status_code == 200
    assert get(f"/v1/referrals/{rid}", headers=auth(OTHER, "network-auditor")).status_code == 200
    assert get("/v1/standards/compliance?org=" + SENDER, headers=auth(OTHER, "auditor")).status_code == 403
    assert get(f"/v1/referrals/{rid}/information", headers=auth(RECEIVER, "auditor")).status_code == 403
    assert act(service, auth, rid, "accept", RECEIVER).status_code == 200
    submitted_for_other = service.client.post(
        "/v1/referrals", json=body(from_org=OTHER), headers=auth(SENDER, "intake")
    )
    assert submitted_for_other.status_code == 403


def test_listing_filters_and_paginates(service: ReferralService, auth: Auth) -> None:
    ids = []
    for n in range(5):
        service.clock.advance(timedelta(minutes=1))
        ids.append(submit(service, auth, to_org="org-b" if n % 2 == 0 else "org-c")["id"])
    page = service.client.get("/v1/referrals?limit=2", headers=auth(SENDER, "intake")).json()
    assert [r["id"] for r in page["items"]] == ids[:2]
    rest = service.client.get(f"/v1/referrals?limit=10&cursor={page['next_cursor']}", headers=auth(SENDER, "intake"))
    assert [r["id"] for r in rest.json()["items"]] == ids[2:]
    to_b = service.client.get("/v1/referrals?to_org=org-b", headers=auth(SENDER, "intake")).json()["items"]
    assert [r["id"] for r in to_b] == ids[0::2]
    assert service.client.get("/v1/referrals?cursor=%%%", headers=auth(SENDER, "intake")).status_code == 422


def test_domain_validation_errors_name_the_field_like_request_validation(service: ReferralService, auth: Auth) -> None:
    service.directory.not_offered.add((RECEIVER, "SOCIAL_CONSULT"))
    problem = service.client.post("/v1/referrals", json=body(), headers=auth(SENDER, "intake")).json()
    assert problem["errors"][0]["field"] == "to_service"


def test_an_outsider_redirecting_a_referral_learns_nothing(service: ReferralService, auth: Auth) -> None:
    rid = submit(service, auth)["id"]
    service.directory.unknown.add("org-nowhere")
    response = act(service, auth, rid, "redirect", OTHER, to_org="org-nowhere", to_service="AAOR")
    assert response.status_code == 404


def test_the_authorisation_matrix_follows_the_policy(service: ReferralService, auth: Auth) -> None:
    rid = submit(service, auth)["id"]
    service.gate.permitted = {"CONTACT"}
    parties = {"sender": SENDER, "receiver": RECEIVER}

    def get(path: str) -> Callable[[str, str], bool]:
        return lambda org, role: granted(service.client.get(path, headers=auth(org, role)), {200})

    def listed(org: str, role: str) -> bool:
        response = service.client.get("/v1/referrals", headers=auth(org, role))
        return granted(response, {200}) and rid in response.text

    def information(org: str, role: str) -> bool:  # nothing stored: 200, nothing released (the gate is not asked)
        response = service.client.get(f"/v1/referrals/{rid}/information", headers=auth(org, role))
        return (response.status_code == 403 and "disclosure-denied" in response.text) or granted(response, {200})

    def submitted(org: str, role: str) -> bool:
        response = service.client.post("/v1/referrals", json=body(), headers=auth(org, role))
        return granted(response, {201})

    cases = [
        ("get_referral", parties, get(f"/v1/referrals/{rid}")),
        ("clocks", parties, get(f"/v1/referrals/{rid}/clocks")),
        ("list_referrals", parties, listed),
        ("standards_compliance", {"org": SENDER}, get(f"/v1/standards/compliance?org={SENDER}")),
        ("information", parties, information),
        ("submit_referral", {"sender": SENDER}, submitted),
    ]
    assert [m for operation, scope, probe in cases for m in mismatches(POLICY, operation, scope, probe)] == []


def test_a_redirect_to_the_current_target_is_refused_naming_to_org(service: ReferralService, auth: Auth) -> None:
    """Redirected to itself, a receiver would stop its own clocks and start them again (a wait with no breach)."""
    rid = submit(service, auth, to_service="AAOR")["id"]
    service.clock.advance(timedelta(hours=23))
    same = act(service, auth, rid, "redirect", to_org=RECEIVER, to_service="AAOR")
    assert same.status_code == 422
    assert same.headers["content-type"].startswith("application/problem+json")
    assert same.json()["field"] == "to_org"
    clocks = service.client.get(f"/v1/referrals/{rid}/clocks", headers=auth(RECEIVER, "clinician")).json()
    assert {c["started_at"] for c in clocks} == {T0.isoformat().replace("+00:00", "Z")}
    other_service = act(service, auth, rid, "redirect", to_org=RECEIVER, to_service="SOCIAL_CONSULT")
    assert other_service.status_code == 200
    assert other_service.json()["status"] == "REDIRECTED"
