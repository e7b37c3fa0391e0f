"""Notifications: routes referral events to the subscriptions of the organisations they concern, once in effect,
and records every delivery attempt; the only write path of the notifications service."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking

from services.common.clock import Clock, system_clock
from services.common.egress import (
    EgressBusyError,
    EgressPolicy,
    EgressRefusedError,
    Lookups,
    Resolver,
    Tenant,
    system_resolver,
)
from services.common.eventstore import TrackedApplication
from services.common.projections import Projector, StateCodec
from services.notifications.domain import (
    PREVIOUS_SECRET_VALIDITY,
    ChangedMeanwhileError,
    Delivery,
    DeliveryChannel,
    DeliveryNotFoundError,
    DeliveryStatus,
    Dispatch,
    Filters,
    ReferralFacts,
    RetryPolicy,
    Subscription,
    SubscriptionExistsError,
    SubscriptionIdempotencyConflictError,
    SubscriptionInvalidError,
    SubscriptionLimitReachedError,
    SubscriptionLookupBusyError,
    SubscriptionNotFoundError,
    SubscriptionStatus,
    SubscriptionVersionConflictError,
    TopicSlot,
    check_endpoint,
    delivery_id_for,
    dispatch_id,
    subscription_id_for,
    topic_slot_id,
)
from services.notifications.signing import generate_secret
from services.notifications.views import (
    Board,
    BoardView,
    DeliveryEntry,
    DueBatch,
    ReferralTargets,
    SubscriptionEntry,
    Targets,
    delivery_tally,
)

log = logging.getLogger(__name__)

COMMAND_ATTEMPTS = 3
LOOKUP_TIMEOUT_S = 5.0
"""How long a webhook's host may take to resolve when subscribing (the API request waits for it)."""
SUBSCRIPTIONS_PER_ORG = 50
"""The live subscriptions (paused and disabled ones included: they receive on resuming) one organisation may have
(`NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_ORG`). Every event concerning it schedules a delivery per subscription, in the
transaction of the consumer every organisation shares: without a bound, one organisation made 1,000 webhooks in
3.3 s and each event concerning it then took 96 ms to route, against 2 ms for the others'. The bound is each
organisation's: none fills another's, nor learns from its 409 how many the others have."""
SUBSCRIPTIONS_PER_ORG_MAX = 200
"""The most a deployment may let one organisation have: routing's time grows with the deliveries it schedules (about
0.1 ms each where 1,000 took 96 ms): an event concerning such an organisation takes some 20 ms to route."""

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class SubscriptionRequest:
    """What an organisation asks for (already parsed; the rules are checked by `subscribe`)."""

    org_id: str
    channel: DeliveryChannel
    url: str | None = None
    secret: str | None = None
    filters: Filters = field(default_factory=Filters)

    def digest(self) -> str:
        document = {
            "org_id": self.org_id,
            "channel": self.channel.value,
            "url": self.url,
            "secret": hashlib.sha256(self.secret.encode()).hexdigest() if self.secret else None,
            "filters": self.filters.to_document(),
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class SecretRotation:
    """A webhook's new signing secret (None: generated) and how long the secret it replaces still signs as well."""

    secret: str | None = None
    previous_valid_for: timedelta = PREVIOUS_SECRET_VALIDITY

    def digest(self) -> str:
        document = {
            "secret": hashlib.sha256(self.secret.encode()).hexdigest() if self.secret else None,
            "previous_valid_for_s": self.previous_valid_for.total_seconds(),
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RoutedEvent:
    """A referral event to route: its id and type upstream, what routing and filters read, and the document partners
    receive (the event reduced to the contract's fields)."""

    event_id: str
    event_type: str
    facts: ReferralFacts
    partner_event: dict[str, Any]


@dataclass(frozen=True)
class Subscribed:
    subscription: SubscriptionEntry
    created: bool
    """False when the request repeats an Idempotency-Key already used for the same request."""
    generated_secret: str | None
    """The secret the platform generated for a webhook subscribed without one (told only to its organisation)."""


@dataclass(frozen=True)
class SecretRotated:
    subscription: SubscriptionEntry
    replayed: bool
    """True when the request repeats an Idempotency-Key already used for the same rotation."""
    generated_secret: str | None
    """The secret the platform generated (told only to the organisation, in the answer)."""


@dataclass(frozen=True)
class AttemptOutcome:
    """What one delivery attempt gave."""

    delivery_id: uuid.UUID
    delivered: bool
    error: str | None = None
    gone: bool = False
    """The receiver answered 410 Gone: the subscription is disabled."""
    deferred: bool = False
    """Not attempted (the organisation's share of the egress was in use): neither a success nor a failure, nothing is
    recorded; the delivery waits for a later round."""
    queued: float = 0.0
    """Seconds the attempt waited for a name lookup thread (`services.common.egress.Tenant.queued`): the lookups under
    way held them, not the receiver, so this is no part of the receiver's time."""


class Notifications(TrackedApplication):
    """Subscriptions, dispatches of referral events, and the deliveries of those to subscriptions."""

    name = "notifications"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        retry: RetryPolicy | None = None,
        allow_loopback_http: bool = True,
        draw: Callable[[], float] = random.random,
        resolve: Resolver = system_resolver,
        lookup_timeout: float = LOOKUP_TIMEOUT_S,
        lookups: Lookups | None = None,
        subscriptions_per_org: int = SUBSCRIPTIONS_PER_ORG,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.allow_loopback_http = allow_loopback_http
        self.egress = EgressPolicy(allow_loopback=allow_loopback_http, resolve=resolve)
        """Where webhooks may go: checked here at subscription, and again by the worker at every connection."""
        self.lookup_timeout = lookup_timeout
        self._lookups = lookups or Lookups()
        """Subscriptions' name lookups, each within `lookup_timeout`, shared by organisations (`Lookups`); closed
        with the application."""
        self.subscriptions_per_org = subscriptions_per_org
        self._draw = draw
        codec = StateCodec(self)
        projector = Projector(self, BoardView(codec))
        self.tally = Projector(self, delivery_tally())
        """Delivery attempts by outcome, and dead letters, counted from the store (a metric)."""
        targets = Projector(self, ReferralTargets())
        self.projectors = (projector, self.tally, targets)
        self.board = Board(projector, codec)
        self.targets = Targets(targets)
        self.reminders_unmatched: Counter[str] = Counter()
        """Reminders whose clock's service is not known, left out of the `services`-filtered subscriptions they might
        have been meant for, per event type (a metric)."""

    # --- routing (the referral events consumer) ----------------------------------------------------------

    def route(self, event: RoutedEvent, tracking: Tracking) -> None:
        """Schedules a delivery of the event to each matching subscription of each organisation it concerns;
        a copy of an event already routed is only tracked (Kafka delivers at least once: a reminder left out of
        filtered subscriptions is counted and logged by the copy that routed it, not by each copy)."""
        facts = self._with_clock_service(event.facts)
        live = self.board.subscriptions_of(facts.concerned_orgs)
        dispatch = Dispatch(
            id=dispatch_id(event.event_id),
            referral_id=facts.referral_id,
            org_ids=facts.concerned_orgs,
            cloud_event=event.partner_event,
        )
        now = self.clock()
        deliveries = [
            Delivery(
                id=delivery_id_for(event.event_id, subscription.id),
                subscription_id=subscription.id,
                org_id=subscription.org_id,
                channel=subscription.channel.value,
                dispatch_id=dispatch.id,
                referral_id=facts.referral_id,
                event_id=event.event_id,
                event_type=event.event_type,
                scheduled_at=now,
            )
            for subscription in live
            if subscription.filters.matches(facts)
        ]
        try:
            self.record(dispatch, *deliveries, tracking=tracking)
        except IntegrityError:
            self.mark_processed(tracking)
            return
        self._note_unmatched(facts, live)

    def _note_unmatched(self, facts: ReferralFacts, live: list[SubscriptionEntry]) -> None:
        """Counts and logs a reminder whose clock's service is unknown, left out of the live subscriptions (paused
        and disabled ones included: they receive on resuming) filtered on services."""
        left_out = sum(1 for s in live if s.filters.services) if facts.clock_service_unknown else 0
        if not left_out:
            return
        self.reminders_unmatched[facts.event_type] += 1
        log.warning(
            "a %s reminder names no clock service and the referral's receiving service when the clock started is "
            "not known here: left out of %d subscription(s) filtered on services",
            facts.event_type,
            left_out,
        )

    def _with_clock_service(self, facts: ReferralFacts) -> ReferralFacts:
        """A reminder published before it named its clock's service (`responsible_service`) gets the service the
        referral was addressed to when its clock started, as the referral service itself names it for such clocks
        (a redirect stops a clock: the receiver it started with is the one whose clock it is)."""
        if not facts.clock_service_unknown or facts.clock_started_at is None:
            return facts
        service = self.targets.service_at(facts.referral_id, facts.clock_started_at)
        return facts if service is None else facts.with_clock_service(service)

    # --- subscriptions -----------------------------------------------------------------------------------

    def subscribe(self, request: SubscriptionRequest, by: str, idempotency_key: str | None = None) -> Subscribed:
        """A retry with the Idempotency-Key of a creation is answered before any check: the URL's host, resolved
        again, may fail now (a DNS change, a name server down) while the subscription exists with a secret the client
        never received. Only a new subscription is checked, counted against the organisation's bound, then resolved
        (the checks on this process's own data before the network's)."""
        digest = request.digest()
        subscription_id = subscription_id_for(request.org_id, idempotency_key)
        existing = self.board.subscription(subscription_id)
        if existing is not None:
            return self._replayed(existing, request, digest)
        check_endpoint(request.channel, request.url, request.secret, self.allow_loopback_http)
        self._check_room(request.org_id)
        if request.url is not None:
            self._check_target(request.org_id, request.url)
        claimed = (
            self._claim_topic(request.org_id, subscription_id)
            if request.channel is DeliveryChannel.KAFKA_TOPIC
            else None
        )
        generated = generate_secret() if request.channel is DeliveryChannel.WEBHOOK and not request.secret else None
        subscription = Subscription(
            id=subscription_id,
            org_id=request.org_id,
            channel=request.channel.value,
            url=request.url,
            secret=request.secret or generated,
            filters=request.filters.to_document(),
            created_at=self.clock(),
            created_by=by,
            request_digest=digest,
        )
        try:
            self.record(subscription, claimed)
        except IntegrityError:  # a concurrent retry with the same key, or a concurrent topic claim, won the race
            return self.subscribe(request, by, idempotency_key)
        return Subscribed(self._subscription_entry(subscription.id), created=True, generated_secret=generated)

    def _replayed(self, existing: SubscriptionEntry, request: SubscriptionRequest, digest: str) -> Subscribed:
        """The creation this Idempotency-Key made, as it stands now. Deleted since, it is the 404 every route gives
        a deleted subscription (a retried DELETE included): answering it as created sent a Location that is a 404."""
        if existing.request_digest != digest:
            raise SubscriptionIdempotencyConflictError("this Idempotency-Key was used for another subscription")
        if existing.status is SubscriptionStatus.DELETED:
            raise SubscriptionNotFoundError("the subscription created with this Idempotency-Key was deleted since")
        generated = self._creations_secret(existing) if not request.secret else None
        return Subscribed(existing, created=False, generated_secret=generated)

    def _check_room(self, org_id: str) -> None:
        """Refuses a subscription beyond the organisation's bound (`subscriptions_per_org`); the others' neither count
        nor show. Concurrent creations may pass it by as many as are made at once: the bound keeps the work of
        routing one event bounded, not exact."""
        if self.board.live_count(org_id) >= self.subscriptions_per_org:
            raise SubscriptionLimitReachedError(
                f"your organisation has {self.subscriptions_per_org} subscriptions, paused and disabled ones "
                "included: the most this service keeps for one organisation (delete one to subscribe again)"
            )

    def _creations_secret(self, existing: SubscriptionEntry) -> str | None:
        """The secret generated at the webhook's creation, told again to a replay of it while it is still the
        subscription's secret: after a rotation the current secret is the rotation's (one the organisation chose,
        or one swapped in because the generated one leaked), never told to a replay of the creation."""
        if existing.channel is not DeliveryChannel.WEBHOOK or existing.secret is None:
            return None
        subscription = self._load(Subscription, existing.id)
        return subscription.secret if subscription.last_rotation is None else None

    def _check_target(self, org_id: str, url: str) -> None:
        """The webhook's host, resolved now within `lookup_timeout` (a silent name server would hold the request for
        as long as the resolver waits), must be a public address (loopback too in development)."""
        try:
            self._lookups.run(lambda: self.egress.check_url(url), self.lookup_timeout, Tenant(org_id))
        except EgressRefusedError as error:
            raise SubscriptionInvalidError("url", str(error)) from None
        except TimeoutError:
            raise SubscriptionInvalidError(
                "url", f"the host did not resolve within {self.lookup_timeout:g} s"
            ) from None
        except EgressBusyError:
            raise SubscriptionLookupBusyError(
                "no name lookup could start for the organisation in time; try again later"
            ) from None

    def close(self) -> None:
        self._lookups.close()
        super().close()

    def _claim_topic(self, org_id: str, subscription_id: uuid.UUID) -> TopicSlot:
        """The organisation's topic slot, claimed for this subscription unless a live one holds it (409)."""
        try:
            slot: TopicSlot = self.repository.get(topic_slot_id(org_id))
        except AggregateNotFoundError:
            slot = TopicSlot(id=topic_slot_id(org_id), org_id=org_id)
        if slot.holder is not None:
            holder = self.board.subscription(uuid.UUID(slot.holder))
            if holder is not None and holder.status is not SubscriptionStatus.DELETED:
                raise SubscriptionExistsError(f"the organisation's topic subscription is {holder.id}", holder.id)
        slot.claim(str(subscription_id))
        return slot

    def list_subscriptions(self, org_id: str, after: int = 0, limit: int | None = None) -> list[SubscriptionEntry]:
        """The organisation's live subscriptions, oldest first, created after position `after` (a page's cursor)."""
        return self.board.subscriptions_of([org_id], after, limit)

    def get_subscription(self, org_id: str, subscription_id: uuid.UUID) -> SubscriptionEntry:
        """Only the organisation's own live subscriptions exist for it."""
        entry = self.board.subscription(subscription_id)
        if entry is None or entry.org_id != org_id or entry.status is SubscriptionStatus.DELETED:
            raise SubscriptionNotFoundError("no such subscription for this organisation")
        return entry

    def pause(
        self, org_id: str, subscription_id: uuid.UUID, by: str, expected_version: int | None = None
    ) -> SubscriptionEntry:
        return self._change_subscription(org_id, subscription_id, expected_version, lambda s, at: s.pause(at, by))

    def resume(
        self, org_id: str, subscription_id: uuid.UUID, by: str, expected_version: int | None = None
    ) -> SubscriptionEntry:
        """Attempts start again; the deliveries that had failed get a fresh retry window (a delivery that failed once
        before a long pause would otherwise be dead-lettered at its first attempt after it)."""
        return self._change_subscription(
            org_id, subscription_id, expected_version, lambda s, at: self._resume(s, at, by)
        )

    def _resume(self, subscription: Subscription, at: datetime, by: str) -> Sequence[Aggregate]:
        if subscription.status is SubscriptionStatus.ACTIVE:
            return []
        subscription.resume(at, by)
        failed = self.board.deliveries_of(subscription.id, DeliveryStatus.FAILED)
        deliveries = [self._load(Delivery, entry.id) for entry in failed]
        for delivery in deliveries:
            delivery.restart_window(at)
        return deliveries

    def unsubscribe(
        self, org_id: str, subscription_id: uuid.UUID, by: str, expected_version: int | None = None
    ) -> None:
        self._change_subscription(org_id, subscription_id, expected_version, lambda s, at: s.delete(at, by))

    def rotate_secret(
        self,
        org_id: str,
        subscription_id: uuid.UUID,
        rotation: SecretRotation,
        by: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> SecretRotated:
        """Signs the webhook's deliveries with a new secret from now on, those already scheduled included; the secret
        it replaces signs them as well for `previous_valid_for` (two signatures, one request), then no more."""
        self.get_subscription(org_id, subscription_id)
        digest = rotation.digest()
        generated = rotation.secret is None
        secret = generate_secret() if rotation.secret is None else rotation.secret
        replayed: list[SecretRotated] = []  # the answer given before to the same key, if this is a retry

        def changes() -> list[Aggregate]:
            replayed.clear()
            subscription = self._load(Subscription, subscription_id)
            if subscription.replayed_rotation(idempotency_key, digest):
                was_generated = subscription.last_rotation == (idempotency_key, True)
                told = subscription.secret if was_generated else None
                replayed.append(SecretRotated(self._subscription_entry(subscription_id), True, told))
                return []
            if expected_version is not None and subscription.version != expected_version:
                raise SubscriptionVersionConflictError(f"the subscription is at version {subscription.version}")
            subscription.rotate_secret(
                secret,
                generated,
                self.clock(),
                by,
                rotation.previous_valid_for,
                idempotency_key,
                digest,
            )
            return [subscription]

        self._command_many(changes, "subscription")
        if replayed:
            return replayed[0]
        return SecretRotated(self._subscription_entry(subscription_id), False, secret if generated else None)

    def _change_subscription(
        self,
        org_id: str,
        subscription_id: uuid.UUID,
        expected_version: int | None,
        command: Callable[[Subscription, datetime], Sequence[Aggregate] | None],
    ) -> SubscriptionEntry:
        """Applies `command` to the subscription and records it with the other aggregates it returns, if any."""
        self.get_subscription(org_id, subscription_id)

        def changes() -> list[Aggregate]:
            subscription = self._load(Subscription, subscription_id)
            if expected_version is not None and subscription.version != expected_version:
                raise SubscriptionVersionConflictError(f"the subscription is at version {subscription.version}")
            return [subscription, *(command(subscription, self.clock()) or [])]

        self._command_many(changes, "subscription")
        return self._subscription_entry(subscription_id)

    def _subscription_entry(self, subscription_id: uuid.UUID) -> SubscriptionEntry:
        entry = self.board.subscription(subscription_id)
        assert entry is not None
        return entry

    # --- deliveries --------------------------------------------------------------------------------------

    def list_deliveries(
        self,
        org_id: str,
        subscription_id: uuid.UUID,
        status: DeliveryStatus | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[DeliveryEntry]:
        """In the order they were scheduled (with this status), scheduled after position `after` (a page's cursor)."""
        self.get_subscription(org_id, subscription_id)
        return self.board.deliveries_of(subscription_id, status, after, limit)

    def get_delivery(self, org_id: str, delivery_id: uuid.UUID) -> DeliveryEntry:
        entry = self.board.delivery(delivery_id)
        if entry is None or entry.org_id != org_id:
            raise DeliveryNotFoundError("no such delivery for this organisation")
        return entry

    def redeliver(self, org_id: str, delivery_id: uuid.UUID, by: str) -> DeliveryEntry:
        """Sends the event again, with the same webhook-id, after the deliveries of the referral before it."""
        self.get_delivery(org_id, delivery_id)
        self._command(Delivery, delivery_id, lambda d: d.redeliver(self.clock(), by))
        return self.get_delivery(org_id, delivery_id)

    # --- the delivery worker's side ----------------------------------------------------------------------

    def due_deliveries(self, limit: int = 200, skip: Collection[uuid.UUID] = ()) -> list[DueBatch]:
        """What may be attempted now, but for the subscriptions in `skip` (those with attempts under way)."""
        return self.board.due(self.clock(), limit, skip)

    def active_subscription(self, subscription_id: uuid.UUID) -> SubscriptionEntry | None:
        """The subscription as it stands now, URL and secret included, while deliveries may be attempted (None once
        it is paused, disabled or deleted)."""
        entry = self.board.subscription(subscription_id)
        return entry if entry is not None and entry.status is SubscriptionStatus.ACTIVE else None

    def event_of(self, delivery: DeliveryEntry) -> dict[str, Any]:
        """The event a delivery carries, as its dispatch recorded it (a CloudEvent document)."""
        dispatch = self._load(Dispatch, delivery.dispatch_id)
        document: dict[str, Any] = dispatch.cloud_event
        return document

    def record_outcomes(self, outcomes: list[AttemptOutcome]) -> None:
        """Records attempts (one transaction when possible); a 410 also disables the subscription. A deferred
        delivery was not attempted: nothing to record."""
        outcomes = [outcome for outcome in outcomes if not outcome.deferred]
        if not outcomes:
            return
        try:
            self.record(*self._outcome_changes(outcomes))
        except IntegrityError:  # a concurrent redelivery or subscription change: one by one, reloading
            for outcome in outcomes:
                self._command_many(functools.partial(self._outcome_changes, [outcome]), "delivery")

    def _outcome_changes(self, outcomes: list[AttemptOutcome]) -> list[Aggregate]:
        now = self.clock()
        changed: list[Aggregate] = []
        for outcome in outcomes:
            delivery = self._load(Delivery, outcome.delivery_id)
            if outcome.delivered:
                delivery.succeed(now)
            else:
                delivery.fail(now, outcome.error or "failed", self.retry, self._draw())
            changed.append(delivery)
            if outcome.gone:
                subscription = self._load(Subscription, delivery.subscription_id)
                subscription.disable(now, "the receiver answered 410 Gone")
                changed.append(subscription)
        return changed

    # --- helpers -----------------------------------------------------------------------------------------

    def _load(self, kind: type[A], aggregate_id: uuid.UUID) -> A:
        missing = {Delivery: DeliveryNotFoundError, Subscription: SubscriptionNotFoundError}.get(kind, LookupError)
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing(f"no {kind.__name__.lower()} {aggregate_id}") from None
        if not isinstance(aggregate, kind):
            raise missing(f"{aggregate_id} is not a {kind.__name__.lower()}")
        return aggregate

    def _command(self, kind: type[A], aggregate_id: uuid.UUID, command: Callable[[A], None]) -> None:
        """Load, change, save; retried when another writer changed the aggregate meanwhile."""

        def changes() -> list[Aggregate]:
            aggregate = self._load(kind, aggregate_id)
            command(aggregate)
            return [aggregate]

        self._command_many(changes, kind.__name__.lower())

    def _command_many(self, changes: Callable[[], list[Aggregate]], what: str) -> None:
        """Records `changes()` (none: nothing to record), made again on what another writer recorded meanwhile;
        `what` they change (a 409's detail when other writers won every time)."""
        for attempt in range(1, COMMAND_ATTEMPTS + 1):
            try:
                changed = changes()
                if changed:
                    self.record(*changed)
                return
            except IntegrityError as conflict:
                if attempt == COMMAND_ATTEMPTS:
                    raise ChangedMeanwhileError(what) from conflict
