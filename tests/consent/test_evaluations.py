"""Re-running a decision event (`POST /v1/evaluations`): the input and facts as an event carries them, every instant
with its UTC offset and at least one category asked; anything else is a 422 naming the field, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.contract.consent_events import DecisionFactsV1, DecisionInputV1
from tests.consent.conftest import DISCLOSER
from tests.consent.test_api import ASK, CONSENT

Auth = Callable[..., dict[str, str]]
Event = dict[str, Any]


@pytest.fixture
def recorded(consent_api: Callable[..., TestClient], auth: Auth) -> tuple[TestClient, Event]:
    """The service, and the input and facts of a decision it recorded (under a consent)."""
    api = consent_api()
    intake = auth(DISCLOSER, "intake")
    assert api.post("/v1/consents", json=CONSENT, headers=intake).status_code == 201
    decision = api.post("/v1/decisions", json=ASK, headers=intake).json()
    made = api.get(f"/v1/decisions/{decision['decision_id']}", headers=intake).json()
    assert made["facts"]["consents"], "the facts hold the consent"
    return api, {"input": made["input"], "facts": made["facts"]}


def _consents(event: Event, **change: str) -> list[dict[str, Any]]:
    return [{**c, **change} for c in event["facts"]["consents"]]


NAIVE: list[tuple[str, Callable[[Event], Event], str]] = [
    ("the decision's date", lambda e: {**e, "input": {**e["input"], "at": "2026-11-25T10:00:00"}}, "input.at"),
    (
        "a consent's start",
        lambda e: {**e, "facts": {**e["facts"], "consents": _consents(e, valid_from="2026-11-01T00:00:00")}},
        "facts.consents.0.valid_from",
    ),
    (
        "a consent's end given as a bare date",
        lambda e: {**e, "facts": {**e["facts"], "consents": _consents(e, valid_until="2027-10-31")}},
        "facts.consents.0.valid_until",
    ),
    (
        "a research authorisation's end",
        lambda e: {
            **e,
            "input": {
                **e["input"],
                "purpose": "RESEARCH",
                "context": {
                    **e["input"]["context"],
                    "research_authorisation_ref": "R-1",
                    "research_authorisation_until": "2027-01-01T00:00:00",
                },
            },
        },
        "input.context.research_authorisation_until",
    ),
]


@pytest.mark.parametrize(("case", "change", "field"), NAIVE, ids=[c for c, _, _ in NAIVE])
def test_an_instant_without_its_utc_offset_is_a_422_naming_it(
    recorded: tuple[TestClient, Event], auth: Auth, case: str, change: Callable[[Event], Event], field: str
) -> None:
    """Compared with the recorded instants, which have one, it was a 500."""
    api, event = recorded
    auditor = auth(DISCLOSER, "auditor")
    assert api.post("/v1/evaluations", json=event, headers=auditor).status_code == 200
    response = api.post("/v1/evaluations", json=change(event), headers=auditor)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith(":validation")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, "timezone_aware")]


def test_every_instant_without_an_offset_is_named_at_once(recorded: tuple[TestClient, Event], auth: Auth) -> None:
    api, event = recorded
    both = {
        "input": {**event["input"], "at": "2026-11-25T10:00:00"},
        "facts": {**event["facts"], "consents": _consents(event, valid_from="2026-11-01T00:00:00")},
    }
    response = api.post("/v1/evaluations", json=both, headers=auth(DISCLOSER, "auditor"))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["input.at", "facts.consents.0.valid_from"]


def test_an_evaluation_asking_no_category_is_a_422(recorded: tuple[TestClient, Event], auth: Auth) -> None:
    """It was answered PERMIT, with nothing permitted and nothing denied."""
    api, event = recorded
    empty = {**event, "input": {**event["input"], "categories": []}}
    response = api.post("/v1/evaluations", json=empty, headers=auth(DISCLOSER, "auditor"))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["input.categories"]


def test_the_decision_event_itself_still_decodes_as_it_was_stored(recorded: tuple[TestClient, Event]) -> None:
    """The request refuses what the contract's models accept: events already published keep decoding."""
    _, event = recorded
    assert DecisionInputV1.model_validate({**event["input"], "at": "2026-11-25T10:00:00", "categories": []})
    assert DecisionFactsV1.model_validate(
        {**event["facts"], "consents": _consents(event, valid_from="2026-11-01T00:00:00")}
    )
