"""Consent service settings (`CONSENT_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENT_", extra="ignore", populate_by_name=True)

    service_name: str = "consent"
    port: int = 8003
