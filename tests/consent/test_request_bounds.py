"""What a request may give the consent service, at the ends: instants in the years bodies accept (the register's
`from` and `to`, an evaluation's `input.at`: they were 500s), and lists no longer than their use needs (a consent naming
90,000 recipients fitted the body limit, and its events and every later decision about the person outgrew Kafka's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.params import YEARS
from services.consent.api_models import MAX_RECIPIENTS
from services.consent.outbound import consent_messages
from services.contract.codes import InfoCategory, Purpose, RequesterRole
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT
from tests.consent.test_api import ASK, CONSENT
from tests.consent.test_evaluations import recorded  # noqa: F401  (a fixture)
from tests.consent.test_lane import pair  # noqa: F401  (a fixture)

Auth = Callable[..., dict[str, str]]
KAFKA_RECORD_LIMIT = 1_048_576
"""The broker's default `message.max.bytes`: a larger record is dead-lettered."""


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith(":validation"), problem
    assert [e["field"] for e in problem["errors"]] == [field], problem


# --- instants at the calendar's ends ------------------------------------------------------------------------------

FAR_QUERIES = [
    ("to", "9999-12-31T23:00:00"),  # Québec time: UTC is in year 10000
    ("from", "0001-01-01T00:00:00+05:00"),  # UTC is in year 0
    ("to", "9999-12-31T23:59:59-12:00"),
    ("from", "0001-01-01T00:00:00"),
    ("to", "9998-12-31T23:00:00-12:00"),  # written in 9998, in Québec time 9999: beyond a body's years too
]


@pytest.mark.parametrize(("parameter", "value"), FAR_QUERIES)
def test_a_register_query_beyond_the_calendar_is_a_422_naming_the_parameter(
    api: TestClient, auth: Auth, parameter: str, value: str
) -> None:
    """It was a 500 (OverflowError converting it to UTC)."""
    for role in ("auditor", "intake"):
        _refused(api.get("/v1/register", params={parameter: value}, headers=auth(DISCLOSER, role)), parameter)


def test_a_register_query_within_the_calendar_is_answered(api: TestClient, auth: Auth) -> None:
    first, last = YEARS
    period = {"from": f"{first:04d}-01-01T00:00:00", "to": f"{last:04d}-12-31T23:59:59-05:00"}
    response = api.get("/v1/register", params=period, headers=auth(DISCLOSER, "auditor"))
    assert response.status_code == 200, response.text


def test_a_body_instant_is_held_to_the_calendar_in_quebec_time(api: TestClient, auth: Auth) -> None:
    """Written in 9998 with an offset of -12:00, it is 9999-01-01 in Québec: refused as the register's query is, so
    every decision asked can be re-run (`/v1/evaluations` holds its instant to the same years)."""
    intake = auth(DISCLOSER, "intake")
    _refused(api.post("/v1/decisions", json={**ASK, "at": "9998-12-31T23:00:00-12:00"}, headers=intake), "at")
    assert api.post("/v1/decisions", json={**ASK, "at": "9998-12-31T23:00:00-05:00"}, headers=intake).status_code == 200


@pytest.mark.parametrize(
    "at",
    ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-05:00", "0001-06-01T00:00:00Z"],
)
def test_an_evaluation_dated_beyond_the_calendar_is_a_422_naming_input_at(
    recorded: tuple[TestClient, dict[str, Any]],  # noqa: F811 (the fixture imported)
    auth: Auth,
    at: str,
) -> None:
    """The engine reads the Québec day of the decision (and the day after a death on it): it was a 500."""
    api, event = recorded
    far = {**event, "input": {**event["input"], "at": at}}
    _refused(api.post("/v1/evaluations", json=far, headers=auth(DISCLOSER, "auditor")), "input.at")


