"""A 422 names the offending field by what the API declares (field and parameter names, enum members, list
indexes); a key the client wrote that the API does not declare (a mapping's key, an unknown or a duplicated member)
is `<key>`, in `errors[].field` and in `detail` alike: such a key may be a person's name or health insurance number."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from services.common.problems import install_problem_handlers
from services.common.strict_json import StrictJSONMiddleware
from services.runtime.registry import app_builder, settings_class
from tests.referral.conftest import body

Auth = Callable[..., dict[str, str]]
PERSON = "Jean Tremblay NAM TREJ12345678"


def fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:ca.qc.rls:problem:validation"
    return [error["field"] for error in response.json()["errors"]]


@pytest.fixture
def referrals(service_settings: Callable[..., Any], client_for: Callable[..., Any], auth: Auth) -> Callable[..., Any]:
    """`referrals(document)` → the referral service's answer to a referral posted as `document` (JSON text)."""
    client = client_for(app_builder("referral")(service_settings(settings_class("referral"))))
    headers = {**auth("csss-a", "intake"), "Content-Type": "application/json"}

    def post(document: str) -> Any:
        return client.post("/v1/referrals", content=document.encode(), headers=headers)

    return post


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (body(information={PERSON: "x"}), ["information.<key>.[key]"]),  # not an InfoCategory
        (body(**{PERSON: 1}), ["<key>"]),  # not a field of the referral
        (body(information={"HEALTH": 5}), ["information.HEALTH"]),  # a member of InfoCategory: named
        (body(subject_id=["S-1"]), ["subject_id"]),
    ],
    ids=["information-key", "unknown-member", "declared-key", "declared-field"],
)
def test_a_referral_refused_names_declared_keys_only(
    referrals: Callable[..., Any], document: dict[str, Any], expected: list[str]
) -> None:
    response = referrals(json.dumps(document))
    assert fields(response) == expected
    assert "Tremblay" not in response.text and "TREJ" not in response.text  # neither in `errors` nor in `detail`


def test_a_duplicated_key_is_named_only_if_declared(referrals: Callable[..., Any]) -> None:
    unknown = referrals(json.dumps(body())[:-1] + f', "{PERSON}": 1, "{PERSON}": 2}}')
    assert fields(unknown) == ["<key>"]
    assert unknown.json()["detail"] == "<key>: duplicate key in a JSON object"
    assert "Tremblay" not in unknown.text
    declared = referrals(json.dumps(body())[:-1] + ', "information": {"HEALTH": "a", "HEALTH": "b"}}')
    assert fields(declared) == ["HEALTH"]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int


class Tally(BaseModel):
    model_config = ConfigDict(extra="forbid")
    counts: dict[str, int]
    by_kind: dict[Literal["SMALL", "LARGE"], int]
    items: list[Item]


def test_free_mapping_keys_and_unknown_members_at_any_depth_are_not_echoed() -> None:
    app = FastAPI()
    install_problem_handlers(app, {})
    app.add_middleware(StrictJSONMiddleware)

    @app.post("/tallies")
    def tally(tally: Tally) -> None:
        """Counts things."""

    sent = {
        "counts": {PERSON: "many"},  # a free key, its value refused
        "by_kind": {"SMALL": "few", PERSON: 1},  # a literal key, then a refused one
        "items": [{"size": 1}, {"size": "big", PERSON: 1}],
    }
    response = TestClient(app).post("/tallies", json=sent)
    assert sorted(fields(response)) == sorted(
        ["counts.<key>", "by_kind.SMALL", "by_kind.<key>.[key]", "items.1.size", "items.1.<key>"]
    )
    assert "Tremblay" not in response.text
