"""`GET /v1/coverage`: which agreement covers a referral, at a given time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from tests.agreements.conftest import (
    CRISIS,
    CSSS,
    LISTENING,
    OUTSIDER,
    REGIONAL,
    application_of,
    collaboration,
    service_108,
    sign_all,
)

Auth = Callable[..., dict[str, str]]
SPECIALISED = "SPECIALISED_SERVICES"


def covering(api: TestClient, auth: Auth, from_org: str, to_org: str, service: str, at: str | None = None) -> Any:
    query = {"from_org": from_org, "to_org": to_org, "service": service, **({"at": at} if at else {})}
    response = api.get("/v1/coverage", params=query, headers=auth(from_org, "intake"))
    assert response.status_code == 200, response.text
    return response.json()["agreement_id"]


def in_force(api: TestClient, auth: Auth, body: dict[str, Any]) -> str:
    agreement = api.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    return str(sign_all(api, auth, agreement)["id"])


def test_coverage_before_during_and_after_the_term(network: TestClient, auth: Auth, clock: ManualClock) -> None:
    agreement_id = in_force(network, auth, service_108())  # 2027-01-01 .. 2027-12-31, signed today
    times = [
        "2026-12-31T23:59:00-05:00",
        "2027-01-01T00:00:00-05:00",
        "2027-12-31T23:59:00-05:00",
        "2028-01-01T00:00:00-05:00",
    ]

    def answers() -> list[Any]:
        return [covering(network, auth, CSSS, REGIONAL, SPECIALISED, at) for at in times]

    signed = answers()
    clock.now = datetime(2028, 2, 1, tzinfo=UTC)
    application_of(network).tick()  # activation and expiry recorded
    recorded = answers()
    expected = [None, agreement_id, agreement_id, None]
    assert signed == expected and recorded == expected
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED) is None  # now: expired


def test_coverage_applies_in_both_directions_between_parties_only(network: TestClient, auth: Auth) -> None:
    agreement_id = in_force(network, auth, collaboration())  # in force since its last signature, now
    assert covering(network, auth, CRISIS, CSSS, "CRISIS_24_7") == agreement_id
    assert covering(network, auth, CSSS, LISTENING, "COMMUNITY_SERVICE") == agreement_id
    assert covering(network, auth, CSSS, OUTSIDER, "CRISIS_24_7") is None
    assert covering(network, auth, CSSS, CRISIS, "PSYCH_CONSULT") is None
    assert covering(network, auth, CSSS, CSSS, "CRISIS_24_7") is None


def test_no_coverage_while_suspended(network: TestClient, auth: Auth, clock: ManualClock) -> None:
    agreement_id = in_force(network, auth, service_108(start="2026-01-01"))
    before = clock().isoformat()
    clock.advance(timedelta(hours=1))
    network.post(f"/v1/agreements/{agreement_id}/suspend", headers=auth(CSSS, "coordinator"))
    during = clock().isoformat()
    while_suspended = covering(network, auth, CSSS, REGIONAL, SPECIALISED)
    clock.advance(timedelta(days=3))
    network.post(f"/v1/agreements/{agreement_id}/resume", headers=auth(CSSS, "coordinator"))
    assert while_suspended is None
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED, during) is None
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED, before) == agreement_id
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED) == agreement_id


def test_coverage_follows_an_amendment_that_changed_the_services(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    agreement_id = in_force(network, auth, service_108(start="2026-01-01"))
    before = clock().isoformat()
    clock.advance(timedelta(days=2))
    amendment = {"services": ["AAOR"], "volumes": [{"service": "AAOR", "per_year": 4}]}
    response = network.post(
        f"/v1/agreements/{agreement_id}/amend", json=amendment, headers=auth(REGIONAL, "coordinator")
    )
    assert response.status_code == 200, response.text
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED) == agreement_id, "proposed, not yet signed"
    sign_all(network, auth, response.json())
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED, before) == agreement_id
    assert covering(network, auth, CSSS, REGIONAL, "AAOR", before) is None
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED) is None
    assert covering(network, auth, CSSS, REGIONAL, "AAOR") == agreement_id


def test_service_agreement_is_preferred_to_a_collaboration_agreement(network: TestClient, auth: Auth) -> None:
    collaboration_id = in_force(network, auth, collaboration())
    service_id = in_force(
        network,
        auth,
        service_108(
            parties=[CSSS, CRISIS],
            services=["CRISIS_24_7"],
            volumes=[{"service": "CRISIS_24_7", "per_year": 50}],
            start="2026-01-01",
        ),
    )
    response = network.get(
        "/v1/coverage",
        params={"from_org": CSSS, "to_org": CRISIS, "service": "CRISIS_24_7"},
        headers=auth(CSSS, "intake"),
    ).json()
    assert collaboration_id != service_id
    assert response == {
        "agreement_id": service_id,
        "kind": "SERVICE_108",
        "version": 1,
        "on_behalf": False,
        "clause_categories": [],
    }
    assert covering(network, auth, CSSS, CRISIS, "COMMUNITY_SERVICE") == collaboration_id


def test_no_agreement_answers_nulls(network: TestClient, auth: Auth) -> None:
    response = network.get(
        "/v1/coverage", params={"from_org": CSSS, "to_org": REGIONAL, "service": "AAOR"}, headers=auth(CSSS, "intake")
    )
    assert response.json() == {
        "agreement_id": None,
        "kind": None,
        "version": None,
        "on_behalf": False,
        "clause_categories": [],
    }


@pytest.mark.parametrize("missing", ["from_org", "to_org", "service"])
def test_coverage_needs_both_organisations_and_the_service(network: TestClient, auth: Auth, missing: str) -> None:
    query = {"from_org": CSSS, "to_org": REGIONAL, "service": "AAOR"}
    del query[missing]
    response = network.get("/v1/coverage", params=query, headers=auth(CSSS, "intake"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == missing


def test_a_time_without_offset_is_read_in_montreal_time(network: TestClient, auth: Auth) -> None:
    agreement_id = in_force(network, auth, service_108())
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED, "2027-01-01T00:00:00") == agreement_id
    assert covering(network, auth, CSSS, REGIONAL, SPECIALISED, "2027-01-01T04:59:00Z") is None


def coverage_of(api: TestClient, auth: Auth, from_org: str, to_org: str, service: str) -> Any:
    query = {"from_org": from_org, "to_org": to_org, "service": service}
    return api.get("/v1/coverage", params=query, headers=auth(from_org, "intake")).json()


def test_on_behalf_only_for_the_declared_services_from_the_institution(network: TestClient, auth: Auth) -> None:
    """Art. 108 is narrow: the counterparty provides the declared services on the institution's behalf."""
    declared = service_108(
        parties=[CSSS, CRISIS],
        services=["CRISIS_24_7", "COMMUNITY_SERVICE"],
        volumes=[{"service": "CRISIS_24_7", "per_year": 50}],
        start="2026-01-01",
        on_behalf=[{"of_org": CSSS, "services": ["CRISIS_24_7"]}],
    )
    agreement_id = in_force(network, auth, declared)
    shown = network.get(f"/v1/agreements/{agreement_id}", headers=auth(CSSS, "intake")).json()
    assert shown["on_behalf"] == [{"of_org": CSSS, "services": ["CRISIS_24_7"]}]

    assert coverage_of(network, auth, CSSS, CRISIS, "CRISIS_24_7")["on_behalf"] is True
    other_service = coverage_of(network, auth, CSSS, CRISIS, "COMMUNITY_SERVICE")
    assert other_service["agreement_id"] == agreement_id and other_service["on_behalf"] is False
    other_direction = coverage_of(network, auth, CRISIS, CSSS, "CRISIS_24_7")
    assert other_direction["agreement_id"] == agreement_id and other_direction["on_behalf"] is False


