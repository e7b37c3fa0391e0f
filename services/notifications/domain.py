"""Delivery of referral events to the organisations they concern: dispatches, subscriptions, deliveries.

A `Dispatch` records, once per upstream referral event, the event as partners may see it (ids, codes, statuses,
times and a link; never record information) and the organisations it concerns. A `Subscription` is one
organisation's wish to receive those events on its Kafka topic or at a webhook. A `Delivery` is one event on its
way to one subscription: attempted, failed (and retried with backoff), delivered or dead-lettered.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.domain import Aggregate, event

from services.contract.ids import id_for

DISPATCH_NAMESPACE = uuid.UUID("9a7d8c55-3f0e-4b6e-8d2b-1f4c2a7e5b13")
SUBSCRIPTION_NAMESPACE = uuid.UUID("3b0f5f0e-6a54-4c1e-9f51-7d5e8a2c4d60")
DELIVERY_NAMESPACE = uuid.UUID("c1d7e3a2-2b8f-4e0a-9c6d-5a4b3f2e1d09")

URGENCY_ORDER = ("ROUTINE", "URGENT", "IMMEDIATE")
"""Urgencies from the least to the most urgent (a `min_urgency` filter keeps this one and those after it)."""

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the Standard Webhooks prefix, not a secret
SECRET_BYTES = (24, 64)
"""Standard Webhooks: the key behind `whsec_` is 24 to 64 random bytes."""

MAX_URL_LENGTH = 2048

PREVIOUS_SECRET_VALIDITY = timedelta(hours=24)
"""After a rotation, how long webhooks are still signed with the secret replaced as well (unless asked otherwise)."""
MAX_PREVIOUS_SECRET_VALIDITY = timedelta(days=7)
MAX_PREVIOUS_SECRETS = 3
"""Secrets replaced but still signing (rotations within one grace period); with the current one, at most four
signatures per webhook."""


class SubscriptionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    """By the organisation; events are kept (as pending deliveries) and sent when it resumes."""
    DISABLED = "DISABLED"
    """By the platform, because the receiver answered 410 Gone; resuming re-enables it."""
    DELETED = "DELETED"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    """The last attempt failed; another is scheduled (`next_attempt_at`)."""
    DEAD_LETTERED = "DEAD_LETTERED"
    """Given up after the retry window; a redelivery can be asked for."""


class DeliveryChannel(StrEnum):
    KAFKA_TOPIC = "KAFKA_TOPIC"
    WEBHOOK = "WEBHOOK"


# --- errors ------------------------------------------------------------------------------------------------


class NotificationsError(Exception):
    """Base of the notifications domain's errors."""


class SubscriptionNotFoundError(NotificationsError, LookupError):
    """No such subscription for the caller's organisation (or it was deleted: a retried creation of it too)."""


class SubscriptionInvalidError(NotificationsError, ValueError):
    """A subscription request breaks a rule; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SubscriptionLookupBusyError(NotificationsError):
    """The webhook's host cannot be resolved now: no lookup thread was the organisation's to take in time (its earlier
    lookups, which its name server has not answered, are all still under way, or the threads it may take are busy).
    Nothing was created; the request can be retried later."""


class SubscriptionExistsError(NotificationsError):
    """The organisation already has a live subscription to its topic (a second would publish everything twice)."""

    def __init__(self, message: str, existing_id: uuid.UUID) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class SubscriptionLimitReachedError(NotificationsError):
    """The organisation has as many live subscriptions as the service keeps for one organisation (each event
    concerning it schedules a delivery per subscription, in the consumer every organisation shares); names the field
    (`org_id`)."""

    field = "org_id"


class SubscriptionIdempotencyConflictError(NotificationsError):
    """The Idempotency-Key was already used for a different subscription request."""


class SubscriptionVersionConflictError(NotificationsError):
    """If-Match names another version of the subscription."""


class ChangedMeanwhileError(NotificationsError):
    """Other writers changed the subscription or delivery each time the command was applied again (a 409: the
    client asks again)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the {what} kept changing; try again")


