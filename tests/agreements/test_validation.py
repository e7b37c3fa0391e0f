"""Drafting and amending: the rules of each kind of agreement → 422 naming the field, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.agreements.conftest import (
    CRISIS,
    CSSS,
    OUTSIDER,
    REGIONAL,
    application_of,
    collaboration,
    problem_field,
    service_108,
)

Auth = Callable[..., dict[str, str]]

INVALID = {
    "service_108_without_end": (service_108(end=None), "end"),
    "service_108_without_volumes": (service_108(volumes=None), "volumes"),
    "service_108_with_empty_volumes": (service_108(volumes=[]), "volumes"),
    "volumes_for_a_service_not_covered": (service_108(volumes=[{"service": "AAOR", "per_year": 3}]), "volumes"),
    "two_volumes_for_one_service": (
        service_108(volumes=[{"service": "SPECIALISED_SERVICES", "per_year": 3}] * 2),
        "volumes",
    ),
    "collaboration_with_funding": (collaboration(funding={"amount": "1000.00", "currency": "CAD"}), "funding"),
    "collaboration_with_volumes": (collaboration(volumes=[{"service": "CRISIS_24_7", "per_year": 5}]), "volumes"),
    "collaboration_with_information_sharing": (
        collaboration(information_sharing={"categories": ["IDENTIFICATION"]}),
        "information_sharing",
    ),
    "one_party": (service_108(parties=[CSSS]), "parties"),
    "the_same_party_twice": (service_108(parties=[CSSS, CSSS]), "parties"),
    "unknown_organisation": (service_108(parties=[CSSS, "nobody-here"]), "parties"),
    "end_before_start": (service_108(start="2027-06-01", end="2027-05-31"), "end"),
    "collaboration_ending_before_it_starts": (collaboration(end="2026-10-31"), "end"),
    "community_party_without_respect_of_its_orientations": (
        collaboration(respects_community_orientations=False),
        "respects_community_orientations",
    ),
    "negative_volume": (
        service_108(volumes=[{"service": "SPECIALISED_SERVICES", "per_year": -1}]),
        "volumes.0.per_year",
    ),
    "unknown_kind": (service_108(kind="CONTRACT"), "kind"),
}


@pytest.mark.parametrize(("body", "field"), INVALID.values(), ids=list(INVALID))
def test_invalid_agreement_is_refused_naming_the_field_and_nothing_is_stored(
    network: TestClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    app = application_of(network)
    before = app.recorder.max_notification_id()
    response = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem_field(response.json()) == field
    assert app.recorder.max_notification_id() == before
    assert network.get("/v1/agreements", headers=auth(CSSS, "auditor")).json()["items"] == []


def test_community_orientations_are_recorded_only_with_a_community_party(network: TestClient, auth: Auth) -> None:
    headers = auth(CSSS, "coordinator")
    with_community = network.post("/v1/agreements", json=collaboration(), headers=headers).json()
    without = network.post("/v1/agreements", json=service_108(), headers=headers).json()
    assert with_community["respects_community_orientations"] is True
    assert without["respects_community_orientations"] is False


def test_service_agreement_carries_funding_and_information_sharing(network: TestClient, auth: Auth) -> None:
    body = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator")).json()
    assert body["funding"] == {"amount": "250000.00", "currency": "CAD"}
    assert body["information_sharing"] == {"categories": ["IDENTIFICATION", "REFERRAL_REASON"]}
    assert body["volumes"] == [{"service": "SPECIALISED_SERVICES", "per_year": 10}]


INVALID_AMENDMENTS = {
    "funding_on_a_collaboration": ({"funding": {"amount": "5.00", "currency": "CAD"}}, "funding", "collaboration"),
    "removing_the_end_of_a_service_agreement": ({"end": None}, "end", "service_108"),
    "removing_the_volumes": ({"volumes": []}, "volumes", "service_108"),
    "adding_a_party_once_signed": ({"parties": [CSSS, REGIONAL, OUTSIDER]}, "parties", "service_108"),
    "moving_the_start_once_in_force": ({"start": "2026-02-01"}, "start", "service_108"),
    "ending_in_the_past": ({"end": "2026-06-30"}, "end", "service_108"),
}


@pytest.mark.parametrize(("changes", "field", "kind"), INVALID_AMENDMENTS.values(), ids=list(INVALID_AMENDMENTS))
def test_invalid_amendment_is_refused_and_the_terms_stay(
    network: TestClient, auth: Auth, changes: dict[str, Any], field: str, kind: str
) -> None:
    body = collaboration() if kind == "collaboration" else service_108(start="2026-01-01")
    agreement = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    for party in agreement["parties"]:
        network.post(f"/v1/agreements/{agreement['id']}/sign", headers=auth(party, "coordinator"))
    response = network.post(f"/v1/agreements/{agreement['id']}/amend", json=changes, headers=auth(CSSS, "coordinator"))
    after = network.get(f"/v1/agreements/{agreement['id']}", headers=auth(CRISIS, "auditor")).json()
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == field
    assert (after["status"], after["version"]) == ("ACTIVE", 1)
