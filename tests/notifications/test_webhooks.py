"""Webhooks against a real local HTTP receiver: signatures checked independently, outages, order per referral,
no duplicates in effect, 410 disables, dead letters after the retry window, redelivery."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.common.clock import ManualClock, system_clock
from services.common.envelope import CloudEvent
from services.notifications.application import Notifications
from services.notifications.domain import DeliveryStatus, RetryPolicy, SubscriptionStatus
from services.notifications.loops import DeliveryWorker
from tests.helpers import wait_for
from tests.notifications.conftest import (
    SECRET,
    START,
    Feed,
    Story,
    open_app,
    org,
    subscribe_topic,
    subscribe_webhook,
    verify,
)
from tests.notifications.fakes import Received, Receiver, RecordingPublisher

ROUNDS_IN_A_DAY = 100
"""More worker rounds than a day of retries takes (about 30 with the default backoff): a loop that never ends fails."""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Notifications]:
    with open_app(f"sqlite:///{tmp_path / 'notifications.db'}", clock=system_clock) as notifications:
        yield notifications


@contextmanager
def running(worker: DeliveryWorker) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def interleaved(stories: list[Story]) -> list[CloudEvent]:
    """Each referral's lifecycle, the referrals' events interleaved (round robin)."""
    lifecycles = [story.lifecycle() for story in stories]
    return [events[n] for n in range(4) for events in lifecycles]


def test_webhooks_are_signed_in_the_standard_webhooks_style(
    app: Notifications, receiver: Receiver, make_worker: Callable[..., DeliveryWorker]
) -> None:
    sender, receiving = org("csss"), org("crise")
    hook = subscribe_webhook(app, receiving, receiver.url)
    other_hook = subscribe_webhook(app, receiving, receiver.url + "/other")
    answers = iter([500, 200, 200])
    receiver.answer = lambda _: next(answers)
    event = Story(sender, receiving).submitted()
    Feed(app)(event)
    worker = make_worker(app)

    def delivered_both() -> bool:
        worker.run_once()
        return len(receiver.accepted()) >= 2

    wait_for(delivered_both, timeout=30, interval=0.06)

    requests = receiver.requests
    assert len(requests) == 3
    for request in requests:
        assert verify(SECRET, request.headers, request.body), "signature checked by an independent implementation"
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
        assert request.headers["content-type"].startswith("application/cloudevents+json")
        assert not verify(SECRET, request.headers, request.body.replace(b"URGENT", b"ROUTINE"))
        assert not verify("whsec_" + "QUJD" * 8, request.headers, request.body)
    (delivery,) = app.list_deliveries(receiving, hook)
    (other,) = app.list_deliveries(receiving, other_hook)
    by_id: dict[str, list[Received]] = {}
    for request in requests:
        by_id.setdefault(request.webhook_id, []).append(request)
    assert set(by_id) == {str(delivery.id), str(other.id)}, "webhook-id: one per event and subscription"
    assert len(by_id[str(delivery.id)]) + len(by_id[str(other.id)]) == 3, "a retry keeps its webhook-id"

    body = requests[-1].event  # structured-mode CloudEvent
    assert body["specversion"] == "1.0"
    assert (body["id"], body["type"], body["source"], body["subject"]) == (
        event.id,
        "ca.qc.rls.referral.submitted.v1",
        "/rls/referral",
        event.subject,
    )
    assert body["datacontenttype"] == "application/json"
    assert body["data"] == event.data
    assert body["data"]["information_url"].endswith("/information")
    assert datetime.fromisoformat(body["time"]) == event.time


def test_receiver_down_then_back_gets_every_event_once_in_order_per_referral(
    app: Notifications, make_worker: Callable[..., DeliveryWorker]
) -> None:
    sender, receiving = org("csss"), org("crise")
    receiver = Receiver()  # its port is chosen, nothing listens yet: connections are refused
    hook = subscribe_webhook(app, receiving, receiver.url)
    stories = [Story(sender, receiving) for _ in range(5)]
    events = interleaved(stories)
    feed = Feed(app)
    with running(make_worker(app)):
        feed(*events[:12])
        wait_for(lambda: all(d.attempts >= 2 for d in app.list_deliveries(receiving, hook)[:5]), timeout=20)
        feed(*events[12:])
        flaky = iter(range(1_000_000))
        receiver.answer = lambda _: 503 if next(flaky) % 3 == 0 else 200  # back, but failing one request in three
        receiver.start()
        try:
            wait_for(lambda: len(receiver.accepted()) == len(events), timeout=30)
            time.sleep(0.3)
            assert len([r for r in receiver.requests if r.status == 200]) == len(events), "nothing sent twice"
            deliveries = app.list_deliveries(receiving, hook)
            assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
            assert max(d.attempts for d in deliveries) >= 3

            # a redelivery asked for reaches the receiver again with the same webhook-id: no effect there
            app.redeliver(receiving, deliveries[0].id, "ops")
            wait_for(lambda: len([r for r in receiver.requests if r.status == 200]) == len(events) + 1, timeout=10)
        finally:
            receiver.stop()
    assert sorted(receiver.accepted_ids()) == sorted(e.id for e in events), "every event, once in effect"
    for story in stories:
        sent = [e.id for e in events if e.subject == story.referral_id]
        received = [r.event["id"] for r in receiver.accepted() if r.event["subject"] == story.referral_id]
        assert received == sent, "order per referral kept"


def test_later_events_of_a_referral_wait_for_earlier_ones_while_other_referrals_flow(
    app: Notifications, receiver: Receiver, make_worker: Callable[..., DeliveryWorker]
) -> None:
    sender, receiving = org(), org()
    subscribe_webhook(app, receiving, receiver.url)
    held, flowing = Story(sender, receiving), Story(sender, receiving)
    held_events, flowing_events = held.lifecycle()[:3], flowing.lifecycle()[:3]
    release = threading.Event()
    receiver.answer = lambda r: 200 if release.is_set() or r.event["id"] != held_events[0].id else 503
    with running(make_worker(app)):
        Feed(app)(
            held_events[0], flowing_events[0], held_events[1], flowing_events[1], held_events[2], flowing_events[2]
        )
        wait_for(lambda: len(receiver.accepted()) == 3, timeout=20)
        time.sleep(0.3)
        attempted = {r.event["id"] for r in receiver.requests}
        assert attempted == {held_events[0].id} | {e.id for e in flowing_events}, "events 2 and 3 wait for event 1"
        release.set()
        wait_for(lambda: len(receiver.accepted()) == 6, timeout=20)
    assert [i for i in receiver.accepted_ids() if i in {e.id for e in held_events}] == [e.id for e in held_events]


def test_a_slow_receiver_holds_up_neither_topics_nor_other_webhooks(
    app: Notifications, receiver: Receiver, make_worker: Callable[..., DeliveryWorker]
) -> None:
    """A round used to wait for every webhook: one receiver taking its time delayed every organisation's deliveries."""
    slow_org, fast_org, topic_org = org("slow"), org("fast"), org("topic")
    release, asked = threading.Event(), []

    def hold(request: Received) -> int:
        asked.append(request.webhook_id)
        release.wait(1.5)  # within the worker client's 2 s deadline
        return 200

    slow = Receiver(answer=hold).start()
    publisher = RecordingPublisher()
    try:
        slow_hook = subscribe_webhook(app, slow_org, slow.url)
        subscribe_webhook(app, fast_org, receiver.url)
        subscribe_topic(app, topic_org)
        feed = Feed(app)
        with running(make_worker(app, publisher)):
            feed(Story(org(), slow_org).submitted(), Story(org(), slow_org).submitted())
            wait_for(lambda: asked, timeout=10, interval=0.01)
            feed(Story(org(), fast_org).submitted(), Story(org(), topic_org).submitted())
            wait_for(lambda: receiver.accepted() and publisher.published, timeout=1, interval=0.01)
            assert not release.is_set() and len(asked) == 1, "one attempt at a time per subscription"
            release.set()
            wait_for(lambda: len(slow.accepted()) == 2, timeout=10)
        assert {d.status for d in app.list_deliveries(slow_org, slow_hook)} == {DeliveryStatus.DELIVERED}
    finally:
        release.set()
        slow.stop()


