"""Production mode as a whole (`RLS_MODE=production`): every store on PostgreSQL in the README's one-database form
(`?schema=<service>`, schemas nobody created), every store encrypted with its configured key, the vault's master key
and the referral service's own token given, tokens signed by an identity provider whose JWKS is served on loopback
(no dev key: a dev token is refused), Kafka over SASL_SSL with a principal per service. On it: the README walkthrough
and every consent-gated read of `test_information_release.py` (imported: collected here against this platform)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from eventsourcing.cryptography import AESCipher

from services.common.auth import mint_dev_token
from services.runtime import demo
from services.runtime.registry import PROCESSES, SERVICES
from tests.e2e.test_information_release import (  # noqa: F401 -- collected here, against the production platform
    Network,
    test_a_referral_to_a_service_provided_on_the_csss_behalf_releases_the_clause_without_consent,
    test_a_referral_to_another_service_of_the_same_partner_needs_a_consent,
    test_no_record_information_on_any_topic,
    test_the_referral_reached_the_organisations_topics_without_record_information,
    test_under_a_collaboration_agreement_information_needs_a_consent,
)
from tests.e2e.test_platform_run import ROOT, walkthrough
from tests.helpers import free_port, running_platform
from tests.identity import IdentityProvider, loopback_identity_provider

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CONSOLE_APIS = ("referral", "agreements", "consent", "audit")


def fresh_database(dsn: str) -> str:
    name = "rls_" + uuid.uuid4().hex[:10]
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + f"/{name}"


def production_environment(database: str, idp: IdentityProvider, var: Path) -> dict[str, str]:
    """What an operator sets, following the README's table of settings (every secret given, nothing generated)."""
    ports = {name: free_port() for name in PROCESSES}
    token_file = var / "referral-service-token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(idp.mint("rls-platform", ["service"], "service:referral", timedelta(hours=12)))
    env = {
        "RLS_MODE": "production",
        "RLS_JWKS_URL": idp.jwks_url,
        "RLS_JWT_ISSUER": idp.issuer,
        "RLS_KAFKA_SECURITY": "sasl_ssl",
        "AUDIT_DATABASE": f"{database}?schema=audit_history",
        "REFERRAL_VAULT_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "REFERRAL_SERVICE_TOKEN_FILE": str(token_file),
        "CONSOLE_OIDC_ISSUER": idp.issuer,
        "CONSOLE_OIDC_CLIENT_ID": "rls-console",
        "CONSOLE_SESSION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "CONSOLE_SESSION_STORE": f"{database}?schema=console",
    }
    env |= {f"{name.upper()}_PORT": str(port) for name, port in ports.items()}
    env |= {f"CONSOLE_{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}" for name in CONSOLE_APIS}
    env |= {f"{s.upper()}_EVENT_STORE": f"{database}?schema={s}" for s in SERVICES}
    env |= {f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES}
    return env


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> Iterator[Network]:
    var = tmp_path_factory.mktemp("production")
    with loopback_identity_provider() as idp:
        env = production_environment(fresh_database(postgres_dsn), idp, var)
        with running_platform(var, env=env, mint=idp.mint) as platform:
            yield Network(platform, idp.mint)


def test_the_platform_runs_in_production_mode_on_postgresql(network: Network) -> None:
    assert network.platform.settings.mode == "production"
    var = network.platform.settings.var_dir
    assert not list(var.glob("*.db")) and not (var / "dev-signing-key").exists(), "no SQLite store, no dev key"
    dev_token = mint_dev_token(b"k" * 32, demo.CSSS, ["intake"], "someone", "rls", timedelta(hours=1))
    refused = httpx.get(
        network.urls["referral"] + "/v1/referrals", headers={"Authorization": f"Bearer {dev_token}"}, timeout=10
    )
    assert refused.status_code == 401, refused.text


def test_the_readme_walkthrough_in_production_mode(network: Network) -> None:
    """The walkthrough's commands, with a token of the identity provider instead of `rls token` (refused in
    production), the topic read over SASL_SSL, and the platform stopped by the fixture rather than `make stop`."""
    token = network.mint(demo.CSSS, ["intake"], "walkthrough-worker")
    lines = walkthrough().splitlines()
    script = "\n".join(
        [f"TOKEN={token}"] + [line for line in lines if not line.startswith(("TOKEN=", "make stop"))]
    ).replace("http://127.0.0.1:8001", network.urls["referral"])
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env={**os.environ, **network.brokers.environment()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'"type": ?"ca\.qc\.rls\.referral\.submitted\.v1"', result.stdout), result.stdout
    assert "centre-crise-quebec" in result.stdout