class SubscriptionWithoutSecretError(NotificationsError):
    """A topic subscription has no signing secret to rotate (only webhooks are signed)."""


class DeliveryNotFoundError(NotificationsError, LookupError):
    """No such delivery for the caller's organisation."""


class KafkaCredentialsUnavailableError(NotificationsError):
    """This platform issues no Kafka credentials (its broker authenticates nobody, or no issuer is configured)."""


class KafkaCredentialsNotFoundError(NotificationsError):
    """The organisation has no Kafka credentials (never issued, or already revoked)."""


class KafkaCredentialsBrokerError(NotificationsError):
    """The broker could not be reached or refused the change; nothing was issued."""


# --- value objects -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralFacts:
    """What routing and filters read from a referral event: ids and codes only."""

    referral_id: str
    event_type: str
    from_org: str
    to_org: str
    redirected_from_org: str | None = None
    responsible_org: str | None = None
    """Set for reminders (delay at risk / breached): only the organisation that must act is notified."""
    urgency: str | None = None
    services: frozenset[str] = frozenset()
    """The services `Filters.services` matches: sending, receiving, previous receiving and, for a reminder, the
    service whose clock it is."""
    clock_service: str | None = None
    """For a reminder, the service whose clock it is: named by the event (`responsible_service`) or, for one published
    before that field, found from the referral's receiving service when the clock started; None: not known."""
    clock_started_at: datetime | None = None
    """For a reminder, when its clock started."""

    @property
    def clock_service_unknown(self) -> bool:
        """A reminder whose clock's service is not known: no `services` filter may match it (see `Filters.matches`)."""
        return self.responsible_org is not None and self.clock_service is None

    def with_clock_service(self, service: str) -> ReferralFacts:
        return replace(self, clock_service=service, services=self.services | {service})

    @property
    def concerned_orgs(self) -> list[str]:
        """The sender, the receiver and, for a redirect, the previous receiver; for a reminder, the one who must act."""
        if self.responsible_org:
            return [self.responsible_org]
        orgs = {self.from_org, self.to_org}
        if self.redirected_from_org:
            orgs.add(self.redirected_from_org)
        return sorted(orgs)


