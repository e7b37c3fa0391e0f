"""How many subscriptions one organisation may have. Nothing bounded them: one organisation made 1,000 webhooks in
3.3 s, and every event concerning it then scheduled 1,000 deliveries inside the transaction of the consumer every
organisation shares (96 ms an event, against 2 ms for the others'; review of 2026-12). Now an organisation has at
most `NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_ORG` live subscriptions (paused and disabled ones included: they receive on
resuming); one more is a 409 `subscription-limit-reached` naming `org_id`, the same whatever the others have."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.notifications.application import SUBSCRIPTIONS_PER_ORG, SUBSCRIPTIONS_PER_ORG_MAX
from services.notifications.settings import NotificationsSettings
from tests.notifications.conftest import SECRET, org

Auth = Callable[..., dict[str, str]]


def webhook(org_id: str) -> dict[str, Any]:
    return {"org_id": org_id, "channel": "WEBHOOK", "url": "https://partner.example/hooks", "secret": SECRET}


def _refused(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "urn:ca.qc.rls:problem:subscription-limit-reached", problem
    assert problem["field"] == "org_id" and [e["field"] for e in problem["errors"]] == ["org_id"], problem
    return problem


def test_a_subscription_beyond_the_organisations_bound_is_a_409_naming_org_id(
    make_client: Callable[..., TestClient], auth: Auth
) -> None:
    api = make_client(max_subscriptions_per_org=3)
    me = org()
    admin = auth(me, "admin")
    first = api.post("/v1/subscriptions", json=webhook(me), headers={**admin, "Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    topic = api.post("/v1/subscriptions", json={"org_id": me, "channel": "KAFKA_TOPIC"}, headers=admin)
    paused = api.post("/v1/subscriptions", json=webhook(me), headers=admin).json()["id"]
    assert topic.status_code == 201 and api.post(f"/v1/subscriptions/{paused}/pause", headers=admin).is_success

    _refused(api.post("/v1/subscriptions", json=webhook(me), headers=admin))  # a paused one receives on resuming
    retried = api.post("/v1/subscriptions", json=webhook(me), headers={**admin, "Idempotency-Key": "k-1"})
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true", "answered as the first"
    assert api.delete(f"/v1/subscriptions/{first.json()['id']}", headers=admin).status_code == 204
    assert api.post("/v1/subscriptions", json=webhook(me), headers=admin).status_code == 201, "a deleted one is gone"
    _refused(api.post("/v1/subscriptions", json=webhook(me), headers=admin))
    assert len(api.get("/v1/subscriptions", headers=admin).json()["items"]) == 3


def _fill(api: TestClient, org_id: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """How many webhooks the organisation subscribes before its 409, and that 409's problem."""
    for made in range(SUBSCRIPTIONS_PER_ORG_MAX + 1):
        response = api.post("/v1/subscriptions", json=webhook(org_id), headers=headers)
        if response.status_code == 409:
            return made, _refused(response)
        assert response.status_code == 201, response.text
    raise AssertionError("no bound")


def test_an_organisation_neither_fills_nor_counts_anothers_subscriptions(
    make_client: Callable[..., TestClient], auth: Auth
) -> None:
    """The bound is each organisation's: one at its bound leaves the others theirs, and the 409 an organisation gets
    is the same whether the others have none or as many as they may."""
    api = make_client(max_subscriptions_per_org=4)
    crowded, quiet = org(), org()
    crowded_made, crowded_problem = _fill(api, crowded, auth(crowded, "admin"))
    quiet_made, quiet_problem = _fill(api, quiet, auth(quiet, "admin"))
    assert crowded_made == quiet_made == 4
    assert crowded_problem == quiet_problem, "nothing in it depends on the other organisation"
    assert crowded not in str(quiet_problem) and quiet not in str(crowded_problem)


def test_the_bound_is_a_setting_within_what_routing_absorbs(
    service_settings: Callable[..., NotificationsSettings],
) -> None:
    """`NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_ORG`: a deployment may set less, or more up to the largest allowed."""
    assert service_settings(NotificationsSettings).max_subscriptions_per_org == SUBSCRIPTIONS_PER_ORG
    largest = service_settings(NotificationsSettings, max_subscriptions_per_org=SUBSCRIPTIONS_PER_ORG_MAX)
    assert largest.max_subscriptions_per_org == SUBSCRIPTIONS_PER_ORG_MAX
    for beyond in (0, SUBSCRIPTIONS_PER_ORG_MAX + 1):
        with pytest.raises(ValidationError, match="max_subscriptions_per_org"):
            service_settings(NotificationsSettings, max_subscriptions_per_org=beyond)
