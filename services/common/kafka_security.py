"""How a Kafka client reaches the brokers: where, and as whom.

`PLAINTEXT` (the embedded development broker) connects anonymously; `SASL_SSL` authenticates with SCRAM-SHA-512
over TLS, trusting the CA in `KAFKA_SSL_CAFILE` (or the system's CAs when none is given). Every process reads its
own principal from `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD`: one principal per service, least privilege.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from kafka import KafkaAdminClient
from kafka.errors import TopicAuthorizationFailedError, for_code
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

SecurityProtocol = Literal["PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512"]
SCRAM_SHA_512: SaslMechanism = "SCRAM-SHA-512"

RECONNECT_BACKOFF_MAX_MS = 1000
"""kafka-python backs off up to 30 s between reconnections by default: after a broker outage a client would stay
away that long after the broker is back. One second keeps recovery prompt at a negligible cost on loopback."""


class KafkaAccessError(ValueError):
    """The Kafka client settings are incomplete (SASL_SSL without a username or password)."""


@dataclass(frozen=True)
class KafkaAccess:
    """The brokers and the identity a client presents to them (the password never shows in a repr)."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = SCRAM_SHA_512
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.security_protocol == "SASL_SSL" and (not self.username or self.password is None):
            raise KafkaAccessError("SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")

    @property
    def authenticated(self) -> bool:
        return self.security_protocol == "SASL_SSL"

    def as_user(self, username: str, password: str) -> KafkaAccess:
        """The same brokers, reached as another principal."""
        return replace(self, security_protocol="SASL_SSL", username=username, password=SecretStr(password))

    def client_config(self) -> dict[str, Any]:
        """Keyword arguments for any kafka-python client (producer, consumer, admin)."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
            "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        }
        if self.authenticated:
            assert self.password is not None  # checked in __post_init__
            config |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password.get_secret_value(),
                "ssl_check_hostname": True,
            }
            if self.ca_file is not None:
                config["ssl_cafile"] = str(self.ca_file)
        return config

    def environment(self) -> dict[str, str]:
        """The `KAFKA_*` variables that give a child process this access (its environment only: never logged)."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "KAFKA_SECURITY_PROTOCOL": self.security_protocol}
        if self.authenticated:
            assert self.username is not None and self.password is not None
            env |= {
                "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
                "KAFKA_SASL_USERNAME": self.username,
                "KAFKA_SASL_PASSWORD": self.password.get_secret_value(),
            }
            if self.ca_file is not None:
                env["KAFKA_SSL_CAFILE"] = str(self.ca_file)
        return env


Brokers = str | KafkaAccess
"""What the Kafka helpers accept: a bare bootstrap string (an anonymous PLAINTEXT client) or a full access."""


def access_of(brokers: Brokers) -> KafkaAccess:
    return brokers if isinstance(brokers, KafkaAccess) else KafkaAccess(brokers)


class KafkaClientSettings(BaseSettings):
    """The `KAFKA_*` variables every process reads (no service prefix: one process, one principal)."""

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_security_protocol: SecurityProtocol = Field("PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: SaslMechanism = Field(SCRAM_SHA_512, validation_alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_ssl_cafile: Path | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaClientSettings:
        self.kafka_access  # noqa: B018 -- builds the access once, so incomplete settings fail at start
        return self

    @property
    def kafka_access(self) -> KafkaAccess:
        return KafkaAccess(
            self.kafka_bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_sasl_username,
            self.kafka_sasl_password,
            self.kafka_ssl_cafile,
        )


def check_readable(admin: KafkaAdminClient, topic: str) -> None:
    """Raises `TopicAuthorizationFailedError` when the broker refuses this principal the topic.

    kafka-python's consumers quietly receive nothing from a topic they may not read; asking the broker to describe
    it gives its answer plainly.
    """
    for description in admin.describe_topics([topic]):
        error = for_code(description["error_code"])
        if error is TopicAuthorizationFailedError:
            raise TopicAuthorizationFailedError(topic)
