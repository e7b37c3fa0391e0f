"""Settings shared by every service; each service subclasses with its own `<NAME>_` prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.kafka_security import KafkaClientSettings


class SettingsError(ValueError):
    """The configuration cannot run safely (a missing or default secret in production, say)."""


class PlatformSettings(KafkaClientSettings):
    """What every process of the platform needs to know (read without the service prefix)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mode: Literal["dev", "production"] = Field("dev", validation_alias="RLS_MODE")
    var_dir: Path = Field(Path("var"), validation_alias="RLS_VAR_DIR")
    jwks_url: str | None = Field(None, validation_alias="RLS_JWKS_URL")
    jwt_audience: str = Field("rls", validation_alias="RLS_JWT_AUDIENCE")
    dev_key_file: Path | None = Field(None, validation_alias="RLS_DEV_KEY_FILE")

    @model_validator(mode="after")
    def _production_needs_jwks(self) -> PlatformSettings:
        if self.mode == "production" and not self.jwks_url:
            raise SettingsError("RLS_JWKS_URL is required in production mode (the dev signing key is refused)")
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
    relay_gap_timeout_s: float = 10.0
    cipher_key: SecretStr | None = Field(
        None,
        description="AES key (base64, as `eventsourcing.cryptography.AESCipher.create_key` makes) encrypting "
        "every stored event of this service; required in production mode",
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
    def event_store_url(self) -> str:
        """`sqlite:///<var>/<service>.db` unless configured (one SQLite file per application)."""
        return self.event_store or f"sqlite:///{self.var_dir / (self.service_name + '.db')}"
