"""The notifications REST API: subscribing, bad input refused with nothing stored, auth, pause/resume/delete,
deliveries and redelivery."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.egress import EgressBusyError
from services.notifications.application import AttemptOutcome
from services.notifications.domain import ChangedMeanwhileError
from tests.notifications.conftest import PRODUCTION, SECRET, Feed, Story, application, org

Auth = Callable[..., dict[str, str]]


def nothing_stored(client: TestClient) -> bool:
    return not application(client).recorder.max_notification_id()


def webhook(org_id: str, **fields: Any) -> dict[str, Any]:
    return {"org_id": org_id, "channel": "WEBHOOK", "url": "https://partner.example/hooks", "secret": SECRET, **fields}


# --- subscribing ---------------------------------------------------------------------------------------------


def test_an_organisation_subscribes_to_its_topic(client: TestClient, auth: Auth) -> None:
    me = org()
    response = client.post(
        "/v1/subscriptions", json={"org_id": me, "channel": "KAFKA_TOPIC"}, headers=auth(me, "admin")
    )
    assert response.status_code == 201
    body = response.json()
    assert body["topic"] == f"rls.org.{me}.referrals.v1"
    assert (body["status"], body["version"], response.headers["ETag"]) == ("ACTIVE", 1, "1")
    assert "url" not in body
    assert "secret" not in body
    again = client.post("/v1/subscriptions", json={"org_id": me, "channel": "KAFKA_TOPIC"}, headers=auth(me, "admin"))
    assert again.status_code == 409
    assert again.json()["type"] == "urn:ca.qc.rls:problem:subscription-exists"


def test_a_webhook_subscribed_without_a_secret_gets_one_once(client: TestClient, auth: Auth) -> None:
    me = org()
    body = webhook(me, filters={"event_types": ["ca.qc.rls.referral.accepted.v1"], "min_urgency": "URGENT"})
    del body["secret"]
    response = client.post("/v1/subscriptions", json=body, headers=auth(me, "coordinator"))
    assert response.status_code == 201
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert "topic" not in created
    assert created["filters"] == {
        "event_types": ["ca.qc.rls.referral.accepted.v1"],
        "min_urgency": "URGENT",
        "services": [],
    }
    listed = client.get("/v1/subscriptions", headers=auth(me, "admin")).json()["items"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert client.get(f"/v1/subscriptions/{created['id']}", headers=auth(me, "admin")).json()["url"] == body["url"]


def test_a_retried_request_with_its_idempotency_key_creates_nothing_more(client: TestClient, auth: Auth) -> None:
    me = org()
    headers = {**auth(me, "admin"), "Idempotency-Key": "partner-42"}
    first = client.post("/v1/subscriptions", json=webhook(me), headers=headers)
    again = client.post("/v1/subscriptions", json=webhook(me), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/subscriptions", json=webhook(me, url="https://partner.example/other"), headers=headers)
    assert other.status_code == 409
    assert len(client.get("/v1/subscriptions", headers=auth(me, "admin")).json()["items"]) == 1


def test_every_answer_telling_a_secret_is_kept_out_of_caches(client: TestClient, auth: Auth) -> None:
    """Review of 2026-12: the creation of a webhook answered its generated secret without `Cache-Control: no-store`
    (rotations had it), and so did a retried creation telling it again."""
    me = org()
    body = webhook(me)
    del body["secret"]
    headers = {**auth(me, "admin"), "Idempotency-Key": "partner-9"}
    created = client.post("/v1/subscriptions", json=body, headers=headers)
    retried = client.post("/v1/subscriptions", json=body, headers=headers)
    rotated = client.post(f"/v1/subscriptions/{created.json()['id']}/rotate-secret", headers=auth(me, "admin"))
    for told in (created, retried, rotated):
        assert told.is_success and told.json()["secret"].startswith("whsec_"), told.text
        assert told.headers["Cache-Control"] == "no-store", told.request.url


def test_a_retried_creation_of_a_deleted_subscription_is_the_404_of_a_deleted_subscription(
    client: TestClient, auth: Auth
) -> None:
    """It answered 201 with the subscription DELETED and a `Location` that is a 404. A replay answers the resource as
    it stands now, and a deleted subscription is a 404 `subscription-not-found` on every route (a retried DELETE too);
    the key stays bound to its request (another body: 409), and a new key subscribes again."""
    me = org()
    admin = auth(me, "admin")
    for body in (webhook(me), {"org_id": me, "channel": "KAFKA_TOPIC"}):
        headers = {**admin, "Idempotency-Key": f"first-{body['channel']}"}
        created = client.post("/v1/subscriptions", json=body, headers=headers).json()
        assert client.delete(f"/v1/subscriptions/{created['id']}", headers=admin).status_code == 204
        anew = client.post(
            "/v1/subscriptions", json=body, headers={**admin, "Idempotency-Key": f"anew-{body['channel']}"}
        )
        assert anew.status_code == 201, anew.text
        for retried in (
            client.post("/v1/subscriptions", json=body, headers=headers),
            client.delete(f"/v1/subscriptions/{created['id']}", headers=admin),
        ):
            assert retried.status_code == 404, retried.text
            assert retried.json()["type"] == "urn:ca.qc.rls:problem:subscription-not-found"
            assert "Location" not in retried.headers
        other = client.post("/v1/subscriptions", json={**body, "filters": {"min_urgency": "URGENT"}}, headers=headers)
        assert other.status_code == 409 and other.json()["type"] == "urn:ca.qc.rls:problem:idempotency-key-reused"


def test_no_lookup_thread_for_the_organisation_is_a_documented_503(
    client: TestClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribing a webhook resolves its host on a lookup thread the organisation may take; none free (its earlier
    lookups all unanswered) is a 503 `dependency-unavailable`, nothing created, and the OpenAPI says so (it listed
    only 403, 404 and 409)."""
    me = org()
    lookups: Any = application(client)._lookups

    def busy(*_: Any, **__: Any) -> None:
        raise EgressBusyError("no lookup thread for the organisation")

    monkeypatch.setattr(lookups, "run", busy)
    response = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin"))
    assert response.status_code == 503, response.text
    assert response.json()["type"] == "urn:ca.qc.rls:problem:dependency-unavailable"
    monkeypatch.undo()
    assert client.get("/v1/subscriptions", headers=auth(me, "admin")).json()["items"] == []
    operation = client.get("/openapi.json").json()["paths"]["/v1/subscriptions"]["post"]
    assert {"403", "404", "409", "422", "503"} <= set(operation["responses"])


