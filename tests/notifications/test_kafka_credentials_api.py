"""`/v1/kafka-credentials`: only an organisation's administrator, only for that organisation; bad input named;
a platform whose broker authenticates nobody says so. (Issuing on a real SASL_SSL broker: tests/security/.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.notifications.main import build_app
from services.notifications.settings import NotificationsSettings
from tests.notifications.conftest import org

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def client(service_settings: Callable[..., Any], client_for: Callable[..., TestClient]) -> TestClient:
    """The development shape: a plaintext broker, so no credentials can be issued (and no broker is needed)."""
    return client_for(build_app(service_settings(NotificationsSettings)))


def test_only_the_organisations_administrator_may_ask(client: TestClient, auth: Auth) -> None:
    me, them = org(), org()
    body = {"org_id": me}
    assert client.post("/v1/kafka-credentials", json=body).status_code == 401
    for roles in (("coordinator",), ("intake", "clinician"), ("auditor",)):
        refused = client.post("/v1/kafka-credentials", json=body, headers=auth(me, *roles))
        assert refused.status_code == 403, roles
    other = client.post("/v1/kafka-credentials", json={"org_id": them}, headers=auth(me, "admin"))
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "its own Kafka credentials" in other.json()["detail"]


def test_an_organisation_revokes_only_its_own_user(client: TestClient, auth: Auth) -> None:
    me, them = org(), org()
    for username in (f"org-{them}", "svc-referral", "svc-credentials", "admin", f"org-{me}x"):
        refused = client.delete(f"/v1/kafka-credentials/{username}", headers=auth(me, "admin"))
        assert refused.status_code == 403, username
    assert client.delete(f"/v1/kafka-credentials/org-{me}", headers=auth(me, "coordinator")).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        *({"org_id": escaping} for escaping in ("bad.org", "referral.v1", "x.", "*", "a b")),
        *({}, {"org_id": ""}, {"org_id": "a" * 64}, {"org_id": "x", "extra": 1}, {"org_id": 7}),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(client: TestClient, auth: Auth, body: dict[str, Any]) -> None:
    """A dot in an id would let its user's prefix `rls.org.<org_id>.` hold another organisation's namespace."""
    response = client.post("/v1/kafka-credentials", json=body, headers=auth("x", "admin"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:ca.qc.rls:problem:validation"
    assert problem["errors"][0]["field"] in {"org_id", "<key>"}  # an undeclared key is not echoed


def test_a_plaintext_platform_issues_nothing_and_says_why(client: TestClient, auth: Auth) -> None:
    me = org()
    issued = client.post("/v1/kafka-credentials", json={"org_id": me}, headers=auth(me, "admin"))
    assert issued.status_code == 409
    assert issued.json()["type"] == "urn:ca.qc.rls:problem:kafka-credentials-unavailable"
    assert "RLS_KAFKA_SECURITY=sasl_ssl" in issued.json()["detail"]
    revoked = client.delete(f"/v1/kafka-credentials/org-{me}", headers=auth(me, "admin"))
    assert revoked.status_code == 409


def test_an_unreachable_broker_is_a_503_not_a_500(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth, tmp_path: Path
) -> None:
    from tests.conftest import free_port

    ca = tmp_path / "ca.pem"
    ca.write_text("not used: nothing answers")
    settings = service_settings(
        NotificationsSettings,
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="svc-notifications",
        kafka_sasl_password="unused",
        kafka_ssl_cafile=ca,
        kafka_issuer_username="svc-credentials",
        kafka_issuer_password="issuer-password-never-shown",
    )
    client = client_for(build_app(settings))
    me = org()
    issued = client.post("/v1/kafka-credentials", json={"org_id": me}, headers=auth(me, "admin"))
    assert issued.status_code == 503, issued.text
    assert issued.json()["type"] == "urn:ca.qc.rls:problem:dependency-unavailable"
    assert "issuer-password-never-shown" not in issued.text
