"""What a `201 Created` points to exists: a consent, a restriction and a written refusal are each read at their
`Location`, by the organisation that recorded them and whoever audits it; to anyone else they do not exist (404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT
from tests.consent.test_api import CONSENT

Auth = Callable[..., dict[str, str]]
RECORDED = [
    ("/v1/consents", CONSENT, "consent-not-found"),
    ("/v1/restrictions", {"subject_id": SUBJECT, "recipients": [{"org_id": RECIPIENT}]}, "restriction-not-found"),
    (
        "/v1/refusals",
        {"subject_id": SUBJECT, "requester_roles": ["SPOUSE"], "given_on": "2026-11-01"},
        "refusal-not-found",
    ),
]


@pytest.mark.parametrize(("path", "body", "missing"), RECORDED, ids=[p for p, _, _ in RECORDED])
def test_what_was_recorded_is_read_at_its_location(
    consent_api: Callable[..., TestClient], auth: Auth, path: str, body: dict[str, Any], missing: str
) -> None:
    """A restriction's and a refusal's Location answered 404: there was no route to read one."""
    api = consent_api()
    created = api.post(path, json=body, headers=auth(DISCLOSER, "intake"))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == f"{path}/{created.json()['id']}"
    for headers in (auth(DISCLOSER, "clinician"), auth(DISCLOSER, "auditor"), auth("ministry", "network-auditor")):
        read = api.get(location, headers=headers)
        assert read.status_code == 200, read.text
        assert read.json() == created.json()
    for headers in (auth("org-elsewhere", "intake"), auth("org-elsewhere", "auditor")):
        hidden = api.get(location, headers=headers)
        assert hidden.status_code == 404 and hidden.json()["type"].endswith(f":{missing}"), hidden.text
    nothing = api.get(f"{path}/00000000-0000-0000-0000-000000000009", headers=auth(DISCLOSER, "intake"))
    assert nothing.status_code == 404 and nothing.json()["type"] == hidden.json()["type"]


@pytest.mark.parametrize(("path", "body", "missing"), RECORDED[1:], ids=[p for p, _, _ in RECORDED[1:]])
def test_the_id_of_something_else_is_no_restriction_or_refusal(
    consent_api: Callable[..., TestClient], auth: Auth, path: str, body: dict[str, Any], missing: str
) -> None:
    """A consent's id read as a restriction or a refusal: not found, as nothing is."""
    api = consent_api()
    consent = api.post("/v1/consents", json=CONSENT, headers=auth(DISCLOSER, "intake")).json()
    other = api.get(f"{path}/{consent['id']}", headers=auth(DISCLOSER, "intake"))
    assert other.status_code == 404 and other.json()["type"].endswith(f":{missing}"), other.text
