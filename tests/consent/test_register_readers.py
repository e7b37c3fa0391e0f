"""Who reads the disclosure register: an entry names the person, the danger assessed and the reasons given. The
discloser's coordinators and auditors read its whole register (network auditors: every organisation's); its other
members (intake, clinician, admin) read only the entries they made themselves; anyone else is refused (403)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.contract.codes import OrgKind
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT, T0, organisation_event
from tests.consent.test_api import ASK, _observe

Auth = Callable[..., dict[str, str]]
DANGER = {
    "act": "SUICIDE",
    "risk": "DEATH",
    "at_risk": "USER",
    "urgent": True,
    "recipient_role": "HELPER",
    "authorised_by": "DSP-1",
    "ref": "EVAL-7",
}
CRISIS = {
    **ASK,
    "purpose": "EMERGENCY",
    "categories": ["CONTACT"],
    "context": {"danger_assessment": DANGER, "reasons": "appel 811"},
}
ORDER = {**ASK, "subject_id": "S-000777", "purpose": "LEGAL_ORDER", "context": {"court_order_ref": "CO-1"}}


@pytest.fixture
def register(
    consent_api: Callable[..., TestClient], auth: Auth, token: Callable[..., str]
) -> tuple[TestClient, dict[str, str]]:
    """The discloser's register: a crisis worker's disclosure, a front-desk clerk's, and one a platform service made
    for the recipient's worker; the entry ids by who made them."""
    api = consent_api()
    _observe(api, organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=30)))
    made = {}
    for sub, role, body in (("crisis-worker", "clinician", CRISIS), ("front-desk", "intake", ORDER)):
        entry = api.post("/v1/disclosures", json=body, headers=auth(DISCLOSER, role, sub=sub)).json()
        assert entry["register_entry_id"], entry
        made[sub] = entry["register_entry_id"]
    service = {
        **auth("rls-platform", "service", sub="service:referral"),
        "Requester-Token": token(RECIPIENT, "clinician", sub="worker-b"),
    }
    made["worker-b"] = api.post("/v1/disclosures", json=ORDER, headers=service).json()["register_entry_id"]
    return api, made


def _read(api: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = api.get("/v1/register", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [e["register_entry_id"] for e in response.json()["items"]]


@pytest.mark.parametrize("role", ["coordinator", "auditor"])
def test_the_disclosers_coordinators_and_auditors_read_its_whole_register(
    register: tuple[TestClient, dict[str, str]], auth: Auth, role: str
) -> None:
    api, made = register
    assert _read(api, auth(DISCLOSER, role, sub="someone")) == list(made.values())
    assert _read(api, auth("ministry", "network-auditor")) == list(made.values())


@pytest.mark.parametrize("role", ["intake", "clinician", "admin"])
def test_the_disclosers_other_members_read_only_the_entries_they_made(
    register: tuple[TestClient, dict[str, str]], auth: Auth, role: str
) -> None:
    """An IT admin or a front-desk clerk read every person's suicide-risk disclosures and their reasons."""
    api, made = register
    assert _read(api, auth(DISCLOSER, role, sub="crisis-worker")) == [made["crisis-worker"]]
    assert _read(api, auth(DISCLOSER, role, sub="front-desk")) == [made["front-desk"]]
    assert _read(api, auth(DISCLOSER, role, sub="it-admin")) == []
    assert _read(api, auth(DISCLOSER, role, sub="front-desk"), subject_id=SUBJECT) == []
    # the entry a platform service made for the recipient's worker (`disclosed_by`: that worker) is no member's
    assert made["worker-b"] not in _read(api, auth(DISCLOSER, role, sub="crisis-worker"))


def test_a_member_pages_through_the_entries_they_made(register: tuple[TestClient, dict[str, str]], auth: Auth) -> None:
    api, made = register
    clerk = auth(DISCLOSER, "intake", sub="front-desk")
    more = [api.post("/v1/disclosures", json=ORDER, headers=clerk).json()["register_entry_id"] for _ in range(2)]
    seen, cursor = [], None
    while True:
        page = api.get("/v1/register", params={"limit": 1, **({"cursor": cursor} if cursor else {})}, headers=clerk)
        seen += [e["register_entry_id"] for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [made["front-desk"], *more]


def test_who_is_not_of_the_discloser_is_refused(register: tuple[TestClient, dict[str, str]], auth: Auth) -> None:
    api, _ = register
    for headers in (auth(RECIPIENT, "auditor"), auth(RECIPIENT, "clinician", sub="worker-b")):
        assert _read(api, headers) == []  # the recipient's register: not the discloser's entries
    service = api.get("/v1/register", headers=auth("rls-platform", "service", sub="service:referral"))
    assert service.status_code == 403 and service.json()["type"].endswith(":forbidden"), service.text
