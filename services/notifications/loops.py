"""Periodic work of the notifications service: the delivery worker attempts the due deliveries (webhooks and topics,
`outbound.py`) and records each outcome.

At least once on the wire, once in effect for receivers: a crash between an attempt and its record repeats the
attempt with the same `webhook-id` (or the same CloudEvent id on a topic). Per referral and subscription only the
first unfinished delivery is attempted, so receivers see a referral's events in order.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from services.notifications.application import AttemptOutcome, Notifications
from services.notifications.outbound import TopicTransport, WebhookTransport
from services.notifications.views import DueBatch

log = logging.getLogger(__name__)


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
