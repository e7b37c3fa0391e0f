"""Who reads what: the directory and the agreements' terms are known to the network; the use of an agreement's volumes
(how many referrals between its parties were accepted, and when) only to its parties and network auditors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.agreements import inbound
from services.agreements.access import POLICY
from tests.access_matrix import granted, mismatches
from tests.agreements.conftest import CSSS, OUTSIDER, REGIONAL, accepted, application_of, service_108, sign_all

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def counted(network: TestClient, auth: Auth) -> dict[str, Any]:
    """An agreement in force between the CSSS and the regional establishment, one referral accepted under it."""
    body = service_108(start="2026-01-01")
    agreement = sign_all(
        network, auth, network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    )
    event = accepted("r-1", datetime(2026, 11, 25, 16, tzinfo=UTC), agreement["id"])  # once signed (in force)
    inbound.handler(application_of(network))(event, Tracking("rls.referral.v1#0", 1))
    return agreement


def test_an_organisation_not_party_to_the_agreement_does_not_read_its_volumes(
    network: TestClient, auth: Auth, counted: dict[str, Any]
) -> None:
    url = f"/v1/agreements/{counted['id']}/volumes"
    refused = [network.get(url, headers=auth(OUTSIDER, role)) for role in ("intake", "coordinator", "auditor", "admin")]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert '"used"' not in response.text
    terms = network.get(f"/v1/agreements/{counted['id']}", headers=auth(OUTSIDER, "intake"))
    assert (terms.status_code, terms.json()["volumes"]) == (200, [{"service": "SPECIALISED_SERVICES", "per_year": 10}])


def test_the_parties_and_network_auditors_read_the_volumes(
    network: TestClient, auth: Auth, counted: dict[str, Any]
) -> None:
    url = f"/v1/agreements/{counted['id']}/volumes"
    readers = [auth(CSSS, "intake"), auth(REGIONAL, "auditor"), auth(OUTSIDER, "network-auditor")]
    used = [[line["used"] for line in network.get(url, headers=headers).json()] for headers in readers]
    assert used == [[1], [1], [1]]


def test_volumes_answer_every_role_of_every_organisation_as_the_policy_says(
    network: TestClient, auth: Auth, counted: dict[str, Any]
) -> None:
    url = f"/v1/agreements/{counted['id']}/volumes"

    def probe(org: str, role: str) -> bool:
        return granted(network.get(url, headers=auth(org, role)), {200})

    assert mismatches(POLICY, "agreement_volumes", {"party": [CSSS, REGIONAL]}, probe) == []