@dataclass(frozen=True)
class Filters:
    """Which of the events concerning an organisation a subscription receives (empty: all of them)."""

    event_types: tuple[str, ...] = ()
    min_urgency: str | None = None
    services: tuple[str, ...] = ()
    """Kept when the referral's sending, receiving or previous receiving service is one of these (for a reminder,
    also the service whose clock it is)."""

    def matches(self, facts: ReferralFacts) -> bool:
        if self.event_types and facts.event_type not in self.event_types:
            return False
        if self.min_urgency is not None and (
            facts.urgency not in URGENCY_ORDER
            or URGENCY_ORDER.index(facts.urgency) < URGENCY_ORDER.index(self.min_urgency)
        ):
            return False
        if not self.services:
            return True
        # a reminder is about one service's clock: sent to a subscription filtered on another service, it would tell
        # that team of a person it never dealt with; not knowing the clock's service, no filtered subscription gets it
        return not facts.clock_service_unknown and bool(facts.services & set(self.services))

    def to_document(self) -> dict[str, Any]:
        return {
            "event_types": list(self.event_types),
            "min_urgency": self.min_urgency,
            "services": list(self.services),
        }

    @classmethod
    def of(cls, document: dict[str, Any]) -> Filters:
        return cls(
            event_types=tuple(document.get("event_types") or ()),
            min_urgency=document.get("min_urgency"),
            services=tuple(document.get("services") or ()),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, within a window that starts at the first failed attempt (again after a
    redelivery, or once the subscription resumes)."""

    initial: timedelta = timedelta(seconds=5)
    multiplier: float = 2.0
    max_interval: timedelta = timedelta(hours=1)
    window: timedelta = timedelta(hours=24)
    jitter: float = 0.5
    """The share of each interval that is random: an interval lies in [base × (1 − jitter), base)."""

    def interval(self, failures: int, draw: float) -> timedelta:
        """The wait after the `failures`-th failed attempt; `draw` is a random number in [0, 1)."""
        base = min(
            self.max_interval.total_seconds(),
            self.initial.total_seconds() * self.multiplier ** min(max(failures - 1, 0), self._growths_to_cap()),
        )
        return timedelta(seconds=base * (1 - self.jitter + self.jitter * draw))

    def _growths_to_cap(self) -> int:
        """How many multiplications take `initial` to `max_interval`: more change nothing once capped, and a float
        power overflows (`2.0 ** 1024`), which 1024 failures reach when retries are a minute apart for a day."""
        if self.multiplier <= 1:
            return 0
        return max(math.ceil(math.log(self.max_interval / self.initial, self.multiplier)), 0)


def check_endpoint(channel: DeliveryChannel, url: str | None, secret: str | None, allow_loopback_http: bool) -> None:
    """Webhooks go to https URLs (plain http only to a loopback host, and only where allowed: dev mode)."""
    if channel is DeliveryChannel.KAFKA_TOPIC:
        for name, value in (("url", url), ("secret", secret)):
            if value is not None:
                raise SubscriptionInvalidError(name, "only webhooks take a url and a secret")
        return
    if not url:
        raise SubscriptionInvalidError("url", "a webhook needs an https URL")
    check_webhook_url(url, allow_loopback_http)
    if secret is not None:
        secret_key(secret)


def check_webhook_url(url: str, allow_loopback_http: bool) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise SubscriptionInvalidError("url", f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):  # urlsplit drops or keeps them; the HTTP client refuses them
        raise SubscriptionInvalidError("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise SubscriptionInvalidError("url", "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise SubscriptionInvalidError("url", "must use https")
    if not host:
        raise SubscriptionInvalidError("url", "must name a host")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise SubscriptionInvalidError("url", "must not carry credentials or a fragment")
    if parts.scheme == "http":
        if not is_loopback(host):
            raise SubscriptionInvalidError("url", "must use https (plain http only for a loopback host in dev mode)")
        if not allow_loopback_http:
            raise SubscriptionInvalidError("url", "must use https (plain http is refused in production mode)")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_key(secret: str) -> bytes:
    """The signing key: the base64-decoded part of `whsec_<base64>`."""
    if not secret.startswith(SECRET_PREFIX):
        raise SubscriptionInvalidError("secret", "must have the form whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SubscriptionInvalidError("secret", "must have the form whsec_<base64>") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise SubscriptionInvalidError("secret", f"must encode {low} to {high} bytes")
    return key


@dataclass(frozen=True)
class PreviousSecret:
    """A webhook secret replaced by a rotation, still signing until `valid_until` (receivers switch meanwhile)."""

    secret: str
    valid_until: datetime


def check_previous_validity(previous_valid_for: timedelta) -> None:
    if not timedelta(0) <= previous_valid_for <= MAX_PREVIOUS_SECRET_VALIDITY:
        limit = int(MAX_PREVIOUS_SECRET_VALIDITY.total_seconds())
        raise SubscriptionInvalidError("previous_valid_for_s", f"must be 0 to {limit} seconds (7 days)")


def after_rotation(
    current: str, previous: Sequence[PreviousSecret], new: str, at: datetime, valid_until: datetime
) -> list[PreviousSecret]:
    """The secrets still signing besides `new` once it replaces `current` at `at`: `current` until `valid_until`, and
    those replaced before that are still valid, never beyond `valid_until` (a rotation with no grace period ends them
    all: the secret leaked) nor extended; the most recently replaced first, at most `MAX_PREVIOUS_SECRETS`."""
    kept = [
        PreviousSecret(p.secret, min(p.valid_until, valid_until))
        for p in previous
        if p.secret not in (new, current) and p.valid_until > at
    ]
    if valid_until > at:
        kept.insert(0, PreviousSecret(current, valid_until))
    return [p for p in kept if p.valid_until > at][:MAX_PREVIOUS_SECRETS]


def signing_secrets(current: str, previous: Sequence[PreviousSecret], at: datetime) -> list[str]:
    """The secrets a webhook sent at `at` is signed with: the current one, then those replaced still valid then."""
    return [current, *(p.secret for p in previous if at < p.valid_until)]


# --- aggregates --------------------------------------------------------------------------------------------


def dispatch_id(upstream_event_id: str) -> uuid.UUID:
    """One dispatch per upstream event, whatever the number of copies Kafka delivers."""
    return uuid.uuid5(DISPATCH_NAMESPACE, upstream_event_id)


def subscription_id_for(org_id: str, idempotency_key: str | None) -> uuid.UUID:
    """Retries of a request with the same Idempotency-Key name the same subscription."""
    return id_for(SUBSCRIPTION_NAMESPACE, idempotency_key, org_id)


def delivery_id_for(upstream_event_id: str, subscription_id: uuid.UUID) -> uuid.UUID:
    """One delivery per event and subscription; it is also the `webhook-id` receivers deduplicate on."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{upstream_event_id}|{subscription_id}")


