"""Agreements service settings (`AGREEMENTS_*`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.agreements.terms import DEFAULT_ZONE
from services.common.settings import ServiceSettings
from services.contract.hours_standards import HoursPolicy


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
    aaor_weekly_hours: float = Field(HoursPolicy.aaor_weekly_hours, gt=0, le=168)
    """AAOR's hours a week by phone and in person (the conformance view's bound)."""
    evening_from: str = Field(HoursPolicy.evening_from, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    """Weekday hours from this time on are evening hours (AAOR must offer some)."""
    day_from: str = Field(HoursPolicy.day_from, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    """Weekday hours from this time until the evening are daytime hours (AAOR must offer some)."""

    def hours_policy(self) -> HoursPolicy:
        return HoursPolicy(self.aaor_weekly_hours, self.evening_from, self.day_from)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value
