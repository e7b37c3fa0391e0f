"""The local broker's production shape (`RLS_KAFKA_SECURITY=sasl_ssl`): TLS from a local CA, SCRAM users, ACLs.

Everything is made once and kept beside the broker's data, outside git (`<var>/kafka/security/`, mode 0700): the
CA (its key never leaves that directory), the broker's certificate for 127.0.0.1 and `localhost` in a PKCS#12
keystore, and one generated password per principal of the ACL file (`credentials.json`, mode 0600). Clients trust
`ca.pem`; the broker presents its certificate on the `SASL_SSL` listener and checks SCRAM-SHA-512 passwords.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kafka import KafkaAdminClient
from pydantic import SecretStr

from services.common.kafka_acls import AclFile, KafkaUsers
from services.common.kafka_security import SCRAM_SHA_512, KafkaAccess

ADMIN = "admin"
"""The super user: formats the storage, applies the ACL file, creates the platform's topics. No service gets it."""
CA_FILE, CA_KEY, KEYSTORE, CREDENTIALS = "ca.pem", "ca-key.pem", "broker.p12", "credentials.json"
KEYSTORE_SECRET = "broker-keystore"  # noqa: S105 -- where credentials.json keeps it, not a password
CA_DAYS, BROKER_DAYS = 3650, 825
BROKER_NAMES = ("127.0.0.1", "localhost")

SECURE_LISTENERS = """\
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin}" password="{admin_password}";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
username="{admin}" password="{admin_password}" user_{admin}="{admin_password}";
ssl.keystore.type=PKCS12
ssl.keystore.location={keystore}
ssl.keystore.password={keystore_password}
ssl.truststore.type=PEM
ssl.truststore.location={ca_file}
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{admin}
allow.everyone.if.no.acl.found=false
connections.max.reauth.ms={reauth_ms}
"""
"""Clients on SASL_SSL (SCRAM-SHA-512); the controller listener (127.0.0.1 only) on SASL PLAIN for the broker itself:
a SCRAM user cannot authenticate there before the metadata holding SCRAM credentials is loaded."""


@dataclass(frozen=True)
class BrokerSecurity:
    """The secure broker's material: where its files are and every principal's password."""

    directory: Path
    passwords: Mapping[str, str]
    acls: AclFile
    reauth_ms: int = 300_000
    """Live connections re-authenticate this often: a rotated or revoked password stops working on them too."""

    @property
    def ca_file(self) -> Path:
        return self.directory / CA_FILE

    def access(self, bootstrap: str, username: str) -> KafkaAccess:
        """How a principal of this broker connects."""
        return KafkaAccess(
            bootstrap, "SASL_SSL", SCRAM_SHA_512, username, SecretStr(self.passwords[username]), self.ca_file
        )

    def listener_properties(self, port: int, controller_port: int) -> str:
        return SECURE_LISTENERS.format(
            port=port,
            controller_port=controller_port,
            admin=ADMIN,
            admin_password=self.passwords[ADMIN],
            keystore=self.directory / KEYSTORE,
            keystore_password=self.passwords[KEYSTORE_SECRET],
            ca_file=self.ca_file,
            reauth_ms=self.reauth_ms,
        )

    def redact(self, text: str) -> str:
        """The text with every password of this broker blanked (tool output may echo its arguments)."""
        for secret in self.passwords.values():
            text = text.replace(secret, "***")
        return text

    def format_arguments(self) -> list[str]:
        """The super user's SCRAM credential, written into the metadata when the storage is formatted (KIP-900)."""
        return ["--add-scram", f"{SCRAM_SHA_512}=[name={ADMIN},password={self.passwords[ADMIN]}]"]


def prepare_security(directory: Path, acls: AclFile, reauth_ms: int = 300_000) -> BrokerSecurity:
    """The CA, the broker's keystore and the passwords, made the first time and reused after (new principals of the
    ACL file get a password on the next start)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    passwords = _passwords(directory / CREDENTIALS, [ADMIN, KEYSTORE_SECRET, *acls.principals])
    if not (directory / CA_FILE).exists():
        _write_ca(directory)
    if not (directory / KEYSTORE).exists():
        _write_keystore(directory, passwords[KEYSTORE_SECRET])
    return BrokerSecurity(directory, passwords, acls, reauth_ms)


def _passwords(path: Path, names: Iterable[str]) -> dict[str, str]:
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in names if name not in known]
    if missing:
        known |= {name: secrets.token_urlsafe(32) for name in missing}
        _write_private(path, json.dumps(known, indent=2).encode())
    return known


def _write_private(path: Path, content: bytes) -> None:
    """Created with mode 0600 from the start (never readable by others, not even for a moment)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = _name("RLS Referrals local Kafka CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(directory / CA_KEY, pem)
    (directory / CA_FILE).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def write_broker_material(directory: Path, keystore_password: str, names: Sequence[str] = BROKER_NAMES) -> None:
    """A CA (made when missing) and a broker keystore (`broker.p12`) for a broker reached at `names`; the
    deployments' brokers use it as the local broker does."""
    if not (directory / CA_FILE).exists():
        _write_ca(directory)
    _write_keystore(directory, keystore_password, names)


def _subject_alternative_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_keystore(directory: Path, password: str, names: Sequence[str] = BROKER_NAMES) -> None:
    ca_key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    alternative_names = [_subject_alternative_name(name) for name in names]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("rls-kafka-broker"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=BROKER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    keystore = pkcs12.serialize_key_and_certificates(
        b"broker", key, certificate, [ca], serialization.BestAvailableEncryption(password.encode())
    )
    _write_private(directory / KEYSTORE, keystore)


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


CREDENTIALS_ISSUER = "svc-credentials"
"""The principal the notifications service issues establishments' credentials with (nothing else uses it)."""
ISSUER_SERVICE = "notifications"


def service_principal(service: str) -> str:
    """The principal a service's clients connect as (`svc-<service>` in the ACL file)."""
    return f"svc-{service}"


def service_environment(security: BrokerSecurity, bootstrap: str, service: str) -> dict[str, str]:
    """The variables that make a service process connect as its own principal (and issue credentials, for the one
    service that does)."""
    env = security.access(bootstrap, service_principal(service)).environment()
    if service == ISSUER_SERVICE:
        prefix = ISSUER_SERVICE.upper()
        env |= {
            f"{prefix}_KAFKA_ISSUER_USERNAME": CREDENTIALS_ISSUER,
            f"{prefix}_KAFKA_ISSUER_PASSWORD": security.passwords[CREDENTIALS_ISSUER],
        }
    return env


def provision(admin: KafkaAdminClient, security: BrokerSecurity) -> None:
    """Every principal of the ACL file with its password and exactly its ACLs (run at every start)."""
    KafkaUsers(admin).apply(security.acls.principals, security.passwords)
