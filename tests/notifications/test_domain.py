"""The delivery domain with nothing running: who is concerned, filters, endpoint rules, retries and dead letters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Filters,
    ReferralFacts,
    RetryPolicy,
    Subscription,
    SubscriptionInvalidError,
    SubscriptionNotFoundError,
    SubscriptionStatus,
    check_endpoint,
)
from tests.notifications.conftest import SECRET

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def facts(**overrides: object) -> ReferralFacts:
    values: dict[str, object] = {
        "referral_id": "r-1",
        "event_type": "ca.qc.rls.referral.submitted.v1",
        "from_org": "csss-a",
        "to_org": "crise-b",
        "urgency": "URGENT",
        "services": frozenset({"AAOR", "CRISIS_24_7"}),
    }
    values.update(overrides)
    return ReferralFacts(**values)  # type: ignore[arg-type]


def delivery() -> Delivery:
    return Delivery(
        id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        org_id="crise-b",
        channel="WEBHOOK",
        dispatch_id=uuid.uuid4(),
        referral_id="r-1",
        event_id="e-1",
        event_type="ca.qc.rls.referral.submitted.v1",
        scheduled_at=T0,
    )


# --- who is concerned ----------------------------------------------------------------------------------------


def test_a_referral_concerns_its_sender_and_receiver() -> None:
    assert facts().concerned_orgs == ["crise-b", "csss-a"]


def test_a_redirect_also_concerns_the_previous_receiver() -> None:
    redirected = facts(to_org="tel-aide-c", redirected_from_org="crise-b")
    assert redirected.concerned_orgs == ["crise-b", "csss-a", "tel-aide-c"]


def test_a_reminder_concerns_only_the_organisation_that_must_act() -> None:
    assert facts(responsible_org="crise-b").concerned_orgs == ["crise-b"]


# --- filters -------------------------------------------------------------------------------------------------


def test_empty_filters_keep_everything() -> None:
    assert Filters().matches(facts(urgency=None, services=frozenset()))


@pytest.mark.parametrize(
    ("min_urgency", "urgency", "kept"),
    [
        ("URGENT", "IMMEDIATE", True),
        ("URGENT", "URGENT", True),
        ("URGENT", "ROUTINE", False),
        ("IMMEDIATE", "URGENT", False),
        ("ROUTINE", "ROUTINE", True),
        ("ROUTINE", None, False),
    ],
)
def test_min_urgency_keeps_referrals_at_least_that_urgent(min_urgency: str, urgency: str | None, kept: bool) -> None:
    assert Filters(min_urgency=min_urgency).matches(facts(urgency=urgency)) is kept


def test_event_type_and_service_filters() -> None:
    only_accepted = Filters(event_types=("ca.qc.rls.referral.accepted.v1",))
    assert not only_accepted.matches(facts())
    assert only_accepted.matches(facts(event_type="ca.qc.rls.referral.accepted.v1"))
    assert Filters(services=("CRISIS_24_7",)).matches(facts())
    assert not Filters(services=("PSYCH_CONSULT",)).matches(facts())


def test_filters_survive_their_stored_form() -> None:
    filters = Filters(("ca.qc.rls.referral.accepted.v1",), "URGENT", ("AAOR",))
    assert Filters.of(filters.to_document()) == filters


# --- endpoint rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "dev", "problem"),
    [
        ("https://partner.example/hooks", False, None),
        ("https://partner.example:8443/hooks?x=1", False, None),
        ("http://127.0.0.1:9000/hooks", True, None),
        ("http://localhost/hooks", True, None),
        ("http://[::1]:9000/hooks", True, None),
        ("http://127.0.0.1:9000/hooks", False, "production"),
        ("http://partner.example/hooks", True, "loopback"),
        ("http://10.0.0.8/hooks", True, "loopback"),
        ("ftp://partner.example/hooks", True, "https"),
        ("https://user:pw@partner.example/hooks", True, "credentials"),
        ("https:///hooks", True, "host"),
        ("partner.example/hooks", True, "https"),
        ("not a url", True, "spaces"),
        ("https://partner.example/hooks?x=\x7f", False, "control"),
        ("https://partner.example/hooks?\t", False, "control"),
        ("https://partner.example/\r\nX: y", False, "control"),
        ("https://a\x00b.example/", False, "control"),
        ("https://par tner.example/", False, "spaces"),
    ],
)
def test_webhook_urls(url: str, dev: bool, problem: str | None) -> None:
    if problem is None:
        check_endpoint(DeliveryChannel.WEBHOOK, url, SECRET, allow_loopback_http=dev)
        return
    with pytest.raises(SubscriptionInvalidError, match=problem) as raised:
        check_endpoint(DeliveryChannel.WEBHOOK, url, SECRET, allow_loopback_http=dev)
    assert raised.value.field == "url"


@pytest.mark.parametrize("secret", ["s3cret", "whsec_not*base64", "whsec_" + "QUJD", "whsec_" + "A" * 100])
def test_secrets_must_be_standard_webhooks_secrets(secret: str) -> None:
    with pytest.raises(SubscriptionInvalidError) as raised:
        check_endpoint(DeliveryChannel.WEBHOOK, "https://partner.example/h", secret, allow_loopback_http=False)
    assert raised.value.field == "secret"


def test_topics_take_no_url_and_webhooks_need_one() -> None:
    with pytest.raises(SubscriptionInvalidError) as raised:
        check_endpoint(DeliveryChannel.KAFKA_TOPIC, "https://partner.example/h", None, allow_loopback_http=True)
    assert raised.value.field == "url"
    with pytest.raises(SubscriptionInvalidError) as raised:
        check_endpoint(DeliveryChannel.WEBHOOK, None, None, allow_loopback_http=True)
    assert raised.value.field == "url"


# --- retries -------------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_its_cap_with_jitter() -> None:
    policy = RetryPolicy(initial=timedelta(seconds=5), max_interval=timedelta(minutes=10), jitter=0.5)
    assert policy.interval(1, draw=0.0) == timedelta(seconds=2.5)
    assert policy.interval(1, draw=0.999) < timedelta(seconds=5)
    assert policy.interval(3, draw=0.0) == timedelta(seconds=10)
    assert policy.interval(30, draw=0.0) == timedelta(minutes=5)
    intervals = {policy.interval(4, draw=d / 10) for d in range(10)}
    assert len(intervals) == 10, "jitter spreads the retries of many deliveries"


@pytest.mark.parametrize("multiplier", [1.0, 1.01, 2.0, 10.0])
def test_backoff_stays_at_its_cap_after_thousands_of_failures(multiplier: float) -> None:
    policy = RetryPolicy(initial=timedelta(seconds=5), multiplier=multiplier, max_interval=timedelta(minutes=1))
    expected = timedelta(seconds=5) if multiplier == 1.0 else timedelta(minutes=1)
    assert policy.interval(1025, draw=0.999999) <= expected
    assert policy.interval(10**9, draw=0.0) == expected / 2


def test_a_delivery_retried_every_minute_for_a_day_is_dead_lettered() -> None:
    """Over 1024 failures in the window (a float power overflows at 2.0 ** 1024)."""
    policy = RetryPolicy(initial=timedelta(seconds=5), max_interval=timedelta(minutes=1), jitter=0)
    d = delivery()
    now = T0
    while d.status is not DeliveryStatus.DEAD_LETTERED:
        d.fail(now, "HTTP 500", policy, draw=0.5)
        now = d.next_attempt_at or now
    assert d.attempts > 1024
    assert now == T0 + timedelta(hours=24)


def test_a_failing_delivery_is_retried_for_the_window_then_dead_lettered() -> None:
    policy = RetryPolicy(initial=timedelta(minutes=1), max_interval=timedelta(hours=1), window=timedelta(hours=24))
    d = delivery()
    now = T0
    for _ in range(100):  # a day of retries is about 30 attempts: a loop that never ends fails
        d.fail(now, "HTTP 503", policy, draw=0.5)
        if d.status is DeliveryStatus.DEAD_LETTERED:
            break
        assert d.next_attempt_at is not None
        assert now < d.next_attempt_at <= T0 + timedelta(hours=24)
        now = d.next_attempt_at
    assert now == T0 + timedelta(hours=24), "the last attempt is made at the end of the window"
    assert 25 < d.attempts < 40
    assert d.last_error is not None
    assert "HTTP 503" in d.last_error
    types = [type(e).__name__ for e in d.collect_events()]
    assert types[0] == "Scheduled"
    assert types[-2:] == ["Failed", "DeadLettered"]


def test_a_redelivery_starts_a_fresh_window() -> None:
    policy = RetryPolicy(window=timedelta(seconds=0))
    d = delivery()
    d.fail(T0, "HTTP 500", policy, draw=0.5)
    assert d.status is DeliveryStatus.DEAD_LETTERED
    d.redeliver(T0 + timedelta(hours=1), "worker-1")
    assert d.status is DeliveryStatus.PENDING
    assert d.next_attempt_at == T0 + timedelta(hours=1)
    d.succeed(T0 + timedelta(hours=1))
    assert (d.status, d.attempts) == (DeliveryStatus.DELIVERED, 2)


def test_a_restarted_window_counts_from_the_next_failure() -> None:
    policy = RetryPolicy(initial=timedelta(minutes=1), window=timedelta(hours=24))
    d = delivery()
    d.fail(T0, "HTTP 503", policy, draw=0.5)
    resumed = T0 + timedelta(hours=30)
    d.restart_window(resumed)
    d.fail(resumed, "HTTP 503", policy, draw=0.5)
    assert (d.status, d.attempts) == (DeliveryStatus.FAILED, 2)
    assert d.next_attempt_at == resumed + policy.interval(1, draw=0.5)
    d.fail(resumed + timedelta(hours=24), "HTTP 503", policy, draw=0.5)
    assert d.status is DeliveryStatus.DEAD_LETTERED
    d.restart_window(resumed + timedelta(hours=25))
    assert d.status is DeliveryStatus.DEAD_LETTERED, "a dead letter waits for a redelivery"
    assert [type(e).__name__ for e in d.collect_events()].count("WindowRestarted") == 1


# --- subscriptions -------------------------------------------------------------------------------------------


def test_subscription_pause_resume_disable_delete() -> None:
    s = Subscription(
        id=uuid.uuid4(),
        org_id="crise-b",
        channel="WEBHOOK",
        url="https://crise-b.example/h",
        secret=SECRET,
        filters={},
        created_at=T0,
        created_by="u",
        request_digest="-",
    )
    s.pause(T0, "u")
    s.pause(T0, "u")
    assert s.status is SubscriptionStatus.PAUSED
    s.resume(T0, "u")
    s.disable(T0, "the receiver answered 410 Gone")
    assert (s.status, s.status_reason) == (SubscriptionStatus.DISABLED, "the receiver answered 410 Gone")
    s.resume(T0, "u")
    assert s.status is SubscriptionStatus.ACTIVE
    s.delete(T0, "u")
    with pytest.raises(SubscriptionNotFoundError):
        s.resume(T0, "u")
    names = [type(e).__name__ for e in s.collect_events()]
    assert names == ["Created", "Paused", "Resumed", "Disabled", "Resumed", "Deleted"]