def test_the_clauses_categories_come_with_coverage_on_the_institutions_behalf_only(
    network: TestClient, auth: Auth
) -> None:
    """The referral service asks the consent service for SERVICE_ON_BEHALF only for the clause's categories: coverage
    names them for the services provided on the institution's behalf, from the terms in force (an amendment counts
    once every party signed it), and for no other referral."""
    declared = service_108(
        parties=[CSSS, CRISIS],
        services=["CRISIS_24_7", "COMMUNITY_SERVICE"],
        volumes=[{"service": "CRISIS_24_7", "per_year": 50}],
        start="2026-01-01",
        on_behalf=[{"of_org": CSSS, "services": ["CRISIS_24_7"]}],
    )
    agreement_id = in_force(network, auth, declared)

    def clause(from_org: str, to_org: str, service: str) -> Any:
        return coverage_of(network, auth, from_org, to_org, service)["clause_categories"]

    assert clause(CSSS, CRISIS, "CRISIS_24_7") == ["IDENTIFICATION", "REFERRAL_REASON"]
    assert clause(CSSS, CRISIS, "COMMUNITY_SERVICE") == [] and clause(CRISIS, CSSS, "CRISIS_24_7") == []
    widened = {"information_sharing": {"categories": ["IDENTIFICATION", "REFERRAL_REASON", "CONTACT"]}}
    amended = network.post(f"/v1/agreements/{agreement_id}/amend", json=widened, headers=auth(CSSS, "coordinator"))
    assert amended.status_code == 200, amended.text
    assert clause(CSSS, CRISIS, "CRISIS_24_7") == ["IDENTIFICATION", "REFERRAL_REASON"], "proposed, not yet signed"
    sign_all(network, auth, amended.json())
    assert clause(CSSS, CRISIS, "CRISIS_24_7") == ["IDENTIFICATION", "REFERRAL_REASON", "CONTACT"]


