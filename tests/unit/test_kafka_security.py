"""Kafka client access from settings, and the secure broker's material (made once, private, never printed)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import SecretStr, ValidationError

from services.common.kafka_acls import load_acl_file
from services.common.kafka_security import KafkaAccess
from services.common.settings import PlatformSettings
from services.contract.topics import ORG_NAMESPACE
from services.referral.settings import ReferralSettings
from services.runtime.kafka_security import (
    ADMIN,
    CREDENTIALS_ISSUER,
    KEYSTORE,
    prepare_security,
    service_environment,
)
from services.runtime.registry import SERVICES

ACLS = load_acl_file(org_namespace=ORG_NAMESPACE)


def test_sasl_ssl_without_a_principal_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME"):
        PlatformSettings(kafka_security_protocol="SASL_SSL")


def test_production_services_refuse_an_unauthenticated_kafka(tmp_path: Path) -> None:
    production = {
        "mode": "production",
        "jwks_url": "https://idp.example/jwks",
        "jwt_issuer": "https://idp.example",
        "cipher_key": "k" * 24,
        "service_token_file": tmp_path / "referral-service-token",
    }
    with pytest.raises(ValidationError, match="KAFKA_SECURITY_PROTOCOL=SASL_SSL"):
        ReferralSettings(**production, vault_key="x" * 44)
    secured = ReferralSettings(
        **production,
        vault_key="x" * 44,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="svc-referral",
        kafka_sasl_password="secret-password",
    )
    assert secured.kafka_access.authenticated


def test_an_access_gives_clients_their_settings_and_hides_its_password(tmp_path: Path) -> None:
    access = KafkaAccess("127.0.0.1:9", "SASL_SSL", "SCRAM-SHA-512", "svc-x", SecretStr("pw-123"), tmp_path / "ca.pem")
    config = access.client_config()
    assert config["sasl_plain_password"] == "pw-123" and config["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert config["ssl_check_hostname"] is True
    assert "pw-123" not in repr(access) and "pw-123" not in str(access)
    settings = PlatformSettings(**{k.lower(): v for k, v in access.environment().items()})
    assert settings.kafka_access == access, "a child process given environment() connects the same way"
    assert KafkaAccess("127.0.0.1:9").client_config() == {
        "bootstrap_servers": "127.0.0.1:9",
        "security_protocol": "PLAINTEXT",
        "reconnect_backoff_max_ms": 1000,
    }


def test_the_broker_material_is_made_once_kept_private_and_trusted_for_127_0_0_1(tmp_path: Path) -> None:
    directory = tmp_path / "security"
    first = prepare_security(directory, ACLS)
    second = prepare_security(directory, ACLS)
    assert first.passwords == second.passwords, "generated once"
    assert set(first.passwords) >= {ADMIN, *ACLS.principals}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for private in ("ca-key.pem", KEYSTORE, "credentials.json"):
        assert stat.S_IMODE((directory / private).stat().st_mode) == 0o600, private

    ca = x509.load_pem_x509_certificate(first.ca_file.read_bytes())
    keystore = pkcs12.load_pkcs12((directory / KEYSTORE).read_bytes(), first.passwords["broker-keystore"].encode())
    assert keystore.cert is not None
    broker = keystore.cert.certificate
    assert broker.issuer == ca.subject
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_each_service_gets_only_its_own_password(tmp_path: Path) -> None:
    security = prepare_security(tmp_path / "security", ACLS)
    referral = service_environment(security, "127.0.0.1:9", "referral")
    assert referral["KAFKA_SASL_USERNAME"] == "svc-referral"
    assert referral["KAFKA_SASL_PASSWORD"] == security.passwords["svc-referral"]
    others = {name: pw for name, pw in security.passwords.items() if name != "svc-referral"}
    assert not any(pw in referral.values() for pw in others.values())
    notifications = service_environment(security, "127.0.0.1:9", "notifications")
    assert notifications["NOTIFICATIONS_KAFKA_ISSUER_USERNAME"] == "svc-credentials"
    assert security.passwords[ADMIN] not in notifications.values()
    assert security.passwords[ADMIN] not in security.redact(f"args --add-scram ...{security.passwords[ADMIN]}...")


def test_only_the_notifications_service_gets_the_issuers_password(tmp_path: Path) -> None:
    """The issuer may ALTER the cluster: locally (`make run-secure`) the one notifications process, which serves the
    credential requests, holds it; no other service does."""
    security = prepare_security(tmp_path / "security", ACLS)
    issuer_password = security.passwords[CREDENTIALS_ISSUER]
    holders = [
        name for name in SERVICES if issuer_password in service_environment(security, "127.0.0.1:9", name).values()
    ]
    assert holders == ["notifications"]
