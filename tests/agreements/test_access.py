"""Who reads what: the directory and the agreements' terms are known to the network; the use of an agreement's volumes
(how many referrals between its parties were accepted, and when) only to its parties (an establishment's own `service`
principal included), network auditors and the platform's own services. Who acts: the parties of the latest terms, not
an organisation an earlier draft named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.agreements import inbound
from services.agreements.access import POLICY
from services.common.auth import PLATFORM_ORG
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
    roles = ("intake", "coordinator", "auditor", "admin", "service")  # `service`: the outsider's telephony system
    refused = [network.get(url, headers=auth(OUTSIDER, role)) for role in roles]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert '"used"' not in response.text
    terms = network.get(f"/v1/agreements/{counted['id']}", headers=auth(OUTSIDER, "intake"))
    assert (terms.status_code, terms.json()["volumes"]) == (200, [{"service": "SPECIALISED_SERVICES", "per_year": 10}])


def test_the_parties_network_auditors_and_platform_services_read_the_volumes(
    network: TestClient, auth: Auth, counted: dict[str, Any]
) -> None:
    url = f"/v1/agreements/{counted['id']}/volumes"
    readers = [
        auth(CSSS, "intake"),
        auth(REGIONAL, "auditor"),
        auth(REGIONAL, "service"),
        auth(OUTSIDER, "network-auditor"),
        auth(PLATFORM_ORG, "service"),
    ]
    used = [[line["used"] for line in network.get(url, headers=headers).json()] for headers in readers]
    assert used == [[1]] * len(readers)


@pytest.mark.parametrize(
    ("method", "action", "operation"),
    [("GET", "volumes", "agreement_volumes"), ("POST", "review", "review_agreement")],
)
def test_reads_and_changes_answer_every_role_of_every_organisation_as_the_policy_says(
    network: TestClient, auth: Auth, counted: dict[str, Any], method: str, action: str, operation: str
) -> None:
    url = f"/v1/agreements/{counted['id']}/{action}"

    def probe(org: str, role: str) -> bool:
        return granted(network.request(method, url, headers=auth(org, role)), {200})

    assert mismatches(POLICY, operation, {"party": [CSSS, REGIONAL]}, probe) == []


@pytest.fixture
def without_outsider(network: TestClient, auth: Auth) -> dict[str, Any]:
    """An agreement in force between the CSSS and the regional establishment, whose first draft also named the
    clinic (amended out before anyone signed); one referral accepted under it."""
    body = service_108(start="2026-01-01", parties=[CSSS, REGIONAL, OUTSIDER])
    draft = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    amended = network.post(
        f"/v1/agreements/{draft['id']}/amend", json={"parties": [CSSS, REGIONAL]}, headers=auth(CSSS, "coordinator")
    )
    agreement = sign_all(network, auth, amended.json())
    assert (agreement["status"], agreement["parties"]) == ("ACTIVE", [CSSS, REGIONAL])
    event = accepted("r-1", datetime(2026, 11, 25, 16, tzinfo=UTC), agreement["id"])
    inbound.handler(application_of(network))(event, Tracking("rls.referral.v1#0", 1))
    return agreement


CHANGES: dict[str, dict[str, Any] | None] = {
    "amend": {"title": "Entente modifiée"},
    "suspend": {"reason": "x"},
    "resume": None,
    "terminate": {"reason": "x"},
    "renew": {"end": "2028-12-31"},
    "review": None,
    "sign": None,
    "decline": {"reason": "x"},
}


def ready_for(network: TestClient, auth: Auth, url: str, command: str) -> dict[str, Any]:
    """The agreement in force at `url` made ready for `command` by its parties (a proposal awaits signatures, or it is
    suspended); the agreement then."""
    if command in ("sign", "decline"):
        network.post(f"{url}/amend", json={"title": "Entente modifiée"}, headers=auth(CSSS, "coordinator"))
    if command == "resume":
        network.post(f"{url}/suspend", json={"reason": "x"}, headers=auth(REGIONAL, "coordinator"))
    return dict(network.get(url, headers=auth(CSSS, "intake")).json())


def refused_unchanged(network: TestClient, auth: Auth, url: str, command: str, role: str) -> dict[str, Any]:
    """`command` on the agreement at `url`, made ready for it, posted by OUTSIDER's `role`: a 403 (its problem
    returned), the agreement unchanged."""
    before = ready_for(network, auth, url, command)
    response = network.post(f"{url}/{command}", json=CHANGES[command], headers=auth(OUTSIDER, role))
    assert response.status_code == 403, response.text
    assert network.get(url, headers=auth(CSSS, "intake")).json() == before
    return dict(response.json())


@pytest.mark.parametrize("command", list(CHANGES))
def test_an_organisation_an_earlier_draft_named_is_no_party_once_amended_out(
    network: TestClient, auth: Auth, without_outsider: dict[str, Any], command: str
) -> None:
    url = f"/v1/agreements/{without_outsider['id']}"
    refused_unchanged(network, auth, url, command, "coordinator")
    assert network.get(f"{url}/volumes", headers=auth(OUTSIDER, "intake")).status_code == 403


# --- an establishment's admin and the platform's -------------------------------------------------------------------
# Role `admin` is an establishment's (it asks for its own Kafka credentials, manages its subscriptions): it acts for
# its own organisation only. The platform's administrator (`admin` of PLATFORM_ORG) acts on any agreement, signing
# for none.


@pytest.mark.parametrize("command", list(CHANGES))
def test_an_establishments_admin_changes_no_agreement_of_other_organisations(
    network: TestClient, auth: Auth, counted: dict[str, Any], command: str
) -> None:
    url = f"/v1/agreements/{counted['id']}"
    problem = refused_unchanged(network, auth, url, command, "admin")
    assert problem["type"] == "urn:ca.qc.rls:problem:forbidden"


def test_an_establishments_admin_drafts_no_agreement_between_other_organisations(
    network: TestClient, auth: Auth
) -> None:
    response = network.post("/v1/agreements", json=service_108(), headers=auth(OUTSIDER, "admin"))
    assert response.status_code == 403, response.text
    listed = network.get("/v1/agreements", params={"party": CSSS}, headers=auth(CSSS, "intake")).json()
    assert listed["items"] == []


def test_the_platforms_admin_acts_on_any_agreement_but_signs_for_no_organisation(
    network: TestClient, auth: Auth
) -> None:
    platform = auth(PLATFORM_ORG, "admin")
    drafted = network.post("/v1/agreements", json=service_108(start="2026-01-01"), headers=platform)
    assert drafted.status_code == 201, drafted.text
    url = f"/v1/agreements/{drafted.json()['id']}"
    assert network.post(f"{url}/sign", headers=platform).status_code == 403
    agreement = sign_all(network, auth, drafted.json())
    suspended = network.post(f"{url}/suspend", json={"reason": "x"}, headers=platform)
    assert (agreement["status"], suspended.status_code, suspended.json()["status"]) == ("ACTIVE", 200, "SUSPENDED")


def test_the_parties_act_on_an_agreement_an_earlier_draft_named_another_organisation_in(
    network: TestClient, auth: Auth, without_outsider: dict[str, Any]
) -> None:
    url = f"/v1/agreements/{without_outsider['id']}"
    assert [line["used"] for line in network.get(f"{url}/volumes", headers=auth(REGIONAL, "intake")).json()] == [1]
    suspended = network.post(f"{url}/suspend", json={"reason": "x"}, headers=auth(REGIONAL, "coordinator"))
    resumed = network.post(f"{url}/resume", headers=auth(REGIONAL, "coordinator"))
    assert (suspended.json()["status"], resumed.json()["status"]) == ("SUSPENDED", "ACTIVE")


def test_an_organisation_added_to_a_draft_is_a_party_at_once(network: TestClient, auth: Auth) -> None:
    draft = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator")).json()
    url = f"/v1/agreements/{draft['id']}"
    before = network.post(f"{url}/sign", headers=auth(OUTSIDER, "coordinator"))
    network.post(f"{url}/amend", json={"parties": [CSSS, REGIONAL, OUTSIDER]}, headers=auth(CSSS, "coordinator"))
    after = network.post(f"{url}/sign", headers=auth(OUTSIDER, "coordinator"))
    assert (before.status_code, after.status_code) == (403, 200)