@pytest.mark.parametrize("stop", [Notifications.pause, Notifications.unsubscribe], ids=["paused", "deleted"])
def test_a_subscription_paused_or_deleted_during_an_attempt_gets_no_further_attempts(
    app: Notifications,
    receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
    stop: Callable[[Notifications, str, uuid.UUID, str], object],
) -> None:
    """A subscription's task used to send its whole backlog (up to 200 attempts, each up to the deadline) to the URL,
    signed with the secret, read when it started: an organisation that had paused or unsubscribed still got POSTs."""
    receiving = org("crise")
    hook = subscribe_webhook(app, receiving, receiver.url)
    Feed(app)(*[Story(org(), receiving).submitted() for _ in range(5)])

    def stop_during_the_first(request: Received) -> int:
        if not receiver.requests:
            stop(app, receiving, hook, "org-admin")
        return 200

    receiver.answer = stop_during_the_first
    worker = make_worker(app)
    worker.run_once()
    assert len(receiver.requests) == 1, "no attempt after the one under way"
    if stop is Notifications.pause:
        statuses = [d.status for d in app.list_deliveries(receiving, hook)]
        assert statuses.count(DeliveryStatus.DELIVERED) == 1 and statuses.count(DeliveryStatus.PENDING) == 4
        app.resume(receiving, hook, "org-admin")
        worker.run_once()
        assert len(receiver.accepted()) == 5, "the deliveries left wait for the resumption"


