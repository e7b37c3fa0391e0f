"""Ending a consent, a restriction or a written refusal: never dated before it began (it would erase it from the
past), and a consent never starting before the person was born; what was stored before these checks still loads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.consent.application import Actor, Consents
from services.consent.domain import Consent, ConsentTermsInvalidError, Restriction
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT, T0
from tests.consent.test_api import ASK, CONSENT, _events
from tests.consent.test_application import terms

Auth = Callable[..., dict[str, str]]
PAST_ASK = {**ASK, "at": "2026-11-20T12:00:00-05:00"}
"""A disclosure dated while the consent (from 2026-11-01) was in force."""
RESTRICTION = {"subject_id": SUBJECT, "recipients": [{"org_id": RECIPIENT}], "valid_from": "2026-11-20"}
REFUSAL = {"subject_id": SUBJECT, "requester_roles": ["SPOUSE"], "given_on": "2026-11-01"}


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


def _refused_naming(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith(":validation") and problem["field"] == field, problem
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize("at", ["0002-01-01", "2026-10-31", "2026-10-31T23:59:59-04:00"])
def test_a_withdrawal_dated_before_the_consent_began_is_a_422_and_erases_nothing(
    api: TestClient, auth: Auth, at: str
) -> None:
    """Withdrawn from 0002-01-01, the consent was gone from the past too: decisions dated while it was in force
    (re-asked, or re-evaluated by an auditor) flipped to DENY."""
    intake = auth(DISCLOSER, "intake")
    consent = api.post("/v1/consents", json=CONSENT, headers=intake).json()
    before = api.post("/v1/decisions", json=PAST_ASK, headers=intake).json()["outcome"]
    _refused_naming(api.post(f"/v1/consents/{consent['id']}/withdraw", json={"at": at}, headers=intake), "at")
    kept = api.get(f"/v1/consents/{consent['id']}", headers=intake).json()
    assert (kept["version"], kept["withdrawn_at"]) == (1, None)
    assert api.post("/v1/decisions", json=PAST_ASK, headers=intake).json()["outcome"] == before == "PERMIT_PARTIAL"


def test_a_consent_is_withdrawn_from_its_start_or_any_time_after(api: TestClient, auth: Auth) -> None:
    """Recorded on 2026-11-25, valid from 2026-11-01: the person may have withdrawn it before it was recorded."""
    intake = auth(DISCLOSER, "intake")
    for at in ("2026-11-01", "2026-11-10T09:00:00-05:00"):
        consent = api.post("/v1/consents", json=CONSENT, headers=intake).json()
        withdrawn = api.post(f"/v1/consents/{consent['id']}/withdraw", json={"at": at}, headers=intake)
        assert withdrawn.status_code == 200, (at, withdrawn.text)
        assert withdrawn.json()["status"] == "WITHDRAWN"


def test_a_consent_given_ahead_of_its_start_is_withdrawn_before_it_starts(api: TestClient, auth: Auth) -> None:
    """It began when it was recorded: withdrawing it now (before its start) is no withdrawal dated before it."""
    intake = auth(DISCLOSER, "intake")
    pending = api.post("/v1/consents", json={**CONSENT, "valid_from": "2026-12-15"}, headers=intake).json()
    assert pending["status"] == "PENDING"
    early = api.post(f"/v1/consents/{pending['id']}/withdraw", json={"at": "2026-11-24"}, headers=intake)
    _refused_naming(early, "at")  # before it was recorded (2026-11-25) and before its start
    now = api.post(f"/v1/consents/{pending['id']}/withdraw", headers=intake)
    assert now.status_code == 200, now.text


@pytest.mark.parametrize("at", ["0002-01-01", "2026-11-19T23:59:59-05:00"])
def test_a_restriction_lifted_before_it_began_is_a_422(api: TestClient, auth: Auth, at: str) -> None:
    intake = auth(DISCLOSER, "intake")
    restriction = api.post("/v1/restrictions", json=RESTRICTION, headers=intake).json()
    _refused_naming(api.post(f"/v1/restrictions/{restriction['id']}/lift", json={"at": at}, headers=intake), "at")
    assert api.get(f"/v1/restrictions/{restriction['id']}", headers=intake).json()["lifted_at"] is None
    lifted = api.post(f"/v1/restrictions/{restriction['id']}/lift", json={"at": "2026-11-21"}, headers=intake)
    assert lifted.status_code == 200 and lifted.json()["lifted_at"].startswith("2026-11-21"), lifted.text


def test_a_written_refusal_withdrawn_before_it_was_given_is_a_422(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    refusal = api.post("/v1/refusals", json=REFUSAL, headers=intake).json()
    _refused_naming(api.post(f"/v1/refusals/{refusal['id']}/withdraw", json={"at": "2026-10-01"}, headers=intake), "at")
    assert (
        api.post(f"/v1/refusals/{refusal['id']}/withdraw", json={"at": "2026-11-02"}, headers=intake).status_code == 200
    )


@pytest.mark.parametrize(
    "change",
    [
        {"valid_from": "0002-01-01"},
        {"valid_from": "2026-11-01", "subject_birth_date": "2026-11-02"},
        {"valid_from": "2026-11-01T23:30:00-04:00", "subject_birth_date": "2026-11-02"},  # 2026-11-02 in UTC
    ],
)
def test_a_consent_starting_before_the_person_was_born_is_a_422(
    api: TestClient, auth: Auth, change: dict[str, str]
) -> None:
    _refused_naming(
        api.post("/v1/consents", json={**CONSENT, **change}, headers=auth(DISCLOSER, "intake")), "valid_from"
    )
    assert _events(api) == 0


def test_a_consent_may_start_the_day_the_person_was_born(api: TestClient, auth: Auth) -> None:
    born = {**CONSENT, "subject_birth_date": "2026-11-02", "valid_from": "2026-11-02", "granted_by": {"role": "PARENT"}}
    assert api.post("/v1/consents", json=born, headers=auth(DISCLOSER, "intake")).status_code == 201


def test_endings_and_consents_stored_before_these_checks_still_load(consents: Consents) -> None:
    """The checks are the commands'; a withdrawal or a lift already stored with such a date is replayed as it is."""
    worker = Actor(sub="worker-7", org=DISCLOSER)
    born = date(2000, 1, 1)
    consent, _ = consents.record_consent(terms(subject_birth_date=born), worker)
    long_ago = datetime(2, 1, 1, tzinfo=UTC)
    stored: Consent = consents.repository.get(uuid.UUID(consent.consent_id))
    stored._withdraw(SUBJECT, long_ago, None, "worker-7", DISCLOSER, T0)  # as a withdrawal was recorded before
    restriction = Restriction(
        id=uuid.uuid4(),
        subject_id=SUBJECT,
        recipient_org_ids=[RECIPIENT],
        recipient_kinds=[],
        purposes=[],
        categories=[],
        valid_from=T0 - timedelta(days=5),
        recorded_by="worker-7",
        recorded_by_org=DISCLOSER,
        recorded_at=T0,
        request_digest="-",
    )
    restriction._lift(SUBJECT, long_ago, "worker-7", T0)
    old_consent = Consent(  # a consent from before the person's birth, as one could be recorded
        id=uuid.uuid4(),
        subject_id="S-000777",
        subject_birth_date=born,
        grantor_role="SELF",
        grantor_mandate_ref=None,
        grantor_scope=None,
        method="WRITTEN",
        purposes=["REFERRAL"],
        recipient_org_ids=[RECIPIENT],
        recipient_kinds=[],
        categories=["CONTACT"],
        valid_from=datetime(1999, 1, 1, tzinfo=UTC),
        valid_until=None,
        recorded_by="worker-7",
        recorded_by_org=DISCLOSER,
        recorded_at=T0,
        request_digest="-",
    )
    consents.save(stored, restriction, old_consent)
    assert consents.get_consent(uuid.UUID(consent.consent_id)).withdrawn_at == long_ago
    assert consents.get_restriction(restriction.id).lifted_at == long_ago
    assert consents.get_consent(old_consent.id).valid_from == datetime(1999, 1, 1, tzinfo=UTC)
    assert consents.repository.get(restriction.id).lifted_at == long_ago
    with pytest.raises(ConsentTermsInvalidError):  # the commands refuse them now
        consents.withdraw_consent(old_consent.id, worker, at=long_ago)
