"""Request and response bodies of the notifications API (XCreate / XPublic)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from services.contract.codes import ORG_ID_PATTERN, ServiceCode, Urgency
from services.notifications.application import SecretRotation, SubscriptionRequest
from services.notifications.credentials import IssuedCredentials
from services.notifications.domain import (
    MAX_PREVIOUS_SECRET_VALIDITY,
    MAX_URL_LENGTH,
    PREVIOUS_SECRET_VALIDITY,
    DeliveryChannel,
    DeliveryStatus,
    Filters,
    SubscriptionStatus,
)
from services.notifications.inbound import DELIVERABLE_TYPES
from services.notifications.views import DeliveryEntry, SubscriptionEntry

EVENT_TYPE_ENUM: list[JsonValue] = [t for t in sorted(DELIVERABLE_TYPES)]


class FiltersIn(BaseModel):
    """Which events concerning the organisation the subscription receives (absent: all of them)."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[str] | None = Field(
        None,
        max_length=50,
        description="Referral event types to receive (`ca.qc.rls.referral.<event>.v1`)",
        json_schema_extra={"items": {"type": "string", "enum": EVENT_TYPE_ENUM}},
    )
    min_urgency: Urgency | None = Field(
        None, description="Only referrals at least this urgent (ROUTINE < URGENT < IMMEDIATE)"
    )
    services: list[ServiceCode] | None = Field(
        None,
        max_length=20,
        description="Only referrals whose sending, receiving or previous receiving service is one of these (for a "
        "delay reminder, also the service whose clock it is: after a redirect, the previous receiver's; for a reminder "
        "published without `responsible_service`, the service the referral was addressed to when its clock started, "
        "and when that is not known the reminder goes to no subscription filtered on services)",
    )

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(t not in DELIVERABLE_TYPES for t in value):
            raise ValueError("unknown event type: use the ca.qc.rls.referral.<event>.v1 types of the contract")
        return value

    def filters(self) -> Filters:
        return Filters(
            event_types=tuple(sorted(set(self.event_types or ()))),
            min_urgency=self.min_urgency.value if self.min_urgency else None,
            services=tuple(sorted({s.value for s in self.services or ()})),
        )


class FiltersPublic(BaseModel):
    event_types: list[str]
    min_urgency: Urgency | None = None
    services: list[ServiceCode]

    @classmethod
    def of(cls, f: Filters) -> FiltersPublic:
        return cls(
            event_types=list(f.event_types),
            min_urgency=Urgency(f.min_urgency) if f.min_urgency else None,
            services=[ServiceCode(s) for s in f.services],
        )


class SubscriptionCreate(BaseModel):
    """A subscription of an organisation (the caller's own) to the referral events concerning it."""

    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ORG_ID_PATTERN, description="The subscribing organisation: the caller's own")
    channel: DeliveryChannel
    url: str | None = Field(
        None,
        max_length=MAX_URL_LENGTH,
        description="WEBHOOK: an https URL (plain http only for a loopback host, in dev mode)",
    )
    secret: str | None = Field(
        None,
        max_length=200,
        description="WEBHOOK: `whsec_<base64 of 24 to 64 bytes>`; generated (and returned once) when absent",
    )
    filters: FiltersIn | None = None

    def request(self) -> SubscriptionRequest:
        return SubscriptionRequest(
            org_id=self.org_id,
            channel=self.channel,
            url=self.url,
            secret=self.secret,
            filters=self.filters.filters() if self.filters else Filters(),
        )


