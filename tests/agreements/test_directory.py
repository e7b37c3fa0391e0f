"""The directory of organisations: registration and search."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from services.agreements.access import POLICY
from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from services.runtime import demo
from tests.access_matrix import granted, mismatches
from tests.agreements.conftest import CRISIS, CSSS, LISTENING, NETWORK, REGIONAL

Auth = Callable[..., dict[str, str]]


def ids(api: TestClient, auth: Auth, query: str) -> list[str]:
    response = api.get(f"/v1/organisations?{query}", headers=auth(CRISIS, "intake"))
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["items"]]


def test_registered_organisation_is_read_back(network: TestClient, auth: Auth) -> None:
    response = network.get(f"/v1/organisations/{CRISIS}", headers=auth(CSSS, "intake"))
    assert response.json() == {
        "id": CRISIS,
        "name": "Centre de crise C",
        "kind": "COMMUNITY_ORGANISATION",
        "territory": "RLS Nord",
        "services": ["COMMUNITY_SERVICE", "CRISIS_24_7"],
    }


def test_registering_the_same_id_twice_is_a_conflict(network: TestClient, auth: Auth) -> None:
    response = network.post("/v1/organisations", json=NETWORK[0], headers=auth(PLATFORM_ORG, "admin"))
    assert response.status_code == 409


def test_unknown_organisation_is_not_found(network: TestClient, auth: Auth) -> None:
    assert network.get("/v1/organisations/nobody", headers=auth(CSSS, "intake")).status_code == 404


def test_an_id_is_generated_when_none_is_chosen(api: TestClient, auth: Auth) -> None:
    body = {"name": "Maison E", "kind": "COMMUNITY_ORGANISATION", "territory": "RLS Sud", "services": []}
    response = api.post("/v1/organisations", json=body, headers=auth(PLATFORM_ORG, "admin"))
    assert response.status_code == 201 and response.json()["id"].startswith("org-")


def test_who_offers_a_service_on_a_territory(network: TestClient, auth: Auth) -> None:
    assert ids(network, auth, "service=CRISIS_24_7&territory=rls%20nord") == [CRISIS, CSSS]
    assert ids(network, auth, "service=COMMUNITY_SERVICE") == [CRISIS, LISTENING]
    assert ids(network, auth, "kind=COMMUNITY_ORGANISATION&territory=Région Est") == [LISTENING]
    assert ids(network, auth, "kind=REGIONAL_ESTABLISHMENT") == [REGIONAL]
    assert ids(network, auth, "service=CIVIL_SECURITY") == []


def test_search_pages_with_a_cursor(network: TestClient, auth: Auth) -> None:
    first = network.get("/v1/organisations?limit=2", headers=auth(CSSS, "intake")).json()
    second = network.get(f"/v1/organisations?limit=2&cursor={first['next_cursor']}", headers=auth(CSSS, "intake"))
    rest = network.get(f"/v1/organisations?limit=5&cursor={second.json()['next_cursor']}", headers=auth(CSSS, "intake"))
    seen = [o["id"] for page in (first, second.json(), rest.json()) for o in page["items"]]
    assert seen == sorted(o["id"] for o in NETWORK)
    assert rest.json()["next_cursor"] is None


def test_unknown_service_code_in_a_search_is_invalid(network: TestClient, auth: Auth) -> None:
    response = network.get("/v1/organisations?service=KARAOKE", headers=auth(CSSS, "intake"))
    assert response.status_code == 422


def test_only_admins_register_organisations(api: TestClient, auth: Auth) -> None:
    response = api.post("/v1/organisations", json=NETWORK[0], headers=auth(CSSS, "coordinator"))
    assert response.status_code == 403


NEWCOMER = {"id": "maison-f", "name": "Maison F", "kind": "CSSS", "territory": "RLS Sud", "services": ["AAOR"]}
"""A community organisation's house registered as a CSSS would take the legal routes of an institution."""


@pytest.mark.parametrize("org", [CSSS, NEWCOMER["id"]])
def test_an_establishments_admin_registers_no_organisation_not_even_itself(
    network: TestClient, auth: Auth, org: str
) -> None:
    """An organisation's kind decides which legal routes the consent service applies to it (institution or community
    organisation): only the platform's administrator registers one, never an establishment, not even for itself."""
    response = network.post("/v1/organisations", json=NEWCOMER, headers=auth(org, "admin"))
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "urn:ca.qc.rls:problem:forbidden"
    assert network.get(f"/v1/organisations/{NEWCOMER['id']}", headers=auth(CSSS, "intake")).status_code == 404
    assert NEWCOMER["id"] not in ids(network, auth, "kind=CSSS")


def test_the_platforms_admin_registers_organisations(network: TestClient, auth: Auth) -> None:
    response = network.post("/v1/organisations", json=NEWCOMER, headers=auth(PLATFORM_ORG, "admin"))
    assert response.status_code == 201, response.text
    assert network.get(f"/v1/organisations/{NEWCOMER['id']}", headers=auth(CSSS, "intake")).json()["kind"] == "CSSS"


def test_registration_answers_every_role_of_every_organisation_as_the_policy_says(api: TestClient, auth: Auth) -> None:
    def probe(org: str, role: str) -> bool:
        body = {**NEWCOMER, "id": f"maison-{uuid.uuid4().hex[:8]}"}
        return granted(api.post("/v1/organisations", json=body, headers=auth(org, role)), {201})

    assert mismatches(POLICY, "register_organisation", {"registered": CSSS}, probe) == []


def test_the_demo_network_still_loads(
    api: TestClient, auth: Auth, token: Callable[..., str], clock: ManualClock
) -> None:
    """As `make run` loads it: the platform's administrator registers the organisations, the CSSS drafts each
    agreement and every party signs it."""
    agreement_ids = demo.register_network(api, lambda org, roles: token(org, *roles), clock().date())
    registered = ids(api, auth, "limit=100")
    assert registered == sorted(o["id"] for o in demo.ORGANISATIONS)
    for agreement_id in agreement_ids:
        agreement = api.get(f"/v1/agreements/{agreement_id}", headers=auth(demo.CSSS, "intake")).json()
        assert agreement["status"] == "ACTIVE", agreement
