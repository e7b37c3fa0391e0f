"""Agreements service settings (`AGREEMENTS_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class AgreementsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGREEMENTS_", extra="ignore", populate_by_name=True)

    service_name: str = "agreements"
    port: int = 8002
