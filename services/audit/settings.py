"""Audit service settings (`AUDIT_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore", populate_by_name=True)

    service_name: str = "audit"
    port: int = 8005
