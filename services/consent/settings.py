"""Consent service settings (`CONSENT_*`)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENT_", extra="ignore", populate_by_name=True)

    service_name: str = "consent"
    port: int = 8003
    regime: Literal["LSSSS_17_27_3", "LRSSS", "BY_DATE"] = "LSSSS_17_27_3"
    """`CONSENT_REGIME`: the regime applied; BY_DATE applies LSSSS before 2024-07-01 and the LRSSS from then."""
    consumer_group: str = "rls-consent"
    default_language: Literal["fr", "en"] = "fr"
    """Language of explanations when neither `lang` nor Accept-Language chooses one."""
