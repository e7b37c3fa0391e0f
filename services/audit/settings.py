"""Audit service settings (`AUDIT_*`), and where the other services keep their event stores (their own variables)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings, local_cipher_key
from services.contract import topics


@dataclass(frozen=True)
class StoreRef:
    """One service's event store: the service, its application's name (PostgreSQL table prefix), its URL and, for
    stores encrypted at rest, the key (only replaying from the store decodes events; verification needs no key)."""

    service: str
    application: str
    url: str
    cipher_key: SecretStr | None = None


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
    standard_bounds_s: dict[str, int] = Field(
        default_factory=dict, description="Regional delay-standard bounds overriding Annexe II, in seconds"
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

    # Where the audited services keep their events: the same variables those services read.
    referral_event_store: str | None = Field(None, validation_alias="REFERRAL_EVENT_STORE")
    agreements_event_store: str | None = Field(None, validation_alias="AGREEMENTS_EVENT_STORE")
    consent_event_store: str | None = Field(None, validation_alias="CONSENT_EVENT_STORE")
    notifications_event_store: str | None = Field(None, validation_alias="NOTIFICATIONS_EVENT_STORE")
    referral_cipher_key: SecretStr | None = Field(None, validation_alias="REFERRAL_CIPHER_KEY")
    agreements_cipher_key: SecretStr | None = Field(None, validation_alias="AGREEMENTS_CIPHER_KEY")
    consent_cipher_key: SecretStr | None = Field(None, validation_alias="CONSENT_CIPHER_KEY")
    notifications_cipher_key: SecretStr | None = Field(None, validation_alias="NOTIFICATIONS_CIPHER_KEY")

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

    def stores(self) -> list[StoreRef]:
        """Every service's event store (the default: `sqlite:///<var>/<service>.db`, as each service uses)."""

        def default(service: str) -> str:
            return f"sqlite:///{self.var_dir / (service + '.db')}"

        def key(service: str, configured: SecretStr | None) -> SecretStr | None:
            """The service's key, or the development key it generated under var/ (when there is one)."""
            return configured or local_cipher_key(self.var_dir / f"{service}-cipher-key", create=False)

        return [
            StoreRef(
                "referral",
                "referrals",
                self.referral_event_store or default("referral"),
                key("referral", self.referral_cipher_key),
            ),
            StoreRef(
                "agreements",
                "agreements",
                self.agreements_event_store or default("agreements"),
                key("agreements", self.agreements_cipher_key),
            ),
            StoreRef(
                "consent",
                "consents",
                self.consent_event_store or default("consent"),
                key("consent", self.consent_cipher_key),
            ),
            StoreRef(
                "notifications",
                "notifications",
                self.notifications_event_store or default("notifications"),
                key("notifications", self.notifications_cipher_key),
            ),
            StoreRef("audit", "audit", self.event_store_url, self.store_cipher_key),
        ]
