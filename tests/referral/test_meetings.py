"""Meetings and the intervention plan through the API: who may record them, idempotency, `duration-exceeded` once,
bad input naming the field, and the integration events (schemas, no content)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from services.referral.domain import scoped_key
from services.referral.main import outbox
from tests.referral.conftest import ReferralService
from tests.referral.test_lifecycle import OTHER, RECEIVER, SENDER, act, submit

Auth = Callable[..., dict[str, str]]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
NEW_RECEIVER = "org-c"


def following(service: ReferralService, auth: Auth, to_service: str) -> str:
    """A referral the receiver accepted and first contacted, an hour ago."""
    rid = str(submit(service, auth, to_service=to_service)["id"])
    for command in ("receive", "accept", "first-contact"):
        service.clock.advance(timedelta(minutes=10))
        assert act(service, auth, rid, command).status_code == 200
    service.clock.advance(timedelta(hours=1))
    return rid


def meet(service: ReferralService, auth: Auth, rid: str, org: str = RECEIVER, **headers: str) -> Any:
    service.clock.advance(timedelta(days=1))
    return service.client.post(
        f"/v1/referrals/{rid}/meetings", json={"mode": "IN_PERSON"}, headers=auth(org, "clinician") | headers
    )


def plan(service: ReferralService, auth: Auth, rid: str, term: int, revise: bool = False, **headers: str) -> Any:
    path = "intervention-plan/revise" if revise else "intervention-plan"
    return service.client.post(
        f"/v1/referrals/{rid}/{path}", json={"planned_meetings": term}, headers=auth(RECEIVER, "clinician") | headers
    )


def events(service: ReferralService) -> list[tuple[str, dict[str, Any]]]:
    """Every integration event the relay would publish: (name, data), each checked against its JSON Schema."""
    app = service.app.state.application
    contracts = outbox(app, "https://rls.example")
    found = []
    for notification in app.recorder.select_notifications(start=1, limit=1000):
        for message in contracts(app.mapper.to_domain_event(notification)):
            jsonschema.validate(message.event.data, json.loads((SCHEMAS / f"{message.event.type}.json").read_text()))
            found.append((message.event.type.split(".")[-2], message.event.data))
    return found


def test_aaor_meetings_past_three_record_duration_exceeded_once(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "AAOR")
    for n in range(1, 6):
        response = meet(service, auth, rid)
        assert response.status_code == 200, response.text
        assert response.json()["meetings"] == n
    published = events(service)
    meetings = [d for name, d in published if name == "meeting-recorded"]
    assert [d["meetings"] for d in meetings] == [1, 2, 3, 4, 5]
    assert len({d["meeting_id"] for d in meetings}) == 5
    exceeded = [d for name, d in published if name == "duration-exceeded"]
    assert len(exceeded) == 1
    assert exceeded[0] | {"standard": "AAOR_MEETINGS", "meetings": 4, "limit": 3} == exceeded[0]
    assert exceeded[0]["occurred_at"] == meetings[3]["occurred_at"]
    assert exceeded[0]["responsible_org"] == RECEIVER


def test_consultation_limit_is_the_plans_term_until_revised(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "PSYCH_CONSULT")
    assert plan(service, auth, rid, 2, revise=True).status_code == 409, "nothing to revise yet"
    set_ = plan(service, auth, rid, 2)
    assert set_.status_code == 200
    assert set_.json()["intervention_plan"] == {"planned_meetings": 2, "revisions": 0}
    assert plan(service, auth, rid, 3).status_code == 409, "set once: revise it"
    for _ in range(2):
        meet(service, auth, rid)
    revised = plan(service, auth, rid, 4, revise=True)
    assert revised.json()["intervention_plan"] == {"planned_meetings": 4, "revisions": 1}
    for _ in range(2):
        meet(service, auth, rid)
    assert not [name for name, _ in events(service) if name == "duration-exceeded"], "revised before going past"
    meet(service, auth, rid)
    published = events(service)
    (exceeded,) = [d for name, d in published if name == "duration-exceeded"]
    assert exceeded | {"standard": "CONSULT_MEETINGS", "meetings": 5, "limit": 4, "planned_meetings": 4} == exceeded
    plans = [(name, d["planned_meetings"], d["revisions"]) for name, d in published if "plan" in name]
    assert plans == [("intervention-plan-set", 2, 0), ("intervention-plan-revised", 4, 1)]


def test_no_meeting_content_on_any_event(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "SOCIAL_CONSULT")
    response = service.client.post(
        f"/v1/referrals/{rid}/meetings",
        json={"mode": "PHONE", "notes": "synthetic secret"},
        headers=auth(RECEIVER, "clinician"),
    )
    assert response.status_code == 422
    assert meet(service, auth, rid).status_code == 200
    allowed = {"meeting_id", "mode", "meetings", "version", "actor_org"}
    (meeting,) = [d for name, d in events(service) if name == "meeting-recorded"]
    assert set(meeting) - set(events(service)[0][1]) == allowed


def test_only_the_receiving_organisation_records_meetings_and_plans(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "AAOR")
    refused = meet(service, auth, rid, org=SENDER)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith(":forbidden")
    assert meet(service, auth, rid, org=OTHER).status_code == 404, "a stranger does not learn it exists"
    sender_plan = service.client.post(
        f"/v1/referrals/{rid}/intervention-plan", json={"planned_meetings": 3}, headers=auth(SENDER, "clinician")
    )
    assert sender_plan.status_code == 403
    auditor = service.client.post(
        f"/v1/referrals/{rid}/meetings", json={"mode": "PHONE"}, headers=auth(RECEIVER, "auditor")
    )
    assert auditor.status_code == 403
    assert service.client.get(f"/v1/referrals/{rid}", headers=auth(RECEIVER, "clinician")).json()["meetings"] == 0


def test_meetings_wait_for_the_referral_and_stop_when_it_ends(service: ReferralService, auth: Auth) -> None:
    rid = str(submit(service, auth, to_service="AAOR")["id"])
    assert meet(service, auth, rid).status_code == 409, "not received yet"
    assert act(service, auth, rid, "receive").status_code == 200
    assert meet(service, auth, rid).status_code == 200
    assert act(service, auth, rid, "refuse", reason="r").status_code == 200
    assert meet(service, auth, rid).json()["type"].endswith(":transition-impossible")


def test_a_retry_with_the_same_idempotency_key_records_one_meeting(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "AAOR")
    first = meet(service, auth, rid, **{"Idempotency-Key": "m-1"})
    again = meet(service, auth, rid, **{"Idempotency-Key": "m-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["meetings"] == 1
    other = service.client.post(
        f"/v1/referrals/{rid}/meetings",
        json={"mode": "VIDEO"},
        headers=auth(RECEIVER, "clinician") | {"Idempotency-Key": "m-1"},
    )
    assert other.status_code == 409
    assert other.json()["type"].endswith(":idempotency-key-reused")
    plan(service, auth, rid, 3, **{"Idempotency-Key": "p-1"})
    assert plan(service, auth, rid, 3, **{"Idempotency-Key": "p-1"}).status_code == 200, "a retried plan"


def test_after_a_redirect_the_new_receivers_idempotency_keys_are_its_own(service: ReferralService, auth: Auth) -> None:
    """The former receiver's keys neither swallow the new receiver's meeting (a replay of the former's) nor tell it
    which keys the former used (a 409); events recorded before keys were scoped load scoped to their actor_org."""
    rid = str(submit(service, auth, to_service="AAOR")["id"])
    assert act(service, auth, rid, "receive").status_code == 200
    assert meet(service, auth, rid, **{"Idempotency-Key": "m-1"}).status_code == 200
    former = service.client.post(
        f"/v1/referrals/{rid}/meetings",
        json={"mode": "VIDEO"},
        headers=auth(RECEIVER, "clinician") | {"Idempotency-Key": "m-2"},
    )
    assert former.status_code == 200
    assert plan(service, auth, rid, 4, **{"Idempotency-Key": "p-1"}).status_code == 200
    assert act(service, auth, rid, "redirect", to_org=NEW_RECEIVER, to_service="AAOR").status_code == 200
    assert act(service, auth, rid, "receive", org=NEW_RECEIVER).status_code == 200

    same = meet(service, auth, rid, org=NEW_RECEIVER, **{"Idempotency-Key": "m-1"})
    assert same.status_code == 200 and "Idempotent-Replayed" not in same.headers
    assert same.json()["meetings"] == 1, "the new receiver's meeting is recorded, not the former's replayed"
    other = meet(service, auth, rid, org=NEW_RECEIVER, **{"Idempotency-Key": "m-2"})  # the former sent VIDEO
    assert other.status_code == 200, "no 409 telling the new receiver the former's keys"
    assert other.json()["meetings"] == 2
    new_plan = service.client.post(
        f"/v1/referrals/{rid}/intervention-plan",
        json={"planned_meetings": 4},
        headers=auth(NEW_RECEIVER, "clinician") | {"Idempotency-Key": "p-1"},
    )
    assert new_plan.status_code == 200 and "Idempotent-Replayed" not in new_plan.headers
    assert new_plan.json()["intervention_plan"] == {"planned_meetings": 4, "revisions": 0}
    again = meet(service, auth, rid, org=NEW_RECEIVER, **{"Idempotency-Key": "m-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["meetings"] == 2, "its own retry"

    stored = service.app.state.application.get_referral(uuid.UUID(rid))  # loaded from the stored events
    assert set(stored.requests) == {
        scoped_key(org, key) for org in (RECEIVER, NEW_RECEIVER) for key in ("m-1", "m-2", "p-1")
    }


def test_if_match_guards_meetings(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "AAOR")
    version = service.client.get(f"/v1/referrals/{rid}", headers=auth(RECEIVER, "clinician")).headers["ETag"]
    assert meet(service, auth, rid, **{"If-Match": version}).status_code == 200
    stale = meet(service, auth, rid, **{"If-Match": version})
    assert stale.status_code == 409
    assert stale.json()["type"].endswith(":version-conflict")


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("meetings", {"mode": "TELEPATHY"}, "mode"),
        ("meetings", {}, "mode"),
        ("meetings", {"mode": "PHONE", "at": "2026-03-02"}, "at"),
        ("intervention-plan", {"planned_meetings": 0}, "planned_meetings"),
        ("intervention-plan", {"planned_meetings": "twelve"}, "planned_meetings"),
        ("intervention-plan/revise", {}, "planned_meetings"),
    ],
)
def test_bad_input_names_the_field(
    service: ReferralService, auth: Auth, path: str, payload: dict[str, Any], field: str
) -> None:
    rid = following(service, auth, "SOCIAL_CONSULT")
    response = service.client.post(f"/v1/referrals/{rid}/{path}", json=payload, headers=auth(RECEIVER, "clinician"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in json.dumps(response.json())


def test_a_meeting_in_the_future_or_before_the_last_step_names_at(service: ReferralService, auth: Auth) -> None:
    rid = following(service, auth, "AAOR")
    future = (service.clock() + timedelta(hours=1)).isoformat()
    past = (service.clock() - timedelta(days=30)).isoformat()
    for at in (future, past):
        response = service.client.post(
            f"/v1/referrals/{rid}/meetings", json={"mode": "PHONE", "at": at}, headers=auth(RECEIVER, "clinician")
        )
        assert response.status_code == 422
        assert response.json()["field"] == "at"
