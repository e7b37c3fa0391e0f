"""In-memory board of subscriptions and deliveries, following the application's own notification log.

It is rebuilt from the log when the process starts and catches up before each use, so it knows every
delivery still to make after a restart. For each subscription and referral it keeps the unfinished deliveries
in the order they were scheduled: only the first of them may be attempted (order per referral), and it stops
holding the others once it is delivered or dead-lettered.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification

from services.contract.topics import org_referrals
from services.notifications.domain import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Filters,
    Subscription,
    SubscriptionStatus,
)

PAGE = 1000

Queue = tuple[uuid.UUID, str]
"""(subscription id, referral id)."""


@dataclass
class SubscriptionEntry:
    id: uuid.UUID
    seq: int
    org_id: str
    channel: DeliveryChannel
    url: str | None
    secret: str | None
    filters: Filters
    status: SubscriptionStatus
    status_reason: str | None
    created_at: datetime
    request_digest: str
    version: int

    @property
    def topic(self) -> str | None:
        return org_referrals(self.org_id) if self.channel is DeliveryChannel.KAFKA_TOPIC else None


@dataclass
class DeliveryEntry:
    id: uuid.UUID
    seq: int
    """Position of its scheduling in the log: the order of deliveries of one referral to one subscription."""
    subscription_id: uuid.UUID
    org_id: str
    channel: DeliveryChannel
    dispatch_id: uuid.UUID
    referral_id: str
    event_id: str
    event_type: str
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def queue(self) -> Queue:
        return (self.subscription_id, self.referral_id)


@dataclass(frozen=True)
class DueBatch:
    """Deliveries of one referral to one subscription that may be attempted now, in order."""

    subscription: SubscriptionEntry
    deliveries: list[DeliveryEntry]


class Board:
    """Subscriptions by organisation, deliveries by subscription, and what is due (queries answer copies)."""

    def __init__(self, recorder: ApplicationRecorder, decode: Callable[[Notification], Any]) -> None:
        self._recorder = recorder
        self._decode = decode
        self._lock = threading.RLock()
        self.position = 0
        self._subscriptions: dict[uuid.UUID, SubscriptionEntry] = {}
        self._deliveries: dict[uuid.UUID, DeliveryEntry] = {}
        self._by_subscription: dict[uuid.UUID, list[uuid.UUID]] = {}
        self._queues: dict[Queue, list[tuple[int, uuid.UUID]]] = {}

    def catch_up(self) -> None:
        """Applies every notification recorded since the last call."""
        with self._lock:
            while True:
                batch = self._recorder.select_notifications(start=self.position, limit=PAGE, inclusive_of_start=False)
                for notification in batch:
                    self._apply(self._decode(notification), notification.id)
                    self.position = notification.id
                if len(batch) < PAGE:
                    return

    # --- queries (callers catch up first) ----------------------------------------------------------------

    def subscription(self, subscription_id: uuid.UUID) -> SubscriptionEntry | None:
        with self._lock:
            entry = self._subscriptions.get(subscription_id)
            return replace(entry) if entry else None

    def subscriptions_of(self, org_ids: list[str] | None = None) -> list[SubscriptionEntry]:
        """Live (not deleted) subscriptions, of these organisations or of all, oldest first."""
        with self._lock:
            return [
                replace(s)
                for s in self._subscriptions.values()
                if s.status is not SubscriptionStatus.DELETED and (org_ids is None or s.org_id in org_ids)
            ]

    def delivery(self, delivery_id: uuid.UUID) -> DeliveryEntry | None:
        with self._lock:
            entry = self._deliveries.get(delivery_id)
            return replace(entry) if entry else None

    def deliveries_of(self, subscription_id: uuid.UUID) -> list[DeliveryEntry]:
        """In the order they were scheduled."""
        with self._lock:
            return [replace(self._deliveries[d]) for d in self._by_subscription.get(subscription_id, [])]

    def due(self, now: datetime, limit: int) -> list[DueBatch]:
        """For each active subscription and referral: the first unfinished delivery when it is due; for a topic,
        also the due ones right after it (Kafka keeps their order: one key, one partition)."""
        batches: list[DueBatch] = []
        with self._lock:
            for (subscription_id, _), queue in self._queues.items():
                subscription = self._subscriptions[subscription_id]
                if subscription.status is not SubscriptionStatus.ACTIVE:
                    continue
                run: list[DeliveryEntry] = []
                for _, delivery_id in queue:
                    delivery = self._deliveries[delivery_id]
                    if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
                        break
                    run.append(replace(delivery))
                    if subscription.channel is DeliveryChannel.WEBHOOK:
                        break
                if run:
                    batches.append(DueBatch(replace(subscription), run))
                    if len(batches) >= limit:
                        break
        return batches

    def pending_count(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    # --- projection --------------------------------------------------------------------------------------

    def _apply(self, domain_event: Any, position: int) -> None:
        if isinstance(domain_event, Subscription.Event):
            self._apply_subscription(domain_event, position)
        elif isinstance(domain_event, Delivery.Event):
            self._apply_delivery(domain_event, position)

    def _apply_subscription(self, e: Any, position: int) -> None:
        subscription_id: uuid.UUID = e.originator_id
        if isinstance(e, Subscription.Created):
            self._subscriptions[subscription_id] = SubscriptionEntry(
                id=subscription_id,
                seq=position,
                org_id=e.org_id,
                channel=DeliveryChannel(e.channel),
                url=e.url,
                secret=e.secret,
                filters=Filters.of(e.filters),
                status=SubscriptionStatus.ACTIVE,
                status_reason=None,
                created_at=e.created_at,
                request_digest=e.request_digest,
                version=e.originator_version,
            )
            self._by_subscription[subscription_id] = []
            return
        entry = self._subscriptions.get(subscription_id)
        if entry is None:
            return
        entry.version = e.originator_version
        if isinstance(e, Subscription.Paused):
            entry.status, entry.status_reason = SubscriptionStatus.PAUSED, None
        elif isinstance(e, Subscription.Resumed):
            entry.status, entry.status_reason = SubscriptionStatus.ACTIVE, None
        elif isinstance(e, Subscription.Disabled):
            entry.status, entry.status_reason = SubscriptionStatus.DISABLED, e.reason
        elif isinstance(e, Subscription.Deleted):
            entry.status, entry.secret = SubscriptionStatus.DELETED, None
            for delivery_id in self._by_subscription.pop(subscription_id, []):
                self._deliveries.pop(delivery_id, None)
            for queue in [q for q in self._queues if q[0] == subscription_id]:
                del self._queues[queue]

    def _apply_delivery(self, e: Any, position: int) -> None:
        delivery_id: uuid.UUID = e.originator_id
        if isinstance(e, Delivery.Scheduled):
            if e.subscription_id not in self._by_subscription:
                return  # scheduled for a subscription deleted meanwhile
            delivery = DeliveryEntry(
                id=delivery_id,
                seq=position,
                subscription_id=e.subscription_id,
                org_id=e.org_id,
                channel=DeliveryChannel(e.channel),
                dispatch_id=e.dispatch_id,
                referral_id=e.referral_id,
                event_id=e.event_id,
                event_type=e.event_type,
                created_at=e.scheduled_at,
                next_attempt_at=e.scheduled_at,
            )
            self._deliveries[delivery_id] = delivery
            self._by_subscription[e.subscription_id].append(delivery_id)
            self._enqueue(delivery)
            return
        entry = self._deliveries.get(delivery_id)
        if entry is None:
            return
        if isinstance(e, Delivery.Failed):
            entry.status, entry.attempts, entry.last_error = DeliveryStatus.FAILED, e.attempt, e.error
            entry.last_attempt_at, entry.next_attempt_at = e.at, e.retry_at
        elif isinstance(e, Delivery.Delivered):
            entry.status, entry.attempts, entry.last_attempt_at = DeliveryStatus.DELIVERED, e.attempt, e.at
            entry.delivered_at, entry.next_attempt_at = e.at, None
            self._dequeue(entry)
        elif isinstance(e, Delivery.DeadLettered):
            entry.status, entry.last_error, entry.next_attempt_at = DeliveryStatus.DEAD_LETTERED, e.reason, None
            self._dequeue(entry)
        elif isinstance(e, Delivery.RedeliveryRequested):
            entry.status, entry.next_attempt_at = DeliveryStatus.PENDING, e.at
            self._enqueue(entry)

    def _enqueue(self, delivery: DeliveryEntry) -> None:
        queue = self._queues.setdefault(delivery.queue, [])
        item = (delivery.seq, delivery.id)
        index = bisect.bisect_left(queue, item)
        if index == len(queue) or queue[index] != item:
            queue.insert(index, item)

    def _dequeue(self, delivery: DeliveryEntry) -> None:
        queue = self._queues.get(delivery.queue)
        if queue is None:
            return
        item = (delivery.seq, delivery.id)
        index = bisect.bisect_left(queue, item)
        if index < len(queue) and queue[index] == item:
            del queue[index]
        if not queue:
            del self._queues[delivery.queue]
