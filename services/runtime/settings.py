"""Settings of the local runtime (`rls run`, test infrastructure): `RLS_*`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import PlatformSettings


def _default_cache() -> Path:
    return Path.home() / ".cache" / "rls"


class RuntimeSettings(PlatformSettings):
    """Where the local Kafka lives and how it is reached; `KAFKA_BOOTSTRAP_SERVERS` set means: use that one."""

    model_config = SettingsConfigDict(env_prefix="RLS_", extra="ignore", populate_by_name=True)

    cache_dir: Path = Field(default_factory=_default_cache)
    kafka_version: str = "4.1.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    kafka_security: Literal["plaintext", "sasl_ssl"] = "plaintext"
    """`sasl_ssl`: the local broker in its production shape (TLS from a local CA, SCRAM users, ACLs from
    deploy/kafka/acls.toml, every service on its own principal); `plaintext`: anonymous, for the embedded demo."""
    kafka_reauth_s: float = Field(300.0, gt=0)
    """sasl_ssl: how often live connections re-authenticate (a revoked or rotated password stops working on them)."""
    external_kafka: str | None = Field(None, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    postgres_dsn: str | None = Field(None, validation_alias="POSTGRES_DSN")
    java_home: Path | None = Field(None, validation_alias="JAVA_HOME")
    ready_timeout_s: float = 90.0