# --- bad input: a problem naming the field, nothing stored ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://partner.example/hooks"}, "url"),
        ({"url": "ftp://partner.example/hooks"}, "url"),
        ({"url": "https://partner.example/hooks?\t"}, "url"),
        ({"url": "https://partner.example/hooks?x=\x7f"}, "url"),
        ({"url": "https://xn--a.example/hooks"}, "url"),
        ({"url": None}, "url"),
        ({"secret": "not-a-whsec"}, "secret"),
        ({"filters": {"event_types": ["ca.qc.rls.referral.teleported.v1"]}}, "filters.event_types"),
        ({"filters": {"min_urgency": "SOMEDAY"}}, "filters.min_urgency"),
        ({"filters": {"services": ["PLUMBING"]}}, "filters.services.0"),
        ({"channel": "CARRIER_PIGEON"}, "channel"),
        ({"org_id": "no spaces allowed"}, "org_id"),
        ({"colour": "blue"}, "<key>"),  # an undeclared key is not echoed: it may be personal
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(
    client: TestClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    me = org()
    response = client.post("/v1/subscriptions", json={**webhook(me), **body}, headers=auth(me, "admin"))
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:ca.qc.rls:problem:validation"
    assert field in [e["field"] for e in problem["errors"]]
    assert nothing_stored(client)


def test_plain_http_is_accepted_only_for_loopback_hosts_in_dev_mode(
    make_client: Callable[..., TestClient], auth: Auth
) -> None:
    me = org()
    dev = make_client()
    loopback = webhook(me, url="http://127.0.0.1:9999/hooks")
    assert dev.post("/v1/subscriptions", json=loopback, headers=auth(me, "admin")).status_code == 201
    production = make_client(**PRODUCTION)
    refused = production.post("/v1/subscriptions", json=loopback, headers=auth(me, "admin"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "url"
    assert "production" in refused.json()["detail"]
    assert nothing_stored(production)
    good = production.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin"))
    assert good.status_code == 201


def test_an_organisation_cannot_subscribe_for_another(client: TestClient, auth: Auth) -> None:
    me, them = org(), org()
    response = client.post("/v1/subscriptions", json=webhook(them), headers=auth(me, "admin"))
    assert response.status_code == 403
    assert response.json()["type"] == "urn:ca.qc.rls:problem:forbidden"
    assert nothing_stored(client)
    assert client.get(f"/v1/subscriptions?org_id={them}", headers=auth(me, "admin")).status_code == 403


def test_authentication_and_roles(client: TestClient, auth: Auth) -> None:
    me = org()
    assert client.post("/v1/subscriptions", json=webhook(me)).status_code == 401
    bad = client.get("/v1/subscriptions", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    intake = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "intake", "clinician"))
    assert intake.status_code == 403
    assert nothing_stored(client)
    assert client.get("/v1/subscriptions", headers=auth(me, "auditor")).status_code == 403


# --- managing subscriptions ----------------------------------------------------------------------------------


def test_pause_resume_and_delete(client: TestClient, auth: Auth) -> None:
    me, them = org(), org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    url = f"/v1/subscriptions/{created['id']}"
    assert client.post(url + "/pause", headers=auth(them, "admin")).status_code == 404, "not theirs"
    paused = client.post(url + "/pause", headers={**auth(me, "admin"), "If-Match": '"1"'})
    assert (paused.status_code, paused.json()["status"], paused.headers["ETag"]) == (200, "PAUSED", "2")
    stale = client.post(url + "/resume", headers={**auth(me, "admin"), "If-Match": "1"})
    assert stale.status_code == 409
    assert client.post(url + "/resume", headers=auth(me, "admin")).json()["status"] == "ACTIVE"
    assert client.delete(url, headers=auth(them, "admin")).status_code == 404
    assert client.delete(url, headers=auth(me, "admin")).status_code == 204
    assert client.get(url, headers=auth(me, "admin")).status_code == 404
    assert client.post(url + "/resume", headers=auth(me, "admin")).status_code == 404
    assert client.get("/v1/subscriptions", headers=auth(me, "admin")).json()["items"] == []
    assert client.get("/v1/subscriptions/not-a-uuid", headers=auth(me, "admin")).status_code == 422


def beaten_by_a_rival(client: TestClient, monkeypatch: pytest.MonkeyPatch, rival: Callable[[Any], None]) -> None:
    """Every load of an aggregate is followed by another writer's change to it, recorded first: the command's write
    then conflicts each time it is applied again."""
    notifications = application(client)
    load = notifications.repository.get

    def loaded_then_changed(aggregate_id: Any, *args: Any, **kwargs: Any) -> Any:
        aggregate = load(aggregate_id, *args, **kwargs)
        changed = load(aggregate_id)
        rival(changed)
        notifications.record(changed)
        return aggregate

    monkeypatch.setattr(notifications.repository, "get", loaded_then_changed)


def test_a_command_other_writers_keep_beating_is_a_409_to_ask_again_not_a_500(
    client: TestClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, me = org(), org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    Feed(application(client))(Story(sender, me).submitted())
    url = f"/v1/subscriptions/{created['id']}"
    [delivery] = client.get(url + "/deliveries", headers=auth(me, "admin")).json()
    at = datetime.now(UTC)

    def toggled(subscription: Any) -> None:  # paused and resumed, or resumed and paused: as it was
        pause, resume = subscription.pause, subscription.resume
        for change in (pause, resume) if subscription.status.value == "ACTIVE" else (resume, pause):
            change(at, "rival")

    with monkeypatch.context() as patched:
        beaten_by_a_rival(client, patched, toggled)
        for asked in (
            client.post(url + "/pause", headers=auth(me, "admin")),
            client.post(url + "/rotate-secret", headers=auth(me, "admin")),
            client.delete(url, headers=auth(me, "admin")),
        ):
            assert asked.status_code == 409, asked.text
            assert asked.json()["type"] == "urn:ca.qc.rls:problem:version-conflict"
    with monkeypatch.context() as patched:
        beaten_by_a_rival(client, patched, lambda d: d.redeliver(at, "rival"))
        redelivered = client.post(f"/v1/deliveries/{delivery['delivery_id']}/redeliver", headers=auth(me, "admin"))
        assert (redelivered.status_code, redelivered.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
        failed = AttemptOutcome(uuid.UUID(delivery["delivery_id"]), delivered=False, error="503")
        with pytest.raises(ChangedMeanwhileError, match="the delivery kept changing"):  # the worker logs, tries again
            application(client).record_outcomes([failed])
    assert client.get(url, headers=auth(me, "admin")).status_code == 200, "not deleted: the rivals' changes stand"
    assert client.post(url + "/pause", headers=auth(me, "admin")).json()["status"] == "PAUSED", "unbeaten: applied"
    with monkeypatch.context() as patched:
        beaten_by_a_rival(client, patched, toggled)
        resumed = client.post(url + "/resume", headers=auth(me, "admin"))
        assert (resumed.status_code, resumed.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
    assert client.get(url, headers=auth(me, "admin")).json()["status"] == "PAUSED"


def test_subscriptions_are_listed_by_page(client: TestClient, auth: Auth) -> None:
    me = org()
    ids = [client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()["id"] for _ in range(5)]
    first = client.get("/v1/subscriptions?limit=2", headers=auth(me, "admin")).json()
    second = client.get(f"/v1/subscriptions?limit=10&cursor={first['next_cursor']}", headers=auth(me, "admin")).json()
    assert [s["id"] for s in first["items"] + second["items"]] == ids
    assert "next_cursor" not in second


@pytest.mark.parametrize("cursor", ["%C2%B2", "-1", "1.5"])
def test_a_cursor_that_is_not_a_page_position_is_invalid_not_an_error(
    client: TestClient, auth: Auth, cursor: str
) -> None:
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    for url in ("/v1/subscriptions", f"/v1/subscriptions/{created['id']}/deliveries"):
        response = client.get(f"{url}?cursor={cursor}", headers=auth(me, "admin"))
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "cursor", url


def test_an_if_match_that_is_not_a_version_is_invalid_not_an_error(client: TestClient, auth: Auth) -> None:
    me = org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    response = client.post(
        f"/v1/subscriptions/{created['id']}/pause", headers={**auth(me, "admin"), "If-Match": "9" * 5000}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "If-Match"
    assert client.get(f"/v1/subscriptions/{created['id']}", headers=auth(me, "admin")).json()["status"] == "ACTIVE"


def test_deliveries_are_shown_and_redelivered(client: TestClient, auth: Auth) -> None:
    sender, me = org(), org()
    created = client.post("/v1/subscriptions", json=webhook(me), headers=auth(me, "admin")).json()
    story = Story(sender, me)
    Feed(application(client))(*story.lifecycle())
    url = f"/v1/subscriptions/{created['id']}/deliveries"
    deliveries = client.get(url, headers=auth(me, "admin")).json()
    assert [d["event_type"] for d in deliveries] == [
        "ca.qc.rls.referral.submitted.v1",
        "ca.qc.rls.referral.received.v1",
        "ca.qc.rls.referral.accepted.v1",
        "ca.qc.rls.referral.first-contact-made.v1",
    ]
    first = deliveries[0]
    assert {k: first[k] for k in ("attempts", "status", "referral_id")} == {
        "attempts": 0,
        "status": "PENDING",
        "referral_id": story.referral_id,
    }
    assert "last_error" not in first
    page = client.get(url + "?limit=3", headers=auth(me, "admin"))
    assert len(page.json()) == 3
    assert page.headers["Link"].endswith('>; rel="next"')
    next_url = page.headers["Link"][1 : page.headers["Link"].index(">")]
    assert [d["delivery_id"] for d in client.get(next_url, headers=auth(me, "admin")).json()] == [
        deliveries[3]["delivery_id"]
    ]
    assert client.get(url + "?status=DELIVERED", headers=auth(me, "admin")).json() == []
    assert client.get(url, headers=auth(sender, "admin")).status_code == 404

    redeliver = f"/v1/deliveries/{first['delivery_id']}/redeliver"
    assert client.post(redeliver, headers=auth(sender, "admin")).status_code == 404
    accepted = client.post(redeliver, headers=auth(me, "admin"))
    assert (accepted.status_code, accepted.json()["status"]) == (202, "PENDING")
    assert client.get(f"/v1/deliveries/{first['delivery_id']}", headers=auth(me, "admin")).status_code == 200


def test_the_openapi_document_describes_the_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/subscriptions",
        "/v1/subscriptions/{subscription_id}/pause",
        "/v1/subscriptions/{subscription_id}/resume",
        "/v1/subscriptions/{subscription_id}",
        "/v1/subscriptions/{subscription_id}/deliveries",
        "/v1/deliveries/{delivery_id}/redeliver",
    } <= set(paths)
