"""Notifications service settings (`NOTIFICATIONS_*`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.kafka_acls import ACL_FILE
from services.common.kafka_security import KafkaAccess
from services.common.settings import ServiceSettings, SettingsError
from services.common.shares import SLOW_FOR
from services.notifications.application import SUBSCRIPTIONS_PER_ORG, SUBSCRIPTIONS_PER_ORG_MAX
from services.notifications.domain import RetryPolicy


class NotificationsSettings(ServiceSettings):
    """`relay_enabled` runs the delivery worker (this service's way out, as the outbox relay is for others)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    service_name: str = "notifications"
    port: int = 8004
    consumer_group: str = "rls-notifications"
    retry_window_s: float = Field(
        24 * 3600, ge=0, description="failed deliveries are retried this long, then dead-lettered"
    )
    retry_initial_s: float = Field(5.0, gt=0, description="wait after the first failed attempt")
    retry_multiplier: float = Field(2.0, ge=1)
    retry_max_interval_s: float = Field(3600.0, gt=0, description="longest wait between two attempts")
    retry_jitter: float = Field(0.5, ge=0, le=1, description="random share of each wait")
    webhook_timeout_s: float = Field(
        10.0, gt=0, description="longest one webhook attempt may take, connection, request and answer included"
    )
    delivery_concurrency: int = Field(8, ge=1, description="webhook attempts made at the same time")
    delivery_concurrency_per_org: int = Field(
        0,
        ge=0,
        description="webhook attempts, and webhook name lookups (those past their deadline included), one "
        "organisation may have under way at once: fewer than delivery_concurrency, the rest stays for the others "
        "(0: 2, or one less than delivery_concurrency when that is 2 or less, and 1 with a single attempt at a time)",
    )
    delivery_concurrency_reserve: int = Field(
        0,
        ge=0,
        description="delivery threads, and webhook name-lookup threads, that only an organisation holding none and "
        "not slow lately may take (slow: an attempt over half webhook_timeout_s, or a lookup past its deadline, in the "
        f"last {SLOW_FOR / 60:g} minutes): organisations whose webhooks hang until their deadlines, however many, hold "
        "at most delivery_concurrency minus this together (one not yet seen hanging takes at most one reserved thread, "
        "until its first deadline); fewer than delivery_concurrency (0: the per-organisation share, and none with a "
        "single attempt at a time)",
    )
    webhook_lookup_timeout_s: float = Field(
        5.0, gt=0, description="longest a webhook URL's host may take to resolve when subscribing (then 422 on url)"
    )
    delivery_poll_interval_s: float = Field(0.05, gt=0)
    max_subscriptions_per_org: int = Field(SUBSCRIPTIONS_PER_ORG, ge=1, le=SUBSCRIPTIONS_PER_ORG_MAX)
    """`NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_ORG`: the live subscriptions (paused and disabled ones included) one
    organisation may have; one more is a 409 `subscription-limit-reached` naming `org_id` (at most 200: each event
    concerning the organisation schedules a delivery per subscription, in the consumer every organisation shares)."""
    kafka_issuer_username: str | None = None
    """The principal that issues establishments' Kafka credentials (`svc-credentials`); unset: none are issued."""
    kafka_issuer_password: SecretStr | None = None
    kafka_client_bootstrap: str | None = None
    """The bootstrap establishments are told to use (default: the one this service uses)."""
    kafka_acl_file: Path = ACL_FILE
    """The ACL file whose `[organisation]` template establishments' users receive."""

    @model_validator(mode="after")
    def _one_organisation_never_holds_every_thread(self) -> NotificationsSettings:
        """A share or reserve set is checked; one not set follows the concurrency (a deployment that ran 2 attempts
        at a time before shares existed keeps starting). One attempt at a time cannot be shared: its share is it, and
        nothing is kept in reserve."""
        limit = max(1, self.delivery_concurrency - 1)
        if self.delivery_concurrency_per_org == 0:
            self.delivery_concurrency_per_org = min(2, limit)
        elif self.delivery_concurrency_per_org > limit:
            raise SettingsError(
                "NOTIFICATIONS_DELIVERY_CONCURRENCY_PER_ORG must be less than NOTIFICATIONS_DELIVERY_CONCURRENCY"
            )
        if self.delivery_concurrency_reserve == 0:
            self.delivery_concurrency_reserve = min(self.delivery_concurrency_per_org, self.delivery_concurrency - 1)
        elif self.delivery_concurrency_reserve >= self.delivery_concurrency:
            raise SettingsError(
                "NOTIFICATIONS_DELIVERY_CONCURRENCY_RESERVE must be less than NOTIFICATIONS_DELIVERY_CONCURRENCY"
            )
        return self

    @property
    def kafka_issuer(self) -> KafkaAccess | None:
        """The issuer principal on the same brokers, when configured."""
        username, password = self.kafka_issuer_username, self.kafka_issuer_password
        if not self.kafka_access.authenticated or username is None or password is None:
            return None
        return self.kafka_access.as_user(username, password.get_secret_value())

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial=timedelta(seconds=self.retry_initial_s),
            multiplier=self.retry_multiplier,
            max_interval=timedelta(seconds=self.retry_max_interval_s),
            window=timedelta(seconds=self.retry_window_s),
            jitter=self.retry_jitter,
        )
