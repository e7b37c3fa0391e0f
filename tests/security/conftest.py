"""The platform in its production shape: a local broker with SASL_SSL (SCRAM-SHA-512), TLS from the platform's own
CA and the ACLs of deploy/kafka/acls.toml, every service on its own principal — started once for these tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.common.auth import load_dev_key, mint_dev_token
from services.common.kafka_security import KafkaAccess
from services.runtime.kafka_security import ADMIN, BrokerSecurity
from services.runtime.launcher import Platform
from services.runtime.registry import SERVICES
from tests.helpers import running_platform

REAUTH_S = 15.0
"""Live connections re-authenticate this often here (a revoked user loses them within seconds, not minutes; the
services' consumer groups ride through it, which a much shorter period on this loaded machine would disturb)."""


@dataclass
class SecurePlatform:
    platform: Platform
    key: bytes

    @property
    def security(self) -> BrokerSecurity:
        assert self.platform.security is not None
        return self.platform.security

    @property
    def bootstrap(self) -> str:
        return self.platform.bootstrap

    def access(self, principal: str = ADMIN) -> KafkaAccess:
        return self.security.access(self.bootstrap, principal)

    def headers(self, org: str, *roles: str) -> dict[str, str]:
        token = mint_dev_token(self.key, org, roles, f"{org}-user", "rls", timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    def call(self, service: str, method: str, path: str, org: str, *roles: str, **kwargs: Any) -> httpx.Response:
        url = self.platform.urls[service] + path
        return httpx.request(method, url, headers=self.headers(org, *roles), timeout=30, **kwargs)

    def credentials(self, org: str) -> KafkaAccess:
        """The organisation's own Kafka access, issued through the API as its administrator would."""
        issued = self.call("notifications", "POST", "/v1/kafka-credentials", org, "admin", json={"org_id": org})
        assert issued.status_code == 201, issued.text
        body = issued.json()
        ca_file = self.security.directory.parent.parent / f"{org}-ca.pem"
        ca_file.write_text(body["ca_pem"])
        return KafkaAccess(
            body["bootstrap"],
            body["security_protocol"],
            body["sasl_mechanism"],
            body["username"],
            SecretStr(body["password"]),
            ca_file,
        )


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurePlatform]:
    """Started with the environment `make run-secure` gives `rls run`; the variables are set only while it starts
    (its processes keep them), so no other test sees them."""
    env = {f"{name.upper()}_CHECKPOINT_INTERVAL_S": "1" for name in SERVICES}  # every service writes checkpoints soon
    env |= {"RLS_KAFKA_SECURITY": "sasl_ssl", "RLS_KAFKA_REAUTH_S": str(REAUTH_S)}
    with running_platform(tmp_path_factory.mktemp("secure-platform"), env=env) as platform:
        yield SecurePlatform(platform, load_dev_key(platform.settings.signing_key_file))
