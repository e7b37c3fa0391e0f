"""The delivery worker: attempts the due deliveries (webhooks with httpx, topics with Kafka) and records each outcome.

At least once on the wire, once in effect for receivers: a crash between an attempt and its record repeats the
attempt with the same `webhook-id` (or the same CloudEvent id on a topic). Per referral and subscription only the
first unfinished delivery is attempted, so receivers see a referral's events in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

import httpx
from pydantic import ValidationError

from services.common.clock import Clock
from services.common.egress import EgressRefusedError
from services.common.kafka import Outgoing
from services.common.relay import Publisher
from services.contract.topics import org_referrals
from services.notifications.application import AttemptOutcome, Notifications
from services.notifications.board import DeliveryEntry, DueBatch
from services.notifications.signing import webhook_headers

log = logging.getLogger(__name__)


class WebhookTransport:
    """POSTs one structured-mode CloudEvent, signed in the Standard Webhooks style."""

    def __init__(self, client: httpx.Client, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    def attempt(self, notifications: Notifications, batch: DueBatch) -> list[AttemptOutcome]:
        subscription, delivery = batch.subscription, batch.deliveries[0]
        if subscription.url is None or subscription.secret is None:
            return [AttemptOutcome(delivery.id, delivered=False, error="the subscription has no url or secret")]
        try:
            body = notifications.message_of(delivery).to_structured()
        except (LookupError, ValidationError) as error:
            return [AttemptOutcome(delivery.id, delivered=False, error=f"unreadable event ({type(error).__name__})")]
        message_id = str(delivery.id)
        headers = webhook_headers(subscription.secret, message_id, int(self._clock().timestamp()), body)
        try:
            response = self._client.post(subscription.url, content=body, headers=headers)
        except EgressRefusedError as error:  # the target is no longer a public address (DNS changed, say)
            return [AttemptOutcome(delivery.id, delivered=False, error=f"refused: {error}")]
        except httpx.HTTPError as error:
            return [AttemptOutcome(delivery.id, delivered=False, error=type(error).__name__)]
        if response.is_success:
            return [AttemptOutcome(delivery.id, delivered=True)]
        status = response.status_code
        return [AttemptOutcome(delivery.id, delivered=False, error=f"HTTP {status}", gone=status == 410)]


class TopicTransport:
    """Publishes the due events of the organisations' topics in one acknowledged batch, in order per referral."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    def attempt(self, notifications: Notifications, batches: Sequence[DueBatch]) -> list[AttemptOutcome]:
        messages: list[Outgoing] = []
        sent: list[DeliveryEntry] = []
        unreadable: list[AttemptOutcome] = []
        for batch in batches:
            topic = org_referrals(batch.subscription.org_id)
            for delivery in batch.deliveries:
                try:
                    messages.append(Outgoing(topic, delivery.referral_id, notifications.message_of(delivery)))
                except (LookupError, ValidationError) as error:
                    # the later events of this referral wait: order per referral holds
                    unreadable.append(AttemptOutcome(delivery.id, False, f"unreadable event ({type(error).__name__})"))
                    break
                sent.append(delivery)
        try:
            if messages:
                self._publisher.publish(messages)
        except Exception as error:  # noqa: BLE001 -- any failure to publish is a failed attempt, retried later
            return unreadable + [AttemptOutcome(d.id, delivered=False, error=type(error).__name__) for d in sent]
        return unreadable + [AttemptOutcome(d.id, delivered=True) for d in sent]


class DeliveryRoundError(RuntimeError):
    """Some outcomes of a round could not be recorded; those deliveries are attempted again."""


class DeliveryWorker:
    """Attempts what is due, records what happened, again and again."""

    def __init__(
        self,
        notifications: Notifications,
        webhooks: WebhookTransport,
        topics: TopicTransport,
        *,
        concurrency: int = 8,
        batch_limit: int = 200,
        poll_interval: float = 0.05,
    ) -> None:
        self.notifications = notifications
        self.webhooks = webhooks
        self.topics = topics
        self.batch_limit = batch_limit
        self.poll_interval = poll_interval
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")

    def run_once(self) -> int:
        """Attempts every due delivery once; returns how many were attempted."""
        due = self.notifications.due_deliveries(self.batch_limit)
        if not due:
            return 0
        topic_batches = [b for b in due if b.subscription.topic is not None]
        webhook_batches = [b for b in due if b.subscription.topic is None]
        futures: list[Future[None]] = [self._pool.submit(self._attempt_webhook, b) for b in webhook_batches]
        if topic_batches:
            self._record(self.topics.attempt(self.notifications, topic_batches))
        wait(futures)
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise DeliveryRoundError(f"{len(errors)} webhook attempt(s) not recorded: {type(errors[0]).__name__}")
        return sum(len(b.deliveries) for b in due)

    def _attempt_webhook(self, batch: DueBatch) -> None:
        self._record(self.webhooks.attempt(self.notifications, batch))

    def _record(self, outcomes: list[AttemptOutcome]) -> None:
        self.notifications.record_outcomes(outcomes)
        for outcome in outcomes:
            if not outcome.delivered:
                log.info("delivery %s failed: %s", outcome.delivery_id, outcome.error)

    def run(self, stop: threading.Event, error_sleep: float = 1.0) -> None:
        """Works until `stop` is set; a failed round is retried (what was not recorded is attempted again)."""
        while not stop.is_set():
            try:
                attempted = self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying")
                stop.wait(error_sleep)
                continue
            if not attempted:
                stop.wait(self.poll_interval)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
