"""Findings 6 and 7 of issue 11: strict JSON, the token issuer, `Allow` on 405, problem responses in the OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import TypeAdapter, ValidationError

from services.common.auth import DEV_ISSUER
from services.common.params import Day
from services.common.strict_json import MAX_BODY_BYTES, refusal
from services.runtime.registry import SERVICES, app_builder, settings_class

Auth = Callable[..., dict[str, str]]
REFERRAL = (
    b'{"subject_id": "S-1", "from_org": "org-a", "from_service": "AAOR", "to_org": "org-b", '
    b'"to_service": "CRISIS_24_7", "channel": "PHONE", "urgency": "URGENT", "reason_code": "HOUSING"'
)


def referral_client(service_settings: Callable[..., Any], client_for: Callable[..., Any]) -> Any:
    return client_for(app_builder("referral")(service_settings(settings_class("referral"))))


def test_duplicate_keys_are_found_at_any_depth() -> None:
    duplicated = ("duplicate key in a JSON object", "duplicate_key")
    assert refusal(b'{"a": 1, "a": 2}') == ("a", *duplicated)
    assert refusal(b'{"a": {"b": 1, "b": 1}}') == ("b", *duplicated)
    assert refusal(b'\xef\xbb\xbf{"a": 1, "a": 2}') == ("a", *duplicated)  # behind a byte order mark too
    assert refusal(b'{"a": 1, "b": [{"c": 1}, {"c": 2}]}') is None
    assert refusal(b"{not json") is None  # left to the validator


def test_a_body_with_a_duplicated_key_is_refused_with_a_problem_naming_it(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], auth: Auth
) -> None:
    client = referral_client(service_settings, client_for)
    headers = {**auth("org-a", "intake"), "Content-Type": "application/json"}
    # a gateway keeping the first `to_org` sees a referral to org-b; a last-wins parser would act on org-z
    response = client.post("/v1/referrals", content=REFERRAL + b', "to_org": "org-z"}', headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "to_org", "message": "duplicate key in a JSON object", "type": "duplicate_key"}
    ]
    assert "org-z" not in response.text
    assert client.app.state.application.recorder.max_notification_id() in (None, 0)


@pytest.mark.usefixtures("collector_paused")
def test_non_finite_numbers_and_nesting_too_deep_are_refused_before_any_route(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], auth: Auth
) -> None:
    """`NaN` and `Infinity` are not JSON (RFC 8259 section 6), and one before a duplicated key hid it; a document
    nested deeper than the parser goes (a body of `[`s) was a 500."""
    client = referral_client(service_settings, client_for)
    headers = {**auth("org-a", "intake"), "Content-Type": "application/json"}
    for body, why in (
        (b'{"subject_id": NaN}', "NaN is not a JSON number"),
        (b'{"x": -Infinity, "to_org": "org-b", "to_org": "org-z"}', "-Infinity is not a JSON number"),
        (b"[" * 200_000, "nested too deeply"),
    ):
        response = client.post("/v1/referrals", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"field": "body", "message": why, "type": "json_invalid"}]


@pytest.mark.parametrize("declared", [True, False], ids=["Content-Length", "chunked"])
def test_a_body_larger_than_a_service_reads_is_refused_before_it_is_held(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], auth: Auth, declared: bool
) -> None:
    """A body over `MAX_BODY_BYTES` is a 413 problem naming the body, whether its length is declared or it comes in
    chunks; nothing is stored. Before, any body was read whole into memory, whatever its size or content type."""
    client = referral_client(service_settings, client_for)
    headers = {**auth("org-a", "intake"), "Content-Type": "application/json"}
    body = REFERRAL + b', "information": {"HEALTH": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    content: Any = body if declared else iter([body[: len(body) // 2], body[len(body) // 2 :]])
    response = client.post("/v1/referrals", content=content, headers=headers)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith(":content-too-large")
    assert problem["errors"] == [
        {"field": "body", "message": f"larger than {MAX_BODY_BYTES} bytes", "type": "too_large"}
    ]
    as_text = client.post("/v1/referrals", content=body, headers={**headers, "Content-Type": "text/plain"})
    assert as_text.status_code == 413  # whatever its content type
    assert client.app.state.application.recorder.max_notification_id() in (None, 0)
    just_under = client.post(
        "/v1/referrals", content=REFERRAL + b', "information": {"HEALTH": "' + b"x" * 20_001 + b'"}}', headers=headers
    )
    assert just_under.status_code == 422  # read, and refused by the model (20,000 characters at most)
    assert just_under.json()["errors"][0]["field"] == "information.HEALTH"


def test_a_token_from_another_issuer_is_refused(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], dev_key_file: Path
) -> None:
    client = referral_client(service_settings, client_for)
    claims = {"sub": "u", "org": "org-a", "roles": ["intake"], "aud": "rls", "exp": 4_000_000_000}
    key = dev_key_file.read_bytes().strip()
    for issuer in ("https://idp.elsewhere.example", None):
        token = jwt.encode({**claims, **({"iss": issuer} if issuer else {})}, key, algorithm="HS256")
        response = client.get("/v1/referrals", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, issuer
    good = jwt.encode({**claims, "iss": DEV_ISSUER}, key, algorithm="HS256")
    assert client.get("/v1/referrals", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_a_method_not_allowed_names_the_allowed_ones(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], auth: Auth
) -> None:
    client = referral_client(service_settings, client_for)
    response = client.request("TRACE", "/healthz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    deleted = client.delete("/v1/referrals", headers=auth("org-a", "intake"))
    assert deleted.status_code == 405
    assert set(deleted.headers["allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_openapi_declares_every_problem_as_problem_json(
    service: str, service_settings: Callable[..., Any], client_for: Callable[..., Any]
) -> None:
    client = client_for(app_builder(service)(service_settings(settings_class(service))))
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if operation.get("security"):
                assert {"401", "403"} <= set(responses), (method, path)
            if operation.get("requestBody") or operation.get("parameters"):
                assert "422" in responses or not operation.get("security"), (method, path)
            for status, response in responses.items():
                if status[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_dev_tokens_name_the_dev_issuer(dev_key_file: Path) -> None:
    from services.common.auth import mint_dev_token

    token = mint_dev_token(dev_key_file.read_bytes().strip(), "org-a", ["intake"], "u", "rls", timedelta(minutes=1))
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == DEV_ISSUER


@pytest.mark.parametrize("value", [0, 86400, "0", "20260101", 1.5, True])
def test_a_day_is_iso_text_never_a_number(value: Any) -> None:
    """pydantic would read 0 or "0" as 1970-01-01: the contract says `format: date`, so those are refused."""
    with pytest.raises(ValidationError):
        TypeAdapter(Day).validate_python(value)
    assert TypeAdapter(Day).validate_python("2026-11-30") == date(2026, 11, 30)