class Dispatch(Aggregate):
    """One upstream referral event routed to each organisation it concerns."""

    class Routed(Aggregate.Created):
        referral_id: str
        org_ids: list[str]
        cloud_event: dict[str, Any]

    @event(Routed)
    def __init__(
        self,
        id: uuid.UUID,
        referral_id: str,
        org_ids: list[str],
        cloud_event: dict[str, Any],
    ) -> None:
        self.referral_id = referral_id
        self.org_ids = org_ids
        self.cloud_event = cloud_event


class Subscription(Aggregate):
    """An organisation's subscription to the referral events concerning it, on its topic or at a webhook."""

    class Created(Aggregate.Created):
        org_id: str
        channel: str
        url: str | None
        secret: str | None
        filters: dict[str, Any]
        created_at: datetime
        created_by: str
        request_digest: str

    class Paused(Aggregate.Event):
        at: datetime
        by: str

    class Resumed(Aggregate.Event):
        at: datetime
        by: str

    class Disabled(Aggregate.Event):
        at: datetime
        reason: str

    class Deleted(Aggregate.Event):
        at: datetime
        by: str

    class SecretRotated(Aggregate.Event):
        """The webhook's signing secret replaced; the one it replaces still signs until `previous_valid_until`.
        `secret` is protected as the creation's (the store's cipher, never published)."""

        at: datetime
        by: str
        secret: str
        generated: bool
        previous_valid_until: datetime
        idempotency_key: str | None
        request_digest: str

    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        org_id: str,
        channel: str,
        url: str | None,
        secret: str | None,
        filters: dict[str, Any],
        created_at: datetime,
        created_by: str,
        request_digest: str,
    ) -> None:
        self.org_id = org_id
        self.channel = DeliveryChannel(channel)
        self.url = url
        self.secret = secret
        self.filters = Filters.of(filters)
        self.created_at = created_at
        self.request_digest = request_digest
        self.status = SubscriptionStatus.ACTIVE
        self.status_reason: str | None = None
        self.previous_secrets: list[PreviousSecret] = []
        self.rotations: dict[str, str] = {}
        """The request digest of each rotation sent with an Idempotency-Key."""
        self.last_rotation: tuple[str | None, bool] | None = None
        """The last rotation's Idempotency-Key, and whether its secret was generated."""

    def pause(self, at: datetime, by: str) -> None:
        self._require_live()
        if self.status is not SubscriptionStatus.PAUSED:
            self._pause(at=at, by=by)

    def resume(self, at: datetime, by: str) -> None:
        self._require_live()
        if self.status is not SubscriptionStatus.ACTIVE:
            self._resume(at=at, by=by)

    def disable(self, at: datetime, reason: str) -> None:
        """The receiver said it is gone (410): stop attempting until the organisation resumes."""
        if self.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED):
            self._disable(at=at, reason=reason)

    def delete(self, at: datetime, by: str) -> None:
        self._require_live()
        self._delete(at=at, by=by)

    def rotate_secret(
        self,
        secret: str,
        generated: bool,
        at: datetime,
        by: str,
        previous_valid_for: timedelta = PREVIOUS_SECRET_VALIDITY,
        idempotency_key: str | None = None,
        request_digest: str = "",
    ) -> None:
        """Signs with `secret` from now on, and with the secret it replaces as well for `previous_valid_for`."""
        self._require_live()
        if self.channel is not DeliveryChannel.WEBHOOK or self.secret is None:
            raise SubscriptionWithoutSecretError("a topic subscription has no signing secret")
        secret_key(secret)
        check_previous_validity(previous_valid_for)
        if secret == self.secret:
            raise SubscriptionInvalidError("secret", "must differ from the current secret")
        self._rotate_secret(
            at=at,
            by=by,
            secret=secret,
            generated=generated,
            previous_valid_until=at + previous_valid_for,
            idempotency_key=idempotency_key,
            request_digest=request_digest,
        )

    def replayed_rotation(self, idempotency_key: str | None, request_digest: str) -> bool:
        """Whether a rotation with this Idempotency-Key was recorded (raises if it was another request)."""
        if idempotency_key is None or idempotency_key not in self.rotations:
            return False
        if self.rotations[idempotency_key] != request_digest:
            raise SubscriptionIdempotencyConflictError("this Idempotency-Key was used for another rotation")
        return True

    def signing_secrets(self, at: datetime) -> list[str]:
        return [] if self.secret is None else signing_secrets(self.secret, self.previous_secrets, at)

    def _require_live(self) -> None:
        if self.status is SubscriptionStatus.DELETED:
            raise SubscriptionNotFoundError("the subscription was deleted")

    @event(SecretRotated)
    def _rotate_secret(
        self,
        at: datetime,
        by: str,
        secret: str,
        generated: bool,
        previous_valid_until: datetime,
        idempotency_key: str | None,
        request_digest: str,
    ) -> None:
        assert self.secret is not None
        self.previous_secrets = after_rotation(self.secret, self.previous_secrets, secret, at, previous_valid_until)
        self.secret = secret
        if idempotency_key is not None:
            self.rotations[idempotency_key] = request_digest
        self.last_rotation = (idempotency_key, generated)

    @event(Paused)
    def _pause(self, at: datetime, by: str) -> None:
        self.status, self.status_reason = SubscriptionStatus.PAUSED, None

    @event(Resumed)
    def _resume(self, at: datetime, by: str) -> None:
        self.status, self.status_reason = SubscriptionStatus.ACTIVE, None

    @event(Disabled)
    def _disable(self, at: datetime, reason: str) -> None:
        self.status, self.status_reason = SubscriptionStatus.DISABLED, reason

    @event(Deleted)
    def _delete(self, at: datetime, by: str) -> None:
        self.status, self.status_reason = SubscriptionStatus.DELETED, None