def test_an_agreement_without_a_clause_names_no_category_on_the_institutions_behalf(
    network: TestClient, auth: Auth
) -> None:
    body = service_108(start="2026-01-01", on_behalf=[{"of_org": CSSS, "services": [SPECIALISED]}])
    del body["information_sharing"]
    in_force(network, auth, body)
    covered = coverage_of(network, auth, CSSS, REGIONAL, SPECIALISED)
    assert (covered["on_behalf"], covered["clause_categories"]) == (True, [])


def test_an_agreement_drafted_without_on_behalf_carries_nothing_on_its_behalf(network: TestClient, auth: Auth) -> None:
    in_force(network, auth, service_108(start="2026-01-01"))
    assert coverage_of(network, auth, CSSS, REGIONAL, SPECIALISED)["on_behalf"] is False


def test_an_amendment_declares_the_services_provided_on_behalf(network: TestClient, auth: Auth) -> None:
    agreement_id = in_force(network, auth, service_108(start="2026-01-01"))
    amendment = {"on_behalf": [{"of_org": CSSS, "services": [SPECIALISED]}]}
    response = network.post(f"/v1/agreements/{agreement_id}/amend", json=amendment, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 200, response.text
    proposed = coverage_of(network, auth, CSSS, REGIONAL, SPECIALISED)["on_behalf"]
    sign_all(network, auth, response.json())
    assert (proposed, coverage_of(network, auth, CSSS, REGIONAL, SPECIALISED)["on_behalf"]) == (False, True)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"on_behalf": [{"of_org": REGIONAL, "services": [SPECIALISED]}], "parties": [CSSS, CRISIS]}, "party"),
        ({"parties": [CRISIS, CSSS], "on_behalf": [{"of_org": CRISIS, "services": ["CRISIS_24_7"]}]}, "institution"),
        ({"on_behalf": [{"of_org": CSSS, "services": ["AAOR"]}]}, "covers"),
        (
            {"on_behalf": [{"of_org": CSSS, "services": [SPECIALISED]}, {"of_org": CSSS, "services": [SPECIALISED]}]},
            "twice",
        ),
    ],
)
def test_on_behalf_names_an_institution_party_and_services_of_the_agreement(
    network: TestClient, auth: Auth, changes: dict[str, Any], why: str
) -> None:
    body = service_108(**changes)
    if "parties" in changes:
        body.update(services=["CRISIS_24_7"], volumes=[{"service": "CRISIS_24_7", "per_year": 5}])
    response = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "on_behalf"


def test_a_collaboration_agreement_has_no_services_on_behalf(network: TestClient, auth: Auth) -> None:
    body = collaboration(on_behalf=[{"of_org": CSSS, "services": ["CRISIS_24_7"]}])
    response = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "on_behalf"
