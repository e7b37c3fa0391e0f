"""`rls org credentials <org_id>`: an establishment's Kafka credentials, as the notifications service issues them.

The command calls `POST /v1/kafka-credentials` (or `DELETE` to revoke) with a token of the organisation's
administrator (minted locally in dev mode), saves the CA certificate next to the platform's data and prints the
client settings as `KAFKA_*` lines — the variables `rls topic tail` (and these settings classes) read.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from services.common.auth import load_dev_key, mint_dev_token
from services.common.kafka_acls import load_acl_file
from services.contract.topics import ORG_NAMESPACE
from services.runtime import launcher
from services.runtime.settings import RuntimeSettings

TOKEN_TTL = timedelta(minutes=5)


class CredentialsCommandError(RuntimeError):
    """The service refused or could not be reached; the message is the service's problem detail."""


def notifications_url(settings: RuntimeSettings) -> str:
    """The running platform's notifications service (`rls info`), else where its settings say it listens."""
    running = launcher.platform_file(settings)
    services = json.loads(running.read_text())["services"] if running.exists() else launcher.service_urls()
    return str(services["notifications"])


def admin_token(settings: RuntimeSettings, org_id: str, token: str | None) -> str:
    if token:
        return token
    if settings.mode != "dev":
        raise CredentialsCommandError("outside dev mode, pass --token (a token of the organisation's admin)")
    key = load_dev_key(settings.signing_key_file)
    return mint_dev_token(key, org_id, ["admin"], "rls-cli", settings.jwt_audience, TOKEN_TTL)


def issue(settings: RuntimeSettings, org_id: str, token: str | None = None) -> list[str]:
    """Creates or rotates the organisation's credentials; returns the lines to print (the password among them)."""
    answer = _call(settings, "POST", "/v1/kafka-credentials", org_id, token, json={"org_id": org_id})
    ca_file = None
    if answer.get("ca_pem"):
        ca_file = settings.var_dir.resolve() / "kafka-clients" / org_id / "ca.pem"
        ca_file.parent.mkdir(parents=True, exist_ok=True)
        ca_file.write_text(answer["ca_pem"])
    return client_settings(answer, ca_file)


def revoke(settings: RuntimeSettings, org_id: str, token: str | None = None) -> str:
    username = load_acl_file(org_namespace=ORG_NAMESPACE).for_organisation(org_id).username
    _call(settings, "DELETE", f"/v1/kafka-credentials/{username}", org_id, token)
    return f"# {username} revoked: its password and ACLs are gone"


def client_settings(answer: dict[str, Any], ca_file: Path | None) -> list[str]:
    lines = [
        f"# Kafka client of {answer['username']} — the password is shown once: keep it in a secret store",
        f"# reads {answer['topic']} (prefix {answer['topic_prefix']}); consumer groups {answer['group_prefix']}*",
        f"KAFKA_BOOTSTRAP_SERVERS={answer['bootstrap']}",
        f"KAFKA_SECURITY_PROTOCOL={answer['security_protocol']}",
        f"KAFKA_SASL_MECHANISM={answer['sasl_mechanism']}",
        f"KAFKA_SASL_USERNAME={answer['username']}",
        f"KAFKA_SASL_PASSWORD={answer['password']}",
    ]
    if ca_file is not None:
        lines.append(f"KAFKA_SSL_CAFILE={ca_file}")
    return lines


def _call(
    settings: RuntimeSettings, method: str, path: str, org_id: str, token: str | None, **kwargs: Any
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {admin_token(settings, org_id, token)}"}
    try:
        response = httpx.request(method, notifications_url(settings) + path, headers=headers, timeout=30, **kwargs)
    except httpx.HTTPError as error:
        raise CredentialsCommandError(f"the notifications service did not answer ({type(error).__name__})") from None
    if response.is_error:
        problem = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        raise CredentialsCommandError(problem.get("detail") or problem.get("title") or f"HTTP {response.status_code}")
    return dict(response.json()) if response.content else {}