class Delivery(Aggregate):
    """One referral event on its way to one subscription."""

    class Scheduled(Aggregate.Created):
        subscription_id: uuid.UUID
        org_id: str
        channel: str
        dispatch_id: uuid.UUID
        referral_id: str
        event_id: str
        event_type: str
        scheduled_at: datetime

    class Failed(Aggregate.Event):
        at: datetime
        attempt: int
        error: str
        retry_at: datetime | None

    class Delivered(Aggregate.Event):
        at: datetime
        attempt: int

    class DeadLettered(Aggregate.Event):
        at: datetime
        reason: str

    class RedeliveryRequested(Aggregate.Event):
        at: datetime
        by: str

    class WindowRestarted(Aggregate.Event):
        at: datetime

    @event(Scheduled)
    def __init__(
        self,
        id: uuid.UUID,
        subscription_id: uuid.UUID,
        org_id: str,
        channel: str,
        dispatch_id: uuid.UUID,
        referral_id: str,
        event_id: str,
        event_type: str,
        scheduled_at: datetime,
    ) -> None:
        self.subscription_id = subscription_id
        self.org_id = org_id
        self.channel = DeliveryChannel(channel)
        self.dispatch_id = dispatch_id
        self.referral_id = referral_id
        self.event_id = event_id
        self.event_type = event_type
        self.status = DeliveryStatus.PENDING
        self.attempts = 0
        self.last_error: str | None = None
        self.next_attempt_at: datetime | None = scheduled_at
        self.window_started_at: datetime | None = None
        self.failures_in_window = 0

    @property
    def finished(self) -> bool:
        return self.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTERED)

    def succeed(self, at: datetime) -> None:
        if self.status is not DeliveryStatus.DELIVERED:
            self._deliver(at=at, attempt=self.attempts + 1)

    def fail(self, at: datetime, error: str, policy: RetryPolicy, draw: float) -> None:
        """Records a failed attempt and schedules the next one, or dead-letters once the window has passed."""
        if self.finished:
            return
        deadline = (self.window_started_at or at) + policy.window
        retry_at = None if at >= deadline else min(at + policy.interval(self.failures_in_window + 1, draw), deadline)
        self._fail(at=at, attempt=self.attempts + 1, error=error, retry_at=retry_at)
        if retry_at is None:
            self._dead_letter(at=at, reason=f"no successful attempt within {policy.window}; last error: {error}")

    def redeliver(self, at: datetime, by: str) -> None:
        """Sends again (same webhook-id) with a fresh retry window."""
        self._redeliver(at=at, by=by)

    def restart_window(self, at: datetime) -> None:
        """Its subscription resumed: the retry window starts again at the next failure, so the time it was paused or
        disabled does not count against it (its events are sent when it resumes)."""
        if not self.finished and self.window_started_at is not None:
            self._restart_window(at=at)

    @event(Delivered)
    def _deliver(self, at: datetime, attempt: int) -> None:
        self.status, self.attempts, self.next_attempt_at = DeliveryStatus.DELIVERED, attempt, None

    @event(Failed)
    def _fail(self, at: datetime, attempt: int, error: str, retry_at: datetime | None) -> None:
        self.status, self.attempts, self.last_error, self.next_attempt_at = (
            DeliveryStatus.FAILED,
            attempt,
            error,
            retry_at,
        )
        self.window_started_at = self.window_started_at or at
        self.failures_in_window += 1

    @event(DeadLettered)
    def _dead_letter(self, at: datetime, reason: str) -> None:
        self.status, self.last_error, self.next_attempt_at = DeliveryStatus.DEAD_LETTERED, reason, None

    @event(RedeliveryRequested)
    def _redeliver(self, at: datetime, by: str) -> None:
        self.status, self.next_attempt_at = DeliveryStatus.PENDING, at
        self.window_started_at, self.failures_in_window = None, 0

    @event(WindowRestarted)
    def _restart_window(self, at: datetime) -> None:
        self.window_started_at, self.failures_in_window = None, 0


TOPIC_SLOT_NAMESPACE = uuid.UUID("5e2d1c4b-7a93-4f0e-8b6d-2c9a1f3e7d54")


def topic_slot_id(org_id: str) -> uuid.UUID:
    return uuid.uuid5(TOPIC_SLOT_NAMESPACE, org_id)


class TopicSlot(Aggregate):
    """An organisation's one topic subscription: concurrent claims conflict on the slot's version, so two
    simultaneous subscribes cannot both create one (the topic would then carry every event twice)."""

    @event("Opened")
    def __init__(self, id: uuid.UUID, org_id: str) -> None:
        self.org_id = org_id
        self.holder: str | None = None

    @event("Claimed")
    def claim(self, subscription_id: str) -> None:
        self.holder = subscription_id
