"""Settings of the local runtime (`rls run`, test infrastructure): `RLS_*`."""

from __future__ import annotations

from pathlib import Path

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
    external_kafka: str | None = Field(None, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    postgres_dsn: str | None = Field(None, validation_alias="POSTGRES_DSN")
    java_home: Path | None = Field(None, validation_alias="JAVA_HOME")
    ready_timeout_s: float = 90.0
