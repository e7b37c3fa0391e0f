"""Drafting and amending: the rules of each kind of agreement, and the terms every agreement has → 422 naming the
field, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.application import Agreements
from services.agreements.domain import AgreementInvalidError, checked_terms
from services.agreements.terms import REQUIRED_TERMS
from tests.agreements.conftest import (
    CRISIS,
    CSSS,
    OUTSIDER,
    REGIONAL,
    actor,
    application_of,
    collaboration,
    problem_field,
    service_108,
    service_terms,
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


@pytest.mark.parametrize("kind", ["service_108", "collaboration"])
@pytest.mark.parametrize("field", REQUIRED_TERMS)
def test_an_amendment_removing_a_required_term_of_a_draft_is_refused_naming_it_and_reads_still_answer(
    network: TestClient, auth: Auth, field: str, kind: str
) -> None:
    app = application_of(network)
    body = collaboration() if kind == "collaboration" else service_108()
    draft = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    before = app.recorder.max_notification_id()
    url = f"/v1/agreements/{draft['id']}"
    response = network.post(f"{url}/amend", json={field: None}, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == field
    assert app.recorder.max_notification_id() == before
    read = network.get(url, headers=auth(REGIONAL, "intake"))
    assert (read.status_code, read.json()["version"], read.json()[field]) == (200, 1, draft[field])
    assert network.get("/v1/agreements", headers=auth(REGIONAL, "intake")).status_code == 200


def test_a_proposal_removing_a_required_term_of_a_signed_agreement_is_refused(network: TestClient, auth: Auth) -> None:
    body = service_108(start="2026-01-01")
    agreement = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    for party in agreement["parties"]:
        network.post(f"/v1/agreements/{agreement['id']}/sign", headers=auth(party, "coordinator"))
    url = f"/v1/agreements/{agreement['id']}"
    response = network.post(f"{url}/amend", json={"title": None}, headers=auth(CSSS, "coordinator"))
    assert (response.status_code, problem_field(response.json())) == (422, "title")
    assert network.get(url, headers=auth(CSSS, "intake")).json()["proposal"] is None


def test_null_removes_a_term_an_agreement_may_lack(network: TestClient, auth: Auth) -> None:
    draft = network.post("/v1/agreements", json=collaboration(end="2027-10-31"), headers=auth(CSSS, "coordinator"))
    removed = {"end": None, "mechanisms": None, "responsibilities": None, "on_behalf": None}
    response = network.post(
        f"/v1/agreements/{draft.json()['id']}/amend", json=removed, headers=auth(CSSS, "coordinator")
    )
    assert response.status_code == 200, response.text
    amended = response.json()
    assert (amended["end"], amended["mechanisms"], amended["responsibilities"]) == (None, [], [])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", None),
        ("title", None),
        ("title", "  "),
        ("clientele", None),
        ("services", ()),
        ("start", None),
        ("review_every_months", None),
        ("review_every_months", 0),
    ],
)
def test_the_domain_refuses_terms_without_a_required_term_whatever_the_path(field: str, value: Any) -> None:
    with pytest.raises(AgreementInvalidError) as refused:
        checked_terms(service_terms(**{field: value}), {CSSS: "CSSS", REGIONAL: "REGIONAL_ESTABLISHMENT"})
    assert refused.value.field == field


def test_the_application_records_no_amendment_without_a_required_term(agreements: Agreements) -> None:
    draft, _ = agreements.draft(service_terms(), actor(CSSS))
    before = agreements.recorder.max_notification_id()
    with pytest.raises(AgreementInvalidError) as refused:
        agreements.amend(draft.id, {"title": None}, actor(CSSS))
    assert refused.value.field == "title"
    assert agreements.recorder.max_notification_id() == before