def test_a_decision_asked_at_the_calendars_end_is_re_run(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    assert api.post("/v1/consents", json=CONSENT, headers=intake).status_code == 201
    asked = api.post("/v1/decisions", json={**ASK, "at": "9998-12-31T23:59:59-05:00"}, headers=intake).json()
    made = api.get(f"/v1/decisions/{asked['decision_id']}", headers=intake).json()
    again = api.post(
        "/v1/evaluations", json={"input": made["input"], "facts": made["facts"]}, headers=auth(DISCLOSER, "auditor")
    )
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == asked["outcome"]


# --- lists ---------------------------------------------------------------------------------------------------------


def _recipients(n: int) -> list[dict[str, str]]:
    return [{"org_id": f"org-{i:06d}-{'x' * 52}"} for i in range(n - 1)] + [{"org_id": RECIPIENT}]


RESTRICTION = {"subject_id": SUBJECT, "purposes": ["RESEARCH"]}
REFUSAL = {"subject_id": SUBJECT, "requester_roles": ["SPOUSE"], "given_on": "2026-11-01"}
TOO_LONG = [
    (
        "a consent's recipients",
        "/v1/consents",
        {**CONSENT, "recipients": _recipients(MAX_RECIPIENTS + 1)},
        "recipients",
    ),
    ("a consent's purposes", "/v1/consents", {**CONSENT, "purposes": ["REFERRAL"] * (len(Purpose) + 1)}, "purposes"),
    (
        "a consent's categories",
        "/v1/consents",
        {**CONSENT, "categories": ["CONTACT"] * (len(InfoCategory) + 1)},
        "categories",
    ),
    (
        "a representative's scope",
        "/v1/consents",
        {**CONSENT, "granted_by": {"role": "TUTOR", "mandate_ref": "M-1", "scope": ["REFERRAL"] * (len(Purpose) + 1)}},
        "granted_by.scope",
    ),
    (
        "a restriction's recipients",
        "/v1/restrictions",
        {**RESTRICTION, "recipients": _recipients(MAX_RECIPIENTS + 1)},
        "recipients",
    ),
    (
        "a restriction's purposes",
        "/v1/restrictions",
        {**RESTRICTION, "purposes": ["RESEARCH"] * (len(Purpose) + 1)},
        "purposes",
    ),
    (
        "a restriction's categories",
        "/v1/restrictions",
        {**RESTRICTION, "categories": ["HEALTH"] * (len(InfoCategory) + 1)},
        "categories",
    ),
    (
        "a refusal's roles",
        "/v1/refusals",
        {**REFUSAL, "requester_roles": ["SPOUSE"] * (len(RequesterRole) + 1)},
        "requester_roles",
    ),
    (
        "a decision's categories",
        "/v1/decisions",
        {**ASK, "categories": ["CONTACT"] * (len(InfoCategory) + 1)},
        "categories",
    ),
]


@pytest.mark.parametrize(("case", "path", "body", "field"), TOO_LONG, ids=[c for c, _, _, _ in TOO_LONG])
def test_a_list_longer_than_its_use_is_a_422_naming_it(
    api: TestClient, auth: Auth, case: str, path: str, body: dict[str, Any], field: str
) -> None:
    _refused(api.post(path, json=body, headers=auth(DISCLOSER, "intake")), field)


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/disclosures"])
def test_the_lane_and_the_route_refuse_too_many_categories_alike(
    pair: tuple[TestClient, TestClient],  # noqa: F811 (the fixture imported)
    auth: Auth,
    path: str,
) -> None:
    body = {**ASK, "categories": ["CONTACT"] * (len(InfoCategory) + 1)}
    answers = [client.post(path, json=body, headers=auth(DISCLOSER, "intake")) for client in pair]
    for answer in answers:
        _refused(answer, "categories")
    assert answers[0].content == answers[1].content


def test_the_largest_consent_leaves_a_decision_about_the_person_far_below_kafkas_limit(
    api: TestClient, auth: Auth
) -> None:
    """Every decision about the person to one of its recipients carries the consent in its facts: the largest a body
    may give is a small part of a record's limit, so dozens of them fit in one decision."""
    intake = auth(DISCLOSER, "intake")
    largest = {**CONSENT, "recipients": _recipients(MAX_RECIPIENTS)}
    assert api.post("/v1/consents", json=largest, headers=intake).status_code == 201
    assert api.post("/v1/disclosures", json=ASK, headers=intake).status_code == 200
    app: Any = api.app
    application = app.state.application
    sizes = [
        (out.event.type, len(out.event.model_dump_json()))
        for notification in application.recorder.select_notifications(1, 100)
        for out in consent_messages(application.mapper.to_domain_event(notification))
    ]
    assert {t for t, _ in sizes} >= {"ca.qc.rls.consent.decided.v1"}, sizes
    assert all(size < KAFKA_RECORD_LIMIT / 50 for _, size in sizes), sizes
