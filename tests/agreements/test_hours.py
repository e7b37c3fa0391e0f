"""Service hours in the directory (`PUT /v1/organisations/{id}/services/{service}/hours`), their event, and the
conformance view against the hours standards (`GET /v1/conformance/hours`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from fastapi.testclient import TestClient

from services.agreements.api import HoursService
from services.agreements.main import outbox
from services.common.auth import PLATFORM_ORG
from services.contract.hours_standards import HOURS_STANDARDS, HoursPolicy
from tests.agreements.conftest import CRISIS, CSSS, REGIONAL, application_of, problem_field

Auth = Callable[..., dict[str, str]]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
BOTH = ["PHONE", "IN_PERSON"]
WEEK = "2026-11-23"
"""The Monday of the week holding NOW (2026-11-25)."""

AAOR_70 = {
    "weekly": [
        *(
            {"day": d, "opens": "08:00", "closes": "21:00", "channels": BOTH}
            for d in ("MON", "TUE", "WED", "THU", "FRI")
        ),
        {"day": "SAT", "opens": "09:00", "closes": "14:00", "channels": BOTH},
    ],
    "effective_from": WEEK,
}
"""65 hours on weekdays (evenings until 21:00) and 5 on Saturday, by phone and in person."""
ALL_DAY = {
    "weekly": [
        {"day": d, "opens": "00:00", "closes": "24:00", "channels": ["PHONE"]}
        for d in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
    ],
    "effective_from": WEEK,
}


def put(api: TestClient, auth: Auth, org: str, service: str, body: dict[str, Any], caller: str = CSSS) -> Any:
    return api.put(f"/v1/organisations/{org}/services/{service}/hours", json=body, headers=auth(caller, "coordinator"))


def conformance(api: TestClient, auth: Auth, **query: str) -> list[dict[str, Any]]:
    response = api.get("/v1/conformance/hours", params=query, headers=auth(REGIONAL, "auditor"))
    assert response.status_code == 200, response.text
    return list(response.json())


def by_standard(rows: list[dict[str, Any]], org: str) -> dict[str, dict[str, Any]]:
    return {(r["service"] + ":" + r["standard"]): r for r in rows if r["org_id"] == org}


def test_aaor_70_hours_with_evenings_and_a_weekend_conforms_on_both_channels(network: TestClient, auth: Auth) -> None:
    assert put(network, auth, CSSS, "AAOR", AAOR_70).status_code == 200
    rows = by_standard(conformance(network, auth, service="AAOR"), CSSS)
    phone = rows["AAOR:AAOR_HOURS_PHONE"]
    assert phone == phone | {"week_start": WEEK, "declared": True, "conforms": True, "hours": 70.0}
    assert (phone["evening_hours"], phone["weekend_hours"], phone["bound_hours"]) == (20.0, 5.0, 70.0)
    assert rows["AAOR:AAOR_HOURS_IN_PERSON"]["conforms"] is True


def test_in_person_without_evenings_or_weekend_does_not_conform(network: TestClient, auth: Auth) -> None:
    weekly = [
        *(
            {"day": d, "opens": "07:00", "closes": "17:00", "channels": BOTH}
            for d in ("MON", "TUE", "WED", "THU", "FRI")
        ),
        *({"day": d, "opens": "17:00", "closes": "21:00", "channels": ["PHONE"]} for d in ("MON", "TUE", "WED")),
        {"day": "SUN", "opens": "10:00", "closes": "18:00", "channels": ["PHONE"]},
    ]
    put(network, auth, CSSS, "AAOR", {"weekly": weekly, "effective_from": WEEK})
    rows = by_standard(conformance(network, auth), CSSS)
    assert rows["AAOR:AAOR_HOURS_PHONE"] | {"hours": 70.0, "conforms": True} == rows["AAOR:AAOR_HOURS_PHONE"]
    in_person = rows["AAOR:AAOR_HOURS_IN_PERSON"]
    assert (in_person["hours"], in_person["evening_hours"], in_person["conforms"]) == (50.0, 0.0, False)


def test_aaor_without_weekday_daytime_hours_does_not_conform(network: TestClient, auth: Auth) -> None:
    """Seed 000: accessible by phone and in person "de jour, de soir en semaine et ... les fins de semaine"."""
    weekly = [
        *(
            {"day": d, "opens": "17:00", "closes": "24:00", "channels": BOTH}
            for d in ("MON", "TUE", "WED", "THU", "FRI")
        ),
        *({"day": d, "opens": "00:00", "closes": "24:00", "channels": BOTH} for d in ("SAT", "SUN")),
    ]
    put(network, auth, CSSS, "AAOR", {"weekly": weekly, "effective_from": WEEK})
    phone = by_standard(conformance(network, auth, service="AAOR"), CSSS)["AAOR:AAOR_HOURS_PHONE"]
    assert (phone["hours"], phone["daytime_hours"], phone["evening_hours"]) == (83.0, 0.0, 35.0)
    assert phone["conforms"] is False
    put(network, auth, CSSS, "AAOR", AAOR_70)
    phone = by_standard(conformance(network, auth, service="AAOR"), CSSS)["AAOR:AAOR_HOURS_PHONE"]
    assert (phone["daytime_hours"], phone["conforms"]) == (45.0, True)


def test_crisis_24_7_an_exception_closing_a_day_breaks_it_and_undeclared_hours_conform_to_nothing(
    network: TestClient, auth: Auth
) -> None:
    from_eight = [{"opens": "08:00", "closes": "24:00", "channels": ["PHONE"]}]
    closed = {**ALL_DAY, "exceptions": [{"date": "2026-11-26", "openings": from_eight}]}
    put(network, auth, CSSS, "CRISIS_24_7", ALL_DAY)
    rows = conformance(network, auth, territory="rls nord", service="CRISIS_24_7")
    declared = by_standard(rows, CSSS)["CRISIS_24_7:HOURS_24_7"]
    assert (declared["declared"], declared["conforms"], declared["days_covered"]) == (True, True, 7)
    undeclared = by_standard(rows, CRISIS)["CRISIS_24_7:HOURS_24_7"]
    assert (undeclared["declared"], undeclared["conforms"], undeclared["days_covered"]) == (False, False, 0)
    put(network, auth, CSSS, "CRISIS_24_7", closed)
    after = by_standard(conformance(network, auth, service="CRISIS_24_7"), CSSS)["CRISIS_24_7:HOURS_24_7"]
    assert (after["days_covered"], after["conforms"]) == (6, False)
    next_week = conformance(network, auth, service="CRISIS_24_7", week_of="2026-12-01")
    assert by_standard(next_week, CSSS)["CRISIS_24_7:HOURS_24_7"]["conforms"] is True


def test_hours_are_on_the_topic_once_and_valid_against_their_schema(network: TestClient, auth: Auth) -> None:
    first = put(network, auth, CSSS, "AAOR", AAOR_70)
    again = put(network, auth, CSSS, "AAOR", AAOR_70)
    assert first.json() == again.json()
    assert len(first.json()["schedules"]) == 1
    later = put(network, auth, CSSS, "AAOR", {**AAOR_70, "effective_from": "2027-01-04"})
    assert [s["effective_from"] for s in later.json()["schedules"]] == [WEEK, "2027-01-04"]
    from_today = put(network, auth, CSSS, "CRISIS_24_7", {"weekly": ALL_DAY["weekly"]}).json()["schedules"]
    assert [s["effective_from"] for s in from_today] == ["2026-11-25"], "from today by default"
    agreements = application_of(network)
    mapping = outbox(agreements)
    messages = [
        m
        for n in agreements.recorder.select_notifications(start=1, limit=1000)
        for m in mapping(agreements.mapper.to_domain_event(n))
        if m.event.type.endswith("service-hours-set.v1")
    ]
    assert len(messages) == 3
    schema = json.loads((SCHEMAS / "ca.qc.rls.agreements.service-hours-set.v1.json").read_text())
    for message in messages:
        jsonschema.validate(message.event.data, schema)
        assert message.key == CSSS
    read = network.get(f"/v1/organisations/{CSSS}/services/AAOR/hours", headers=auth(REGIONAL, "intake"))
    assert read.json() == later.json()


def test_only_the_organisations_managers_or_the_platforms_admin_declare_its_hours(
    network: TestClient, auth: Auth
) -> None:
    url = f"/v1/organisations/{CSSS}/services/AAOR/hours"
    other = put(network, auth, CSSS, "AAOR", AAOR_70, caller=CRISIS)
    assert other.status_code == 403
    assert other.json()["type"].endswith(":forbidden")
    assert network.put(url, json=AAOR_70, headers=auth(CSSS, "clinician")).status_code == 403
    other_admin = network.put(url, json=AAOR_70, headers=auth(CRISIS, "admin"))  # an establishment's: its own only
    assert other_admin.status_code == 403, other_admin.text
    assert network.get(url, headers=auth(CSSS, "intake")).json()["schedules"] == []
    own_admin = network.put(url, json=AAOR_70, headers=auth(CSSS, "admin"))
    platform_admin = network.put(url, json=ALL_DAY, headers=auth(PLATFORM_ORG, "admin"))
    assert (own_admin.status_code, platform_admin.status_code) == (200, 200)
    unknown = put(network, auth, "nobody-x", "AAOR", AAOR_70, caller="nobody-x")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("service", "body", "field"),
    [
        (
            "AAOR",
            {"weekly": [{"day": "MON", "opens": "18:00", "closes": "08:00", "channels": BOTH}]},
            "weekly.0.closes",
        ),
        ("AAOR", {"weekly": [{"day": "LUN", "opens": "08:00", "closes": "18:00", "channels": BOTH}]}, "weekly.0.day"),
        ("AAOR", {"weekly": [{"day": "MON", "opens": "8h", "closes": "18:00", "channels": BOTH}]}, "weekly.0.opens"),
        (
            "AAOR",
            {"weekly": [{"day": "MON", "opens": "08:00", "closes": "18:00", "channels": []}]},
            "weekly.0.channels",
        ),
        ("AAOR", {"weekly": [], "exceptions": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]}, "exceptions"),
        ("SPECIALISED_SERVICES", {"weekly": []}, "service"),
        ("AAOR", {"weekly": [], "effective_from": "soon"}, "effective_from"),
        ("AAOR", {"weekly": [], "effective_from": "2026-11-22"}, "effective_from"),  # before this week (NOW: Wed 25)
    ],
)
def test_bad_hours_name_the_field(
    network: TestClient, auth: Auth, service: str, body: dict[str, Any], field: str
) -> None:
    response = put(network, auth, CSSS, service, body)
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == field


def test_conformance_of_a_service_without_an_hours_standard_names_the_field(network: TestClient, auth: Auth) -> None:
    response = network.get("/v1/conformance/hours", params={"service": "CIVIL_SECURITY"}, headers=auth(CSSS, "intake"))
    assert response.status_code == 422
    assert problem_field(response.json()) == "service"


def test_the_weekly_bound_is_configuration(network: TestClient, auth: Auth) -> None:
    short = {**AAOR_70, "weekly": [w for w in AAOR_70["weekly"] if w["day"] != "FRI"]}  # 57 hours
    put(network, auth, CSSS, "AAOR", short)
    assert not by_standard(conformance(network, auth), CSSS)["AAOR:AAOR_HOURS_PHONE"]["conforms"]
    application_of(network).hours_policy = HoursPolicy(aaor_weekly_hours=55)
    relaxed = by_standard(conformance(network, auth), CSSS)["AAOR:AAOR_HOURS_PHONE"]
    assert (relaxed["conforms"], relaxed["bound_hours"]) == (True, 55)


def test_consultations_are_in_the_conformance_view_without_a_weekly_bound(network: TestClient, auth: Auth) -> None:
    org = {"id": "clsc-c", "name": "C", "kind": "CSSS", "territory": "RLS Nord", "services": ["SOCIAL_CONSULT"]}
    assert network.post("/v1/organisations", json=org, headers=auth(PLATFORM_ORG, "admin")).status_code == 201
    weekly = [{"day": d, "opens": "09:00", "closes": "19:00", "channels": ["IN_PERSON"]} for d in ("MON", "SAT")]
    body = {"weekly": weekly, "effective_from": WEEK}
    assert put(network, auth, "clsc-c", "SOCIAL_CONSULT", body, caller="clsc-c").status_code == 200
    row = by_standard(conformance(network, auth, service="SOCIAL_CONSULT"), "clsc-c")["SOCIAL_CONSULT:CONSULT_HOURS"]
    assert (row["conforms"], row["hours"], row["evening_hours"], row["bound_hours"]) == (True, 20.0, 2.0, None)


def test_the_conformance_view_offers_the_services_with_an_hours_standard() -> None:
    assert set(get_args(HoursService)) == set(HOURS_STANDARDS)
