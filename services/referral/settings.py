"""Referral service settings (`REFERRAL_*`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.contract.codes import DEFAULT_REASON_CODES


class ReferralSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRAL_", extra="ignore", populate_by_name=True)

    service_name: str = "referral"
    port: int = 8001
    public_url: str = "http://127.0.0.1:8001"
    reason_codes: tuple[str, ...] = DEFAULT_REASON_CODES
