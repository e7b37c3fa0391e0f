"""Settings shared by every service; each service subclasses with its own `<NAME>_` prefix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.cipher import StoreCipher
from services.common.kafka_security import KafkaClientSettings


class SettingsError(ValueError):
    """The configuration cannot run safely (a missing or default secret in production, say)."""


def local_cipher_key(path: Path, create: bool = True) -> SecretStr | None:
    """A development store key kept in `path` (mode 0600, created once; `var/` is outside git): stores are
    encrypted in every mode, and a development key is never a built-in default."""
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(AESCipher.create_key(32))
    return SecretStr(path.read_text().strip())


def store_cipher(key: SecretStr) -> StoreCipher:
    """The AES-GCM cipher the event stores use, for a service's other stores (read models, audit database)."""
    return StoreCipher(Environment(env={"CIPHER_KEY": key.get_secret_value()}))


def default_store_url(var_dir: Path, service: str) -> str:
    """`sqlite:///<var>/<service>.db`: where a service keeps its events unless configured (one file per application)."""
    return f"sqlite:///{var_dir / (service + '.db')}"


class _StoreVariables(BaseSettings):
    """A service's own store variables, read with its prefix (`<SERVICE>_EVENT_STORE`, `<SERVICE>_CIPHER_KEY`)."""

    model_config = SettingsConfigDict(extra="ignore")

    event_store: str | None = None
    cipher_key: SecretStr | None = None


@dataclass(frozen=True)
class StoreLocation:
    """Where another process finds a service's event store, from that service's own variables: its URL and, when the
    store is encrypted at rest, its key (the configured one, or the development key the service generated under
    `var/`; never a new one)."""

    url: str
    cipher_key: SecretStr | None

    VARIABLES: ClassVar[frozenset[str]] = frozenset(_StoreVariables.model_fields)
    """The fields read (`event_store`, `cipher_key`), under the service's prefix."""

    @classmethod
    def of(cls, service: str, var_dir: Path) -> StoreLocation:
        variables = _StoreVariables(_env_prefix=f"{service.upper()}_")
        key = variables.cipher_key or local_cipher_key(var_dir / f"{service}-cipher-key", create=False)
        return cls(variables.event_store or default_store_url(var_dir, service), key)


class PlatformSettings(KafkaClientSettings):
    """What every process of the platform needs to know (read without the service prefix)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mode: Literal["dev", "production"] = Field("dev", validation_alias="RLS_MODE")
    var_dir: Path = Field(Path("var"), validation_alias="RLS_VAR_DIR")
    jwks_url: str | None = Field(None, validation_alias="RLS_JWKS_URL")
    jwt_audience: str = Field("rls", validation_alias="RLS_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, validation_alias="RLS_JWT_ISSUER")
    """The identity provider's `iss`; in dev mode the dev issuer (`rls-dev`)."""
    dev_key_file: Path | None = Field(None, validation_alias="RLS_DEV_KEY_FILE")

    @model_validator(mode="after")
    def _production_needs_jwks(self) -> PlatformSettings:
        if self.mode == "production" and not (self.jwks_url and self.jwt_issuer):
            raise SettingsError(
                "RLS_JWKS_URL and RLS_JWT_ISSUER are required in production mode (the dev signing key is refused)"
            )
        return self

    @property
    def signing_key_file(self) -> Path:
        return self.dev_key_file or self.var_dir / "dev-signing-key"


class ServiceSettings(PlatformSettings):
    """One service process: where it listens, where its events live, which loops it runs."""

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8000
    event_store: str | None = None
    relay_enabled: bool = True
    consumers_enabled: bool = True
    relay_batch_size: int = 500
    relay_gap_timeout_s: float = 0.0
    cipher_key: SecretStr | None = Field(
        None,
        description="AES key (base64, as `eventsourcing.cryptography.AESCipher.create_key` makes) encrypting "
        "the service's stores; required in production mode, generated once under var/ in dev mode",
    )
    aggregate_cache_size: int = 1000
    checkpoint_interval_s: float = 60.0
    """How often the chain head of the event store is published (tamper evidence); 0 disables it."""
    checkpoint_topic: str = "rls.audit.checkpoints.v1"

    @model_validator(mode="after")
    def _production_encrypts_events(self) -> ServiceSettings:
        if self.mode == "production" and self.cipher_key is None:
            raise SettingsError(f"{self.service_name.upper()}_CIPHER_KEY is required in production mode")
        return self

    @model_validator(mode="after")
    def _production_authenticates_to_kafka(self) -> ServiceSettings:
        if self.mode == "production" and not self.kafka_access.authenticated:
            raise SettingsError(
                "KAFKA_SECURITY_PROTOCOL=SASL_SSL (with this service's principal) is required in production mode"
            )
        return self

    @property
    def store_cipher_key(self) -> SecretStr:
        """The key encrypting the service's stores: `<SERVICE>_CIPHER_KEY`, else (dev mode) a key generated once
        under `var/`."""
        if self.cipher_key is not None:
            return self.cipher_key
        key = local_cipher_key(self.var_dir / f"{self.service_name}-cipher-key")
        assert key is not None  # created when missing
        return key

    @property
    def event_store_setting(self) -> str:
        """The variable the event store's URL comes from (named by start-up errors)."""
        return f"{self.service_name.upper()}_EVENT_STORE"

    @property
    def event_store_url(self) -> str:
        """`sqlite:///<var>/<service>.db` unless configured (one SQLite file per application)."""
        return self.event_store or default_store_url(self.var_dir, self.service_name)
