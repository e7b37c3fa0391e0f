"""Wherever the consent service takes a person's id — consents, restrictions, written refusals, decisions,
disclosures (through the decision lane and its route), the lists and the register's filter — a health insurance
number (NAM) is refused as a 422 naming `subject_id`, before anything is recorded, and never repeated back or logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.consent.conftest import DISCLOSER
from tests.consent.test_api import ASK, CONSENT

Auth = Callable[..., dict[str, str]]
NAM = "TREJ55123112"
WRITTEN = [NAM, "trej55623112", "TREJ-5512-3112", "trej_55_12_31_12"]
MESSAGE = "must be a pseudonymous id, not a health insurance number (NAM)"

BODIES: list[tuple[str, dict[str, Any]]] = [
    ("/v1/consents", CONSENT),
    ("/v1/restrictions", {"subject_id": "S-1", "purposes": ["RESEARCH"]}),
    ("/v1/refusals", {"subject_id": "S-1", "requester_roles": ["SPOUSE"], "given_on": "2025-02-01"}),
    ("/v1/decisions", ASK),
    ("/v1/disclosures", ASK),
]
LISTS = ["/v1/consents", "/v1/restrictions", "/v1/refusals", "/v1/register"]


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


def _recorded(api: TestClient) -> int:
    app: Any = api.app
    return int(app.state.application.recorder.max_notification_id() or 0)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """What the service logged (the test client's own httpx log of the URL it asked is not the service's)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))


def _refused(response: Any, value: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:ca.qc.rls:problem:validation"
    assert problem["errors"] == [{"field": "subject_id", "message": MESSAGE, "type": "subject_id_nam"}]
    assert problem["detail"] == f"subject_id: {MESSAGE}"
    assert value.upper() not in response.text.upper()


@pytest.mark.parametrize("value", WRITTEN)
@pytest.mark.parametrize(("path", "body"), BODIES, ids=[path for path, _ in BODIES])
def test_a_body_naming_the_person_by_a_nam_is_refused_and_records_nothing(
    api: TestClient, auth: Auth, caplog: pytest.LogCaptureFixture, path: str, body: dict[str, Any], value: str
) -> None:
    caplog.set_level(logging.DEBUG)
    _refused(api.post(path, json={**body, "subject_id": value}, headers=auth(DISCLOSER, "intake")), value)
    assert value not in _logged(caplog)
    assert _recorded(api) == 0


@pytest.mark.parametrize("value", WRITTEN)
@pytest.mark.parametrize("path", LISTS)
def test_a_list_asked_by_a_nam_is_refused(
    api: TestClient, auth: Auth, caplog: pytest.LogCaptureFixture, path: str, value: str
) -> None:
    caplog.set_level(logging.DEBUG)
    _refused(api.get(path, params={"subject_id": value}, headers=auth(DISCLOSER, "intake")), value)
    assert value not in _logged(caplog)


def test_ids_that_only_look_like_a_nam_are_accepted(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    for subject in ("subj00001234", "ABCD00130101", "ABCD00013201"):
        assert api.post("/v1/consents", json={**CONSENT, "subject_id": subject}, headers=intake).status_code == 201
        assert api.post("/v1/decisions", json={**ASK, "subject_id": subject}, headers=intake).status_code == 200
        listed = api.get("/v1/consents", params={"subject_id": subject}, headers=intake)
        assert [c["subject_id"] for c in listed.json()["items"]] == [subject]
        assert api.get("/v1/register", params={"subject_id": subject}, headers=intake).status_code == 200
