"""Terms the domain refuses (`ConsentTermsInvalidError`) get one shape of 422 from every route: the one table of
domain errors maps them (`field` at the top, and `errors[]` as request validation shapes them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT
from tests.consent.test_api import ASK, CONSENT

Auth = Callable[..., dict[str, str]]
Ask = Callable[[TestClient, dict[str, str]], Any]


def _created(api: TestClient, headers: dict[str, str], path: str, body: dict[str, Any]) -> str:
    response = api.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


RESTRICTION = {"subject_id": SUBJECT, "recipients": [{"org_id": RECIPIENT}], "valid_from": "2026-11-20"}
REFUSAL = {"subject_id": SUBJECT, "requester_roles": ["SPOUSE"], "given_on": "2026-11-01"}
REFUSED: list[tuple[str, Ask, str, str]] = [
    (
        "a decision on a bare danger flag",
        lambda api, h: api.post("/v1/decisions", json={**ASK, "context": {"danger": True}}, headers=h),
        "context.danger_assessment",
        "state the danger assessment, not only a flag",
    ),
    (
        "a disclosure on a bare danger flag",
        lambda api, h: api.post("/v1/disclosures", json={**ASK, "context": {"danger": True}}, headers=h),
        "context.danger_assessment",
        "state the danger assessment, not only a flag",
    ),
    (
        "a consent ending before it starts",
        lambda api, h: api.post("/v1/consents", json={**CONSENT, "valid_until": "2026-10-01"}, headers=h),
        "valid_until",
        "must be after the start",
    ),
    (
        "a withdrawal to come",
        lambda api, h: api.post(
            f"/v1/consents/{_created(api, h, '/v1/consents', CONSENT)}/withdraw", json={"at": "2026-12-01"}, headers=h
        ),
        "at",
        "cannot be in the future",
    ),
    (
        "a lift to come",
        lambda api, h: api.post(
            f"/v1/restrictions/{_created(api, h, '/v1/restrictions', RESTRICTION)}/lift",
            json={"at": "2026-12-01"},
            headers=h,
        ),
        "at",
        "cannot be in the future",
    ),
    (
        "a refusal given in the future",
        lambda api, h: api.post("/v1/refusals", json={**REFUSAL, "given_on": "2026-12-01"}, headers=h),
        "given_on",
        "is in the future",
    ),
    (
        "a refusal withdrawn in the future",
        lambda api, h: api.post(
            f"/v1/refusals/{_created(api, h, '/v1/refusals', REFUSAL)}/withdraw", json={"at": "2026-12-01"}, headers=h
        ),
        "at",
        "cannot be in the future",
    ),
]


@pytest.mark.parametrize(("case", "ask", "field", "message"), REFUSED, ids=[c for c, _, _, _ in REFUSED])
def test_every_route_answers_the_domains_refusal_in_one_shape(
    consent_api: Callable[..., TestClient], auth: Auth, case: str, ask: Ask, field: str, message: str
) -> None:
    """`/v1/decisions` answered with a top-level `field` and `errors[].type` "validation"; `/v1/disclosures` and the
    consent, restriction and refusal routes without it and with "value_error" (and the field in `detail`)."""
    response = ask(consent_api(), auth(DISCLOSER, "intake"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {k: v for k, v in response.json().items() if k != "instance"} == {
        "type": "urn:ca.qc.rls:problem:validation",
        "title": "Invalid request",
        "status": 422,
        "detail": message,
        "field": field,
        "errors": [{"field": field, "message": message, "type": "validation"}],
    }
