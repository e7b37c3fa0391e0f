"""Consent service settings (`CONSENT_*`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.common.settings import ServiceSettings
from services.consent.application import RECORDS_PER_PERSON, RECORDS_PER_PERSON_MAX
from services.consent.policy import DANGER_AMENDMENT, LegalSettings
from services.consent.rules import route_ids


class ConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENT_", extra="ignore", populate_by_name=True)

    service_name: str = "consent"
    port: int = 8003
    regime: Literal["LSSSS_17_27_3", "LRSSS", "BY_DATE"] = "BY_DATE"
    """`CONSENT_REGIME`: BY_DATE applies the LSSSS before 2024-07-01 and the LRSSS from then; a pinned regime is a
    policy of record (a pinned LSSSS marks decisions dated after the switch `regime_superseded`)."""
    danger_amendment_date: date = DANGER_AMENDMENT
    """`CONSENT_DANGER_AMENDMENT_DATE` (VERIFY): disclosures dated before it read art. 19.0.1's 2001 text."""
    disabled_routes: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), description="`CONSENT_DISABLED_ROUTES`: route ids switched off, comma-separated (e.g. B-10)"
    )
    lrsss_consent_max_months: int = Field(24, ge=1, le=120)
    """`CONSENT_LRSSS_CONSENT_MAX_MONTHS`: the longest an LRSSS consent may run from when it is given (months)."""
    max_records_per_person: int = Field(RECORDS_PER_PERSON, ge=1, le=RECORDS_PER_PERSON_MAX)
    """`CONSENT_MAX_RECORDS_PER_PERSON`: the consents, restrictions and refusals one organisation keeps on file for one
    person, withdrawn and expired ones included; one more is a 409 `record-limit-reached` (at most 150: a decision about
    the person reads those its two parties hold, and its event carries those concerning them)."""
    consumer_group: str = "rls-consent"
    default_language: Literal["fr", "en"] = "fr"
    """Language of explanations when neither `lang` nor Accept-Language chooses one."""

    @field_validator("disabled_routes", mode="before")
    @classmethod
    def _route_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = frozenset(part.strip() for part in value.split(",") if part.strip())
        unknown = set(value) - route_ids() if isinstance(value, frozenset | set | list | tuple) else set()
        if unknown:
            raise ValueError(f"unknown route ids: {', '.join(sorted(unknown))}")
        return value

    @property
    def legal(self) -> LegalSettings:
        return LegalSettings(
            danger_amendment=self.danger_amendment_date,
            disabled_routes=self.disabled_routes,
            lrsss_consent_max_months=self.lrsss_consent_max_months,
        )
