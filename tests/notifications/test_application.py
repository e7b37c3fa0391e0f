"""The Notifications application on both event stores (SQLite file, real PostgreSQL): routing, once in effect,
redirects, reminders, filters, no record information, and delivery state that survives a restart."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from services.common.clock import ManualClock
from services.notifications import inbound
from services.notifications.application import Notifications, SubscriptionRequest
from services.notifications.domain import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Dispatch,
    Filters,
    RetryPolicy,
    SubscriptionExistsError,
    SubscriptionIdempotencyConflictError,
    SubscriptionStatus,
)
from services.notifications.loops import DeliveryWorker
from tests.notifications.conftest import SECRET, START, Feed, Story, open_app, org, subscribe_topic, subscribe_webhook
from tests.notifications.fakes import RecordingPublisher


def scheduled(app: Notifications, subscription_id: uuid.UUID) -> list[str]:
    """Event types scheduled for a subscription, in order."""
    app.board.catch_up()
    return [d.event_type.split(".")[-2] for d in app.board.deliveries_of(subscription_id)]


def stored_events(app: Notifications) -> list[object]:
    notifications = app.recorder.select_notifications(start=0, limit=100_000, inclusive_of_start=False)
    return [app.mapper.to_domain_event(n) for n in notifications]


def test_each_event_is_scheduled_for_each_matching_subscription_of_each_concerned_organisation(
    store_url: str,
) -> None:
    sender, receiver, bystander = org("csss"), org("crise"), org("other")
    with open_app(store_url) as app:
        sender_topic = subscribe_topic(app, sender)
        receiver_hook = subscribe_webhook(app, receiver, "https://crise.example/h")
        receiver_urgent = subscribe_webhook(
            app, receiver, "https://crise.example/urgent", Filters(min_urgency="IMMEDIATE")
        )
        bystander_topic = subscribe_topic(app, bystander)
        feed = Feed(app)
        story = Story(sender, receiver)
        feed(*story.lifecycle())
        assert scheduled(app, sender_topic) == ["submitted", "received", "accepted", "first-contact-made"]
        assert scheduled(app, receiver_hook) == scheduled(app, sender_topic)
        assert scheduled(app, receiver_urgent) == []  # URGENT < IMMEDIATE
        assert scheduled(app, bystander_topic) == []
        dispatches = [e for e in stored_events(app) if isinstance(e, Dispatch.Routed)]
        assert [d.org_ids for d in dispatches] == [sorted([sender, receiver])] * 4


def test_a_copy_of_an_event_already_routed_has_no_effect(store_url: str) -> None:
    sender, receiver = org(), org()
    with open_app(store_url) as app:
        hook = subscribe_webhook(app, receiver, "https://r.example/h")
        event = Story(sender, receiver).submitted()
        inbound.handler(app)(event, Tracking("rls.referral.v1#0", 1))
        before = len(stored_events(app))
        inbound.handler(app)(event, Tracking("rls.referral.v1#1", 7))  # a relay re-send: another offset
        assert len(stored_events(app)) == before
        assert app.has_processed(Tracking("rls.referral.v1#1", 7))
        assert len(app.board.deliveries_of(hook)) == 1


def test_a_redirect_reaches_the_previous_receiver_then_only_the_new_one(store_url: str) -> None:
    sender, first, second = org("csss"), org("crise"), org("tel-aide")
    with open_app(store_url) as app:
        first_hook = subscribe_webhook(app, first, "https://first.example/h")
        second_hook = subscribe_webhook(app, second, "https://second.example/h")
        story = Story(sender, first)
        Feed(app)(
            story.submitted(),
            story.changed("received", "RECEIVED"),
            story.redirected(second),
            story.changed("received", "RECEIVED"),
        )
        assert scheduled(app, first_hook) == ["submitted", "received", "redirected"]
        assert scheduled(app, second_hook) == ["redirected", "received"]


def test_reminders_go_to_the_responsible_organisation_only(store_url: str) -> None:
    sender, receiver = org("csss"), org("crise")
    with open_app(store_url) as app:
        sender_hook = subscribe_webhook(app, sender, "https://s.example/h")
        receiver_hook = subscribe_webhook(app, receiver, "https://r.example/h")
        reminders_only = subscribe_webhook(
            app,
            receiver,
            "https://r.example/reminders",
            Filters(event_types=("ca.qc.rls.referral.delay-at-risk.v1", "ca.qc.rls.referral.delay-breached.v1")),
        )
        story = Story(sender, receiver)
        Feed(app)(story.submitted(), story.delay("at-risk"), story.delay("breached"))
        assert scheduled(app, sender_hook) == ["submitted"]
        assert scheduled(app, receiver_hook) == ["submitted", "delay-at-risk", "delay-breached"]
        assert scheduled(app, reminders_only) == ["delay-at-risk", "delay-breached"]


def test_a_reminder_about_the_previous_receivers_clock_reaches_its_services_filter(store_url: str) -> None:
    """A threshold that passed before a redirect, recorded afterwards: the reminder names the previous receiver and
    its service (`responsible_service`), which its `services` filter matches although the referral moved on."""
    sender, first, second = org("csss"), org("crise"), org("comm")
    with open_app(store_url) as app:
        unfiltered = subscribe_webhook(app, first, "https://crise.example/all")
        own_service = subscribe_webhook(app, first, "https://crise.example/crisis", Filters(services=("CRISIS_24_7",)))
        other_team = subscribe_webhook(app, first, "https://crise.example/psy", Filters(services=("PSYCH_CONSULT",)))
        story = Story(sender, first, to_service="CRISIS_24_7")
        feed = Feed(app)
        feed(story.submitted(), story.changed("received", "RECEIVED"))
        feed(story.redirected(second))  # to COMMUNITY_SERVICE
        feed(story.delay("breached", responsible_org=first, responsible_service="CRISIS_24_7"))
        assert scheduled(app, unfiltered) == ["submitted", "received", "redirected", "delay-breached"]
        assert scheduled(app, own_service) == ["submitted", "received", "redirected", "delay-breached"]
        assert scheduled(app, other_team) == []
        reminder = [e for e in stored_events(app) if isinstance(e, Dispatch.Routed)][-1]
        assert reminder.org_ids == [first]
        assert reminder.cloud_event["data"]["responsible_service"] == "CRISIS_24_7"  # the partner receives it too

        # one published before the field was added: its clock's service is the one the referral was addressed to
        # when the clock started (CRISIS_24_7, from the submission routed here), not the one it moved to since
        feed(story.delay("at-risk", responsible_org=first))
        assert scheduled(app, unfiltered)[-1] == "delay-at-risk"
        assert scheduled(app, own_service)[-1] == "delay-at-risk"
        assert scheduled(app, other_team) == []
        assert app.reminders_unmatched == {}


def test_a_reminder_without_its_clock_service_whose_clock_started_after_a_redirect_is_the_new_receivers(
    store_url: str,
) -> None:
    sender, first, second = org("csss"), org("crise"), org("comm")
    with open_app(store_url) as app:
        crisis = subscribe_webhook(app, second, "https://comm.example/crisis", Filters(services=("CRISIS_24_7",)))
        community = subscribe_webhook(app, second, "https://comm.example/c", Filters(services=("COMMUNITY_SERVICE",)))
        story = Story(sender, first, to_service="CRISIS_24_7")
        feed = Feed(app)
        feed(story.submitted(), story.changed("received", "RECEIVED"))
        redirected = story.redirected(second)  # to COMMUNITY_SERVICE, at story.at
        feed(redirected)
        feed(story.delay("at-risk", started_at=story.at - timedelta(minutes=1)))  # the redirect's own time
        assert scheduled(app, community) == ["redirected", "delay-at-risk"]
        assert scheduled(app, crisis) == ["redirected"]  # the previous receiving service: the redirect only


def test_a_reminder_without_its_clock_service_on_a_referral_not_known_here_reaches_no_filtered_subscription(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its submission was never routed here (the referral predates the service's store, say): its service filters
    cannot be told apart. Unfiltered subscriptions get it; filtered ones, even on its sending or receiving service,
    do not (one filtered on another service would learn of a person its team never dealt with), counted and logged
    without the referral's id."""
    sender, receiver = org("csss"), org("crise")
    with open_app(store_url) as app:
        unfiltered = subscribe_webhook(app, receiver, "https://crise.example/all")
        receiving = subscribe_webhook(app, receiver, "https://crise.example/c", Filters(services=("CRISIS_24_7",)))
        story = Story(sender, receiver, to_service="CRISIS_24_7")
        with caplog.at_level("WARNING", logger="services.notifications.application"):
            Feed(app)(story.delay("breached"))
        assert scheduled(app, unfiltered) == ["delay-breached"]
        assert scheduled(app, receiving) == []
        assert app.reminders_unmatched == {"ca.qc.rls.referral.delay-breached.v1": 1}
        [logged] = caplog.records
        assert "left out of 1 subscription(s) filtered on services" in logged.getMessage()
        assert story.referral_id not in caplog.text and "usager" not in caplog.text