class SubscriptionPublic(BaseModel):
    id: str
    org_id: str
    channel: DeliveryChannel
    topic: str | None = Field(None, description="KAFKA_TOPIC: the organisation's topic")
    url: str | None = None
    filters: FiltersPublic
    status: SubscriptionStatus
    status_reason: str | None = Field(None, description="Why the platform disabled it (DISABLED)")
    created_at: datetime
    version: int
    secret: str | None = Field(
        None,
        description="Only in the answer that created a webhook without a secret, or rotated its secret without "
        "giving one: the generated one (again in the answer to a retry with the same Idempotency-Key, as long as no "
        "later rotation replaced it)",
    )
    previous_secret_valid_until: datetime | None = Field(
        None,
        description="WEBHOOK, after a secret rotation: until when webhooks are (were) also signed with the secret(s) "
        "replaced",
    )

    @classmethod
    def of(cls, s: SubscriptionEntry, secret: str | None = None) -> SubscriptionPublic:
        return cls(
            id=str(s.id),
            org_id=s.org_id,
            channel=s.channel,
            topic=s.topic,
            url=s.url,
            filters=FiltersPublic.of(s.filters),
            status=s.status,
            status_reason=s.status_reason,
            created_at=s.created_at,
            version=s.version,
            secret=secret,
            previous_secret_valid_until=s.previous_secret_valid_until,
        )


class SecretRotationCreate(BaseModel):
    """A webhook's new signing secret. Until `previous_valid_for_s` has passed, every webhook carries two signatures
    (`webhook-signature: v1,<new> v1,<previous>`): the receiver switches secrets missing and doubling no event."""

    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        None,
        max_length=200,
        description="`whsec_<base64 of 24 to 64 bytes>`, not the current one; generated (returned once) when absent",
    )
    previous_valid_for_s: int = Field(
        int(PREVIOUS_SECRET_VALIDITY.total_seconds()),
        ge=0,
        le=int(MAX_PREVIOUS_SECRET_VALIDITY.total_seconds()),
        description="How long webhooks are still signed with the secret replaced as well, in seconds (default 24 h, "
        "at most 7 days; 0: from now on with the new secret only, as when the old one leaked)",
    )

    def rotation(self) -> SecretRotation:
        return SecretRotation(self.secret, timedelta(seconds=self.previous_valid_for_s))


class SubscriptionPage(BaseModel):
    items: list[SubscriptionPublic]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page (absent: last page)")


class DeliveryPublic(BaseModel):
    """One event on its way to one subscription."""

    delivery_id: str = Field(description="Also the `webhook-id` header of every attempt (receivers deduplicate on it)")
    subscription_id: str
    event_id: str = Field(description="The CloudEvent id")
    event_type: str
    referral_id: str
    attempts: int
    status: DeliveryStatus
    last_error: str | None = None
    created_at: datetime
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None

    @classmethod
    def of(cls, d: DeliveryEntry) -> DeliveryPublic:
        return cls(
            delivery_id=str(d.id),
            subscription_id=str(d.subscription_id),
            event_id=d.event_id,
            event_type=d.event_type,
            referral_id=d.referral_id,
            attempts=d.attempts,
            status=d.status,
            last_error=d.last_error,
            created_at=d.created_at,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
        )


class KafkaCredentialsCreate(BaseModel):
    """Whose credentials: the caller's own organisation."""

    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ORG_ID_PATTERN, description="The caller's organisation")


class KafkaCredentialsPublic(BaseModel):
    """Client settings for the organisation's Kafka user. The password is shown in this answer only."""

    username: str = Field(description="SASL username (`org-<org_id>`)")
    password: str = Field(description="SASL password, shown once; issuing again rotates it")
    bootstrap: str = Field(description="bootstrap.servers")
    security_protocol: str = Field(description="security.protocol (`SASL_SSL`)")
    sasl_mechanism: str = Field(description="sasl.mechanism (`SCRAM-SHA-512`)")
    ca_pem: str | None = Field(None, description="The CA certificate (PEM) to trust for the brokers' TLS")
    topic: str = Field(description="The organisation's topic, `rls.org.<org_id>.referrals.v1`")
    topic_prefix: str = Field(description="Every topic whose name starts with this is readable")
    group_prefix: str = Field(description="Consumer groups must be named with this prefix")

    @classmethod
    def of(cls, issued: IssuedCredentials) -> KafkaCredentialsPublic:
        return cls(
            username=issued.username,
            password=issued.password.get_secret_value(),
            bootstrap=issued.bootstrap,
            security_protocol=issued.security_protocol,
            sasl_mechanism=issued.sasl_mechanism,
            ca_pem=issued.ca_pem,
            topic=issued.topic,
            topic_prefix=issued.topic_prefix,
            group_prefix=issued.group_prefix,
        )
