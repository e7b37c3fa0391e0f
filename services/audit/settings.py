"""Audit service settings (`AUDIT_*`). Where the other services keep their events is read with their own variables
(`<SERVICE>_EVENT_STORE`, `<SERVICE>_CIPHER_KEY`) by the registry that gives the audit its store sources."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.contract import topics
from services.contract.delay_standards import BoundsSetting, check_bounds


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore", populate_by_name=True)

    service_name: str = "audit"
    port: int = 8005
    database: str | None = None
    """`AUDIT_DATABASE`: the audit database replays fill (`sqlite:///…` default beside the event store, or
    `postgresql://…?schema=…`). It is rebuilt from the history at will; the audit trail is in the event store."""
    consent_url: str = "http://127.0.0.1:8003"
    """The consent service, whose `POST /v1/evaluations` re-runs recorded decisions (`decisions recheck`)."""
    consent_token: SecretStr | None = None
    """A bearer token with the `auditor` role for the CLI's rechecks (dev mode mints one when absent)."""
    timezone: str = "America/Montreal"
    """Calendar dates (`--as-of 2026-03-02`, report periods) are days in this zone."""
    standard_bounds_s: BoundsSetting = Field(
        default_factory=dict,
        description="Regional delay-standard bounds overriding Annexe II, in seconds, each from the date it takes "
        "effect (the referral service's format: services/referral/settings.py)",
    )
    replay_batch: int = Field(5000, ge=1)
    replay_check_crcs: bool = True
    """Check Kafka record batch CRCs while replaying (an audit verifies what it reads; costly without `crc32c`)."""
    referral_topic: str = topics.REFERRAL
    agreements_topic: str = topics.AGREEMENTS
    decisions_topic: str = topics.CONSENT_DECISIONS
    consent_topic: str = topics.CONSENT
    recheck_timeout_s: float = 30.0
    kafka_timeout_s: float = 10.0
    """How long to wait for the brokers before a replay or a verification says Kafka is unreachable."""

    @field_validator("standard_bounds_s")
    @classmethod
    def _bounds_are_bounds(cls, bounds: BoundsSetting) -> BoundsSetting:
        return check_bounds(bounds, "AUDIT_STANDARD_BOUNDS_S")

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.var_dir / 'audit-history.db'}"

    @property
    def history_topics(self) -> list[str]:
        """Every topic a replay reads from offset 0."""
        return [
            self.referral_topic,
            self.agreements_topic,
            self.decisions_topic,
            self.consent_topic,
            self.checkpoint_topic,
        ]