def test_a_reminder_left_out_is_counted_and_logged_once_however_many_copies_kafka_delivers(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Kafka delivers a record at least once: each copy was counted in `rls_reminders_unmatched` and logged again
    (three for one reminder delivered three times), though a copy only tracks its position. Now the copy that routes
    the reminder counts it."""
    sender, receiver = org("csss"), org("crise")
    with open_app(store_url) as app:
        filtered = subscribe_webhook(app, receiver, "https://crise.example/c", Filters(services=("CRISIS_24_7",)))
        reminder = Story(sender, receiver, to_service="CRISIS_24_7").delay("breached")
        with caplog.at_level("WARNING", logger="services.notifications.application"):
            Feed(app)(reminder, reminder, reminder)
        assert scheduled(app, filtered) == []
        assert app.reminders_unmatched == {"ca.qc.rls.referral.delay-breached.v1": 1}
        assert len(caplog.records) == 1, caplog.text


def test_what_leaves_carries_only_the_contract_fields(store_url: str) -> None:
    """Record information slipped into an upstream event by mistake is never forwarded."""
    sender, receiver = org(), org()
    with open_app(store_url) as app:
        subscribe_topic(app, receiver)
        event = Story(sender, receiver).submitted()
        leaky = event.model_copy(update={"data": {**event.data, "reason_code": "SUICIDE_RISK", "information": "x"}})
        Feed(app)(leaky)
        (dispatch,) = [e for e in stored_events(app) if isinstance(e, Dispatch.Routed)]
        assert dispatch.cloud_event["id"] == event.id
        assert dispatch.cloud_event["data"] == event.data
        assert "reason_code" not in str(dispatch.cloud_event)


def test_subscriptions_start_from_now_and_deleted_ones_receive_nothing(store_url: str) -> None:
    sender, receiver = org(), org()
    with open_app(store_url) as app:
        story = Story(sender, receiver)
        feed = Feed(app)
        feed(story.submitted())
        hook = subscribe_webhook(app, receiver, "https://r.example/h")
        feed(story.changed("received", "RECEIVED"))
        assert scheduled(app, hook) == ["received"]
        app.unsubscribe(receiver, hook, "u")
        feed(story.changed("accepted", "ACCEPTED"))
        assert app.list_subscriptions(receiver) == []
        assert not [
            e for e in stored_events(app) if isinstance(e, Delivery.Scheduled) and e.event_type.endswith("accepted.v1")
        ]


def test_one_topic_subscription_per_organisation_and_idempotent_retries(store_url: str) -> None:
    receiver = org()
    with open_app(store_url) as app:
        topic = SubscriptionRequest(receiver, DeliveryChannel.KAFKA_TOPIC)
        first = app.subscribe(topic, "u", idempotency_key="k-1")
        again = app.subscribe(topic, "u", idempotency_key="k-1")
        assert (again.subscription.id, again.created) == (first.subscription.id, False)
        with pytest.raises(SubscriptionExistsError):
            app.subscribe(topic, "u", idempotency_key="k-2")
        hook = SubscriptionRequest(receiver, DeliveryChannel.WEBHOOK, "https://r.example/h", SECRET)
        with pytest.raises(SubscriptionIdempotencyConflictError):
            app.subscribe(hook, "u", idempotency_key="k-1")
        app.unsubscribe(receiver, first.subscription.id, "u")
        assert app.subscribe(topic, "u").created  # a new one after the old one was deleted


def test_delivery_state_survives_a_restart(store_url: str, make_worker: Callable[..., DeliveryWorker]) -> None:
    """Pending, failed, delivered and paused states come back from the event store alone."""
    sender, receiver = org(), org()
    clock = ManualClock(START)
    with open_app(store_url, clock) as app:
        topic = subscribe_topic(app, receiver)
        paused = subscribe_webhook(app, receiver, "https://r.example/paused")
        app.pause(receiver, paused, "u")
        stories = [Story(sender, receiver) for _ in range(3)]
        feed = Feed(app)
        for story in stories:
            feed(story.submitted())
        publisher = RecordingPublisher()
        publisher.failing = True
        make_worker(app, publisher).run_once()  # the broker is down: every topic delivery failed once
        before = {d.id: (d.status, d.attempts, d.next_attempt_at) for d in app.list_deliveries(receiver, topic)}
        assert {s for s, _, _ in before.values()} == {DeliveryStatus.FAILED}
        for story in stories:
            feed(story.changed("received", "RECEIVED"))

    with open_app(store_url, clock) as app:
        after = {d.id: (d.status, d.attempts, d.next_attempt_at) for d in app.list_deliveries(receiver, topic)}
        assert {k: after[k] for k in before} == before
        assert len(after) == 6
        assert app.get_subscription(receiver, paused).status is SubscriptionStatus.PAUSED
        assert len(app.list_deliveries(receiver, paused)) == 6, "a paused subscription keeps its events"
        clock.advance(timedelta(seconds=1))
        publisher = RecordingPublisher()
        worker = make_worker(app, publisher)
        while worker.run_once():
            clock.advance(timedelta(seconds=1))
        assert {d.status for d in app.list_deliveries(receiver, topic)} == {DeliveryStatus.DELIVERED}
        by_referral = {
            s.referral_id: [m.event.type for m in publisher.published if m.key == s.referral_id] for s in stories
        }
        assert all(
            types[0].endswith("submitted.v1") and types[1].endswith("received.v1") for types in by_referral.values()
        )
        assert len(publisher.published) == 6
        assert {m.topic for m in publisher.published} == {f"rls.org.{receiver}.referrals.v1"}


def test_a_resumed_subscription_gives_its_failed_deliveries_a_fresh_retry_window(
    store_url: str, make_worker: Callable[..., DeliveryWorker]
) -> None:
    """Events kept while paused are sent when it resumes: a delivery that failed once before a pause longer than the
    retry window is not dead-lettered at its first attempt after it."""
    sender, receiver = org(), org()
    clock = ManualClock(START)
    with open_app(store_url, clock, retry=RetryPolicy()) as app:
        topic = subscribe_topic(app, receiver)
        Feed(app)(Story(sender, receiver).submitted())
        publisher = RecordingPublisher()
        publisher.failing = True
        worker = make_worker(app, publisher)
        worker.run_once()
        app.pause(receiver, topic, "admin")
        clock.advance(timedelta(hours=25))
        app.resume(receiver, topic, "admin")
        app.resume(receiver, topic, "admin")  # already active: nothing more
        worker.run_once()
        (failed,) = app.list_deliveries(receiver, topic)
        assert (failed.status, failed.attempts) == (DeliveryStatus.FAILED, 2)
        assert failed.next_attempt_at is not None
        assert failed.next_attempt_at - clock.now < timedelta(seconds=5), "the backoff starts again too"

        clock.advance(timedelta(hours=24))
        worker.run_once()
        assert app.get_delivery(receiver, failed.id).status is DeliveryStatus.DEAD_LETTERED, "a window, not more"


def test_concurrent_topic_subscriptions_make_one(store_url: str) -> None:
    """Two simultaneous subscribes both pass the liveness check; the topic slot lets only one of them through."""
    import threading

    from services.common.eventstore import persistence_env
    from services.notifications.application import Notifications, SubscriptionRequest
    from services.notifications.domain import DeliveryChannel, Filters, SubscriptionExistsError

    app = Notifications(env=persistence_env(store_url))
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def subscribe(key: str) -> None:
        request = SubscriptionRequest(
            org_id="org-race", channel=DeliveryChannel.KAFKA_TOPIC, url=None, secret=None, filters=Filters()
        )
        barrier.wait()
        try:
            app.subscribe(request, "worker", key)
            outcomes.append("created")
        except SubscriptionExistsError:
            outcomes.append("409")

    threads = [threading.Thread(target=subscribe, args=(f"k-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409", "created"]
    assert [s.channel for s in app.list_subscriptions("org-race")] == [DeliveryChannel.KAFKA_TOPIC]
    app.close()


def test_what_is_due_is_read_from_one_state_of_the_board_while_another_replica_deletes_a_subscription(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery worker's replica reads the due heads, then their subscriptions, then their deliveries. Another
    replica's catch-up deleting a subscription's rows between those statements made the worker's round fail with a
    KeyError (every stress run: 150 subscriptions deleted while the worker asked what was due)."""
    worker, api = open_app(store_url), open_app(store_url)
    receiver = org("r")
    subscription = subscribe_webhook(api, receiver, "https://r.example/h")
    Feed(api)(Story(org("s"), receiver).submitted())
    read_states = worker.board._states

    def deleted_meanwhile(tx: Any, table: str, ids: set[str]) -> Any:
        if table == "board_subscriptions":  # after the due heads were read
            api.unsubscribe(receiver, subscription, "test")
            deleted = api.board.subscription(subscription)  # applied: its deliveries' rows are gone
            assert deleted is not None and deleted.status is SubscriptionStatus.DELETED
        return read_states(tx, table, ids)

    monkeypatch.setattr(worker.board, "_states", deleted_meanwhile)
    due = worker.due_deliveries()
    assert [batch.subscription.id for batch in due] == [subscription]  # as the board stood when first read
    monkeypatch.undo()
    assert worker.due_deliveries() == []
    worker.close()
    api.close()
