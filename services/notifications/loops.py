"""Periodic work of the notifications service: the delivery worker attempts the due deliveries (webhooks and topics,
`outbound.py`) and records each outcome.

At least once on the wire, once in effect for receivers: a crash between an attempt and its record repeats the
attempt with the same `webhook-id` (or the same CloudEvent id on a topic). Per referral and subscription only the
first unfinished delivery is attempted, so receivers see a referral's events in order.

A round does not wait for webhooks: each webhook subscription has at most one task in flight, attempting its due
deliveries one after the other on the pool's threads (reading the subscription again before each one: a pause or a
deletion stops it), and is left out of the rounds until that task ends. Topics are published by the round itself. A
slow receiver thus holds one thread (each attempt ends within the client's deadline), never the topics.

The threads are shared by organisations (`services.common.shares.Shares`): an organisation has at most `per_org` tasks
in flight, and the last `reserve` threads go only to an organisation holding none whose attempts have not been slow
(over `slow_after`) lately; an organisation not admitted waits for a later round, not attempted (so not failed). The
organisations whose receivers or name servers hang until their deadlines, however many, thus hold at most
`concurrency - reserve` threads together, and the others' webhooks always find one (`services.common.egress.Lookups`:
the same rule for the name lookups). Tasks are never queued behind busy threads: at most `concurrency` are in flight.
An organisation is slow by its own doing only: an attempt's time leaves out its wait for a name lookup thread
(`AttemptOutcome.queued`), the lookups under way (other organisations' name servers that hang, say), not its receiver.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace

from services.common.shares import Shares
from services.notifications.application import AttemptOutcome, Notifications
from services.notifications.outbound import TopicTransport, WebhookTransport
from services.notifications.views import DueBatch

log = logging.getLogger(__name__)


class DeliveryRoundError(RuntimeError):
    """Some outcomes could not be recorded; those deliveries are attempted again."""


class DeliveryWorker:
    """Attempts what is due, records what happened, again and again."""

    def __init__(
        self,
        notifications: Notifications,
        webhooks: WebhookTransport,
        topics: TopicTransport,
        *,
        concurrency: int = 8,
        per_org: int = 2,
        reserve: int = 2,
        slow_after: float = 5.0,
        batch_limit: int = 200,
        poll_interval: float = 0.05,
    ) -> None:
        self.notifications = notifications
        self.webhooks = webhooks
        self.topics = topics
        self.slow_after = slow_after
        """An attempt taking longer, its wait for a name lookup thread left out (`AttemptOutcome.queued`), marks its
        organisation slow (the service: half the webhook deadline)."""
        self.batch_limit = batch_limit
        self.poll_interval = poll_interval
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._shares = Shares(concurrency, per_org, reserve)
        self._in_flight: dict[uuid.UUID, tuple[str, Future[bool]]] = {}
        """The organisation and webhook task of each subscription that has one (this and `_shares` are touched by
        the thread running the rounds only)."""
        self._closing = threading.Event()

    def run_once(self) -> int:
        """Attempts the due deliveries and waits for the outcomes to be recorded; returns how many were due."""
        attempted = self.start_round()
        wait([task for _, task in self._in_flight.values()])
        self._reap()
        return attempted

    def start_round(self) -> int:
        """Starts a webhook task for each subscription with due deliveries and none in flight whose organisation
        the shares admit, and publishes the due topic events; returns how many deliveries were due. Raises
        `DeliveryRoundError` when a finished task could not record its outcomes."""
        self._reap()
        tasks = Counter(org_id for org_id, _ in self._in_flight.values())
        # the webhooks of organisations not admitted are left out of the query: they would fill its batch
        waiting = [o for o in set(tasks) | self._shares.slow_tenants() if not self._shares.admits(o, tasks)]
        skip = set(self._in_flight) | self._webhooks_of(waiting)
        due = self.notifications.due_deliveries(self.batch_limit, skip=skip)
        webhooks: dict[uuid.UUID, list[DueBatch]] = {}
        for batch in (b for b in due if b.subscription.topic is None):
            webhooks.setdefault(batch.subscription.id, []).append(batch)
        for subscription_id, batches in webhooks.items():
            org_id = batches[0].subscription.org_id
            if not self._shares.admits(org_id, tasks):
                continue  # its turn comes when a thread it may take is free
            tasks[org_id] += 1
            self._in_flight[subscription_id] = (org_id, self._pool.submit(self._attempt_webhooks, batches))
        topic_batches = [b for b in due if b.subscription.topic is not None]
        if topic_batches:
            self._record(self.topics.attempt(self.notifications, topic_batches))
        return sum(len(b.deliveries) for b in due)

    def _webhooks_of(self, org_ids: list[str]) -> set[uuid.UUID]:
        return {s.id for o in org_ids for s in self.notifications.list_subscriptions(o) if s.topic is None}

    def _reap(self) -> None:
        """Forgets the tasks that ended, marking the organisations of those that were slow."""
        done = [subscription_id for subscription_id, (_, task) in self._in_flight.items() if task.done()]
        errors: list[BaseException] = []
        for org_id, task in (self._in_flight.pop(s) for s in done):
            error = task.exception()
            if error is not None:
                errors.append(error)
            elif task.result():
                self._shares.slowed(org_id)
        if errors:
            raise DeliveryRoundError(f"{len(errors)} webhook task(s) not recorded: {type(errors[0]).__name__}")

    def _attempt_webhooks(self, batches: list[DueBatch]) -> bool:
        """One subscription's due deliveries, one after the other, until one fails or is slow (the rest wait for a
        later round, where a slow organisation takes no reserved thread), the subscription is no longer active or
        the worker closes; returns whether an attempt was slow. The subscription is read again before each attempt:
        a pause or a deletion stops the sending at once (not after the whole backlog), and each POST goes to the
        URL, signed with the secret, the subscription has then."""
        for batch in batches:
            subscription = self.notifications.active_subscription(batch.subscription.id)
            if subscription is None or self._closing.is_set():
                return False
            started = time.monotonic()
            outcomes = self.webhooks.attempt(self.notifications, replace(batch, subscription=subscription))
            # the receiver's time: the wait for a lookup thread was the lookups' (theirs mark whose name server hung)
            slow = time.monotonic() - started - sum(o.queued for o in outcomes) > self.slow_after
            self._record(outcomes)
            if slow or not all(outcome.delivered for outcome in outcomes):
                return slow
        return False

    def _record(self, outcomes: list[AttemptOutcome]) -> None:
        self.notifications.record_outcomes(outcomes)
        for outcome in outcomes:
            if outcome.deferred:
                log.info("delivery %s deferred: %s", outcome.delivery_id, outcome.error)
            elif not outcome.delivered:
                log.info("delivery %s failed: %s", outcome.delivery_id, outcome.error)

    def run(self, stop: threading.Event, error_sleep: float = 1.0) -> None:
        """Works until `stop` is set; a failed round is retried (what was not recorded is attempted again)."""
        while not stop.is_set():
            try:
                attempted = self.start_round()
            except Exception:
                log.exception("delivery round failed; retrying")
                stop.wait(error_sleep)
                continue
            if not attempted:
                stop.wait(self.poll_interval)

    def close(self) -> None:
        """Lets the attempts under way end (each within the client's deadline) and starts no other."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
