"""Referral service settings (`REFERRAL_*`).

`REFERRAL_STANDARD_BOUNDS_S` (JSON object) overrides Annexe II's delay bounds, per standard: seconds, applying from
the beginning, or a list of the bounds a region set over time, each applying to the clocks that START from its `from`
on (a date-time with its offset, or a date: 00:00 in Québec). A clock keeps the bound in force when it started: a
region that shortens a bound does not turn a clock met under the former one into a breach, nor flag it. To change a
bound, keep the one in force with no `from` and add the new one with the date it takes effect:

    REFERRAL_STANDARD_BOUNDS_S='{"AAOR_ANALYSIS": [{"s": 864000}, {"s": 604800, "from": "2027-04-01"}]}'

(`services/contract/delay_standards.py`, `BoundsSetting`: the standards board and the audit read theirs alike.)
"""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.auth import PLATFORM_ORG, load_dev_key
from services.common.settings import ServiceSettings, SettingsError
from services.contract.codes import DEFAULT_REASON_CODES
from services.contract.delay_standards import BoundsSetting, Policy, check_bounds, policy_of
from services.contract.duration_standards import DurationPolicy


class ReferralSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRAL_", extra="ignore", populate_by_name=True)

    service_name: str = "referral"
    port: int = 8001
    public_url: str = "http://127.0.0.1:8001"
    agreements_url: str = "http://127.0.0.1:8002"
    consent_url: str = "http://127.0.0.1:8003"
    reason_codes: tuple[str, ...] = DEFAULT_REASON_CODES
    standard_bounds_s: BoundsSetting = Field(
        default_factory=dict,
        description="Regional bounds overriding Annexe II, in seconds, each from the date it takes effect (JSON "
        "object; see the module's docstring)",
    )
    at_risk_ratio: float = Field(0.75, gt=0, lt=1)
    aaor_max_meetings: int = Field(
        DurationPolicy.aaor_max_meetings, ge=1, description="AAOR's meetings before `duration-exceeded`"
    )
    consult_max_meetings: int = Field(
        DurationPolicy.consult_max_meetings, ge=1, description="A consultation's meetings without a plan (its cap)"
    )
    tick_interval_s: float = 5.0
    directory_cache_s: float = Field(10.0, description="How long organisations and coverage answers are reused")
    vault_url: str | None = None
    vault_key: SecretStr | None = Field(None, description="base64 of 32 bytes; generated under var/ in dev mode")
    service_token_file: Path | None = Field(
        None,
        description=f"A file holding the service's own bearer token (role `service` of organisation `{PLATFORM_ORG}`), "
        "kept fresh by the identity provider's agent; in dev mode a token is minted with the dev signing key",
    )

    @field_validator("standard_bounds_s")
    @classmethod
    def _bounds_are_bounds(cls, bounds: BoundsSetting) -> BoundsSetting:
        return check_bounds(bounds, "REFERRAL_STANDARD_BOUNDS_S")

    @model_validator(mode="after")
    def _production_needs_a_vault_key(self) -> ReferralSettings:
        if self.mode == "production" and self.vault_key is None:
            raise SettingsError("REFERRAL_VAULT_KEY is required in production mode")
        if self.mode == "production" and self.service_token_file is None:
            raise SettingsError("REFERRAL_SERVICE_TOKEN_FILE is required in production mode")
        return self

    def policy(self) -> Policy:
        return policy_of(self.standard_bounds_s, self.at_risk_ratio)

    def durations(self) -> DurationPolicy:
        return DurationPolicy(self.aaor_max_meetings, self.consult_max_meetings)

    @property
    def vault_store_url(self) -> str:
        """Beside the event store: `sqlite:///<var>/referral-vault.db`, or the same PostgreSQL database."""
        if self.vault_url:
            return self.vault_url
        if self.event_store_url.startswith(("postgres", "memory")):
            return self.event_store_url
        return f"sqlite:///{self.var_dir / 'referral-vault.db'}"

    @property
    def vault_setting(self) -> str:
        """The variable the vault's URL comes from (named by start-up errors)."""
        return "REFERRAL_VAULT_URL" if self.vault_url else self.event_store_setting

    def vault_master_key(self) -> bytes:
        if self.vault_key is not None:
            return base64.urlsafe_b64decode(self.vault_key.get_secret_value())
        return base64.urlsafe_b64decode(load_dev_key(Path(self.var_dir) / "referral-vault-key"))