def test_a_receiver_answering_410_disables_its_subscription(
    app: Notifications, receiver: Receiver, make_worker: Callable[..., DeliveryWorker]
) -> None:
    sender, receiving = org(), org()
    hook = subscribe_webhook(app, receiving, receiver.url)
    receiver.answer = lambda _: 410
    story = Story(sender, receiving)
    feed = Feed(app)
    with running(make_worker(app)):
        feed(story.submitted())
        wait_for(lambda: app.get_subscription(receiving, hook).status is SubscriptionStatus.DISABLED, timeout=10)
        feed(story.changed("received", "RECEIVED"))
        time.sleep(0.5)
        assert len(receiver.requests) == 1, "no attempt while disabled"
        subscription = app.get_subscription(receiving, hook)
        assert subscription.status_reason == "the receiver answered 410 Gone"
        first, second = app.list_deliveries(receiving, hook)
        assert (first.status, first.last_error, second.status) == (
            DeliveryStatus.FAILED,
            "HTTP 410",
            DeliveryStatus.PENDING,
        )
        receiver.answer = lambda _: 200
        app.resume(receiving, hook, "admin")
        wait_for(lambda: len(receiver.accepted()) == 2, timeout=10)
    assert [r.event["type"] for r in receiver.accepted()] == [
        "ca.qc.rls.referral.submitted.v1",
        "ca.qc.rls.referral.received.v1",
    ]


def test_retries_end_in_a_dead_letter_after_24_hours_then_a_redelivery_succeeds(
    tmp_path: Path, receiver: Receiver, make_worker: Callable[..., DeliveryWorker]
) -> None:
    """The default policy (5 s doubling up to 1 h, 24 h window) on a clock the test moves."""
    clock = ManualClock(START)
    with open_app(f"sqlite:///{tmp_path / 'n.db'}", clock=clock, retry=RetryPolicy()) as app:
        sender, receiving = org(), org()
        hook = subscribe_webhook(app, receiving, receiver.url)
        story = Story(sender, receiving)
        receiver.answer = lambda _: 500
        Feed(app)(story.submitted(), story.changed("received", "RECEIVED"))
        worker = make_worker(app)
        first_attempt = clock.now
        for _ in range(ROUNDS_IN_A_DAY):
            head = app.list_deliveries(receiving, hook)[0]
            if head.status is DeliveryStatus.DEAD_LETTERED:
                break
            assert head.next_attempt_at is not None
            clock.now = max(clock.now, head.next_attempt_at)
            worker.run_once()
        else:
            pytest.fail("not dead-lettered after a day of retries")
        assert clock.now - first_attempt == timedelta(hours=24)
        dead, waiting = app.list_deliveries(receiving, hook)
        assert dead.attempts == len(receiver.requests) > 20
        assert dead.last_error is not None
        assert "HTTP 500" in dead.last_error
        assert {r.webhook_id for r in receiver.requests} == {str(dead.id)}, "the second event waited"

        receiver.answer = lambda _: 200
        worker.run_once()
        assert app.get_delivery(receiving, waiting.id).status is DeliveryStatus.DELIVERED
        app.redeliver(receiving, dead.id, "ops")
        worker.run_once()
        redelivered = app.get_delivery(receiving, dead.id)
        assert (redelivered.status, redelivered.attempts) == (DeliveryStatus.DELIVERED, dead.attempts + 1)
        assert receiver.requests[-1].webhook_id == str(dead.id)
