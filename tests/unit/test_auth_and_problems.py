"""Authentication on every endpoint but health, problem+json errors, settings that refuse unsafe setups."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from services.common.auth import load_dev_key, mint_dev_token
from services.common.settings import PlatformSettings
from services.runtime.registry import SERVICES, app_builder, settings_class
from tests.access_matrix import api_routes

PUBLIC = {"/healthz", "/readyz", "/metrics"}
"""Health and metrics (codes, route templates and counts: no person) answer without a token, for probes and scrapers."""


def protected_routes(service: str, service_settings: Callable[..., Any]) -> list[tuple[str, str]]:
    app = app_builder(service)(service_settings(settings_class(service)))
    routes: list[tuple[str, str]] = []
    for template, route in api_routes(app):
        if template not in PUBLIC:
            path = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", template)
            routes.extend((method, path) for method in sorted(route.methods or ()))
    return routes


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_endpoint_but_health_answers_401_without_a_valid_token(
    service: str, service_settings: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path
) -> None:
    app = app_builder(service)(service_settings(settings_class(service)))
    client = client_for(app)
    forged = mint_dev_token(b"an-attacker-key-of-thirty-two-bytes!", "org-a", ["admin"], "u", "rls", timedelta(hours=1))
    routes = protected_routes(service, service_settings)
    assert len(routes) >= 2, routes  # every service has API routes: an empty list would check nothing
    for method, path in routes:
        for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Bearer not-a-jwt"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "roles"),
    [
        ("POST", "/v1/referrals", ("auditor",)),
        ("POST", "/v1/organisations", ("coordinator",)),
        ("POST", "/v1/agreements", ("intake",)),
    ],
)
def test_a_token_of_the_wrong_role_is_forbidden(
    method: str,
    path: str,
    roles: tuple[str, ...],
    service_settings: Callable[..., Any],
    client_for: Callable[..., Any],
    auth: Callable[..., dict[str, str]],
) -> None:
    service = "referral" if "referrals" in path else "agreements"
    client = client_for(app_builder(service)(service_settings(settings_class(service))))
    response = client.request(method, path, headers=auth("org-a", *roles), json={})
    assert response.status_code == 403
    assert response.json()["type"].endswith(":forbidden")


def test_an_expired_token_is_refused(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], dev_key_file: Path
) -> None:
    client = client_for(app_builder("referral")(service_settings(settings_class("referral"))))
    expired = mint_dev_token(dev_key_file.read_bytes(), "org-a", ["intake"], "u", "rls", timedelta(seconds=-60))
    response = client.get(
        "/v1/referrals/00000000-0000-4000-8000-000000000000", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert "ExpiredSignature" in response.json()["detail"]


def test_a_token_without_the_org_claim_is_refused(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], dev_key_file: Path
) -> None:
    client = client_for(app_builder("referral")(service_settings(settings_class("referral"))))
    claims = {"sub": "u", "aud": "rls", "exp": 4_000_000_000, "roles": ["intake"]}
    token = jwt.encode(claims, dev_key_file.read_bytes(), algorithm="HS256")
    response = client.get(
        "/v1/referrals/00000000-0000-4000-8000-000000000000", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_invalid_input_gets_a_problem_naming_the_field_and_stores_nothing(
    service_settings: Callable[..., Any], client_for: Callable[..., Any], auth: Callable[..., dict[str, str]]
) -> None:
    app = app_builder("referral")(service_settings(settings_class("referral")))
    client = client_for(app)
    body = {
        "subject_id": "S-1",
        "from_org": "org-a",
        "from_service": "AAOR",
        "to_org": "org-b",
        "to_service": "NOT_A_SERVICE",
        "channel": "PHONE",
        "urgency": "URGENT",
        "reason_code": "HOUSING",
    }
    response = client.post("/v1/referrals", json=body, headers=auth("org-a", "intake"))
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["errors"][0]["field"] == "to_service"
    assert "NOT_A_SERVICE" not in response.text  # input values are never echoed
    unknown_reason = client.post(
        "/v1/referrals",
        json={**body, "to_service": "CRISIS_24_7", "reason_code": "NOPE"},
        headers=auth("org-a", "intake"),
    )
    assert unknown_reason.status_code == 422
    assert unknown_reason.json()["errors"][0]["field"] == "reason_code"
    malformed = client.post(
        "/v1/referrals", content=b"{", headers={**auth("org-a", "intake"), "Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    assert app.state.application.recorder.max_notification_id() in (None, 0)


def test_production_mode_refuses_to_start_without_a_jwks_url() -> None:
    with pytest.raises(ValueError, match="RLS_JWKS_URL"):
        PlatformSettings(mode="production")


def test_production_mode_refuses_to_store_events_unencrypted() -> None:
    from services.referral.settings import ReferralSettings

    with pytest.raises(ValueError, match="REFERRAL_CIPHER_KEY"):
        ReferralSettings(
            mode="production", jwks_url="https://idp.example/jwks", jwt_issuer="https://idp.example", vault_key="x" * 44
        )


def test_replicas_starting_at_once_on_one_var_share_one_complete_dev_key(tmp_path: Path) -> None:
    """Development replicas sharing `var/` create the signing, vault and session keys on first start. Written in
    place, a replica losing the race failed with FileExistsError, or read the file still empty (36 and 7 of 300
    rounds of two processes)."""
    for round_ in range(50):
        path = tmp_path / f"round-{round_}" / "dev-signing-key"
        together = threading.Barrier(4)

        def replica(path: Path = path, together: threading.Barrier = together) -> bytes:
            together.wait()
            return load_dev_key(path)

        with ThreadPoolExecutor(4) as pool:
            found = [pool.submit(replica) for _ in range(4)]
        keys = {key.result() for key in found}
        assert len(keys) == 1 and len(keys.pop()) == 44
        assert path.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["dev-signing-key"]  # nothing left beside it
