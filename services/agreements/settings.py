"""Agreements service settings (`AGREEMENTS_*`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.agreements.terms import DEFAULT_ZONE
from services.common.settings import ServiceSettings


class AgreementsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGREEMENTS_", extra="ignore", populate_by_name=True)

    service_name: str = "agreements"
    port: int = 8002
    consumer_group: str = "rls-agreements"
    timezone: str = DEFAULT_ZONE
    """Zone of the agreements' calendar dates: start at 00:00, end inclusive, reviews at 00:00 local time."""
    scheduler_enabled: bool = True
    tick_interval_s: float = Field(5.0, gt=0)
    """How often due transitions (activation, expiry, review due) are applied; they carry their due time anyway."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value
