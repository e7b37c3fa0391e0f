"""One organisation cannot starve the others' webhooks: slow receivers and silent name servers of its own hold at most
its share of the delivery threads and of the lookup threads; the deliveries over its share wait for a later round,
not attempted (so never failed); a subscription's name is resolved under a deadline. Nor can several: the organisations
seen hanging until their deadlines, however many, leave the reserve to the others.

Every socket here is on 127.0.0.1; names go through the fake resolver below."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from services.common.clock import system_clock
from services.common.egress import (
    MAX_RESOLVING,
    MAX_RESOLVING_PER_TENANT,
    MAX_RESOLVING_RESERVE,
    EgressBusyError,
    EgressPolicy,
    EgressRefusedError,
    Resolver,
    egress_client,
    for_tenant,
)
from services.common.eventstore import persistence_env
from services.notifications.application import Notifications, SubscriptionRequest
from services.notifications.domain import (
    DeliveryChannel,
    DeliveryStatus,
    SubscriptionInvalidError,
    SubscriptionLookupBusyError,
)
from services.notifications.loops import DeliveryWorker
from services.notifications.outbound import TopicTransport, WebhookTransport
from services.notifications.settings import NotificationsSettings
from services.notifications.views import DeliveryEntry
from tests.helpers import wait_for
from tests.notifications.conftest import FAST_RETRY, Feed, Story, org, subscribe_webhook
from tests.notifications.fakes import Received, Receiver, RecordingPublisher
from tests.notifications.test_webhooks import running

PER_ORG = 2
"""The worker's default share of one organisation (`DeliveryWorker.per_org`, `MAX_RESOLVING_PER_TENANT`)."""
THREADS, RESERVE = 8, 2
"""The worker's default delivery threads and reserve (`DeliveryWorker`; the lookups': `MAX_RESOLVING`,
`MAX_RESOLVING_RESERVE`)."""
DEADLINE = 1.0
"""The deadline of the worker's client in the tests of receivers that hang (each attempt ends by it)."""


class Zone:
    """The tests' DNS: `localhost` is 127.0.0.1; `*.silent.example` (a zone an organisation controls) answers a public
    address until `silence()`, then leaves every lookup unanswered until `speak()` (or 10 s), or `give_up()` (the
    resolver's own timeout: those lookups and the next ones do not resolve), and again after the next `silence()`."""

    def __init__(self) -> None:
        self._silent = threading.Event()
        self._spoken = threading.Event()
        self._given_up = threading.Event()
        self._lock = threading.Lock()
        self.waiting = 0
        self.most_waiting = 0

    def __call__(self, host: str, port: int) -> list[str]:
        if host == "localhost":
            return ["127.0.0.1"]
        if not host.endswith(".silent.example"):
            raise OSError("no such name")
        if self._silent.is_set():
            with self._lock:
                self.waiting += 1
                self.most_waiting = max(self.most_waiting, self.waiting)
            self._spoken.wait(10)
            with self._lock:
                self.waiting -= 1
            if self._given_up.is_set():
                raise EgressRefusedError("the host does not resolve")  # as `system_resolver` says it
        return ["93.184.215.14"]

    def silence(self) -> None:
        self._spoken.clear()
        self._given_up.clear()
        self._silent.set()

    def give_up(self) -> None:
        self._given_up.set()
        self._spoken.set()

    def speak(self) -> None:
        self._spoken.set()


@pytest.fixture
def zone() -> Iterator[Zone]:
    dns = Zone()
    yield dns
    dns.speak()


class Hanging:
    """Receivers that hold every request until the test ends, long past the worker's deadline; `asked` counts the
    requests they received (a receiver answers one at a time: the next waits for the one it holds)."""

    def __init__(self) -> None:
        self.receivers: list[Receiver] = []
        self.asked = 0
        self._ended = threading.Event()
        self._lock = threading.Lock()

    def urls(self, count: int) -> list[str]:
        started = [Receiver(answer=self._hold).start() for _ in range(count)]
        self.receivers += started
        return [each.url for each in started]

    def _hold(self, request: Received) -> int:
        with self._lock:
            self.asked += 1
        self._ended.wait(30)
        return 200

    def stop(self) -> None:
        self._ended.set()
        stopping = [threading.Thread(target=each.stop) for each in self.receivers]  # each waits for its server's poll
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    receivers = Hanging()
    yield receivers
    receivers.stop()


@contextmanager
def delivering(app: Notifications, resolve: Resolver = lambda host, port: []) -> Iterator[DeliveryWorker]:
    """The worker running with the service's defaults (8 threads, 2 per organisation, 2 in reserve), an attempt over
    half its client's deadline marking its organisation slow."""
    client = egress_client(EgressPolicy(allow_loopback=True, resolve=resolve), timeout=DEADLINE)
    transports = WebhookTransport(client, app.clock), TopicTransport(RecordingPublisher())
    worker = DeliveryWorker(app, *transports, slow_after=DEADLINE / 2, poll_interval=0.01)
    try:
        with running(worker):
            yield worker
    finally:
        worker.close()
        client.close()


@pytest.fixture
def app(tmp_path: Path, zone: Zone) -> Iterator[Notifications]:
    env = persistence_env(f"sqlite:///{tmp_path / 'notifications.db'}")
    with Notifications(
        env=env, clock=system_clock, retry=FAST_RETRY, resolve=zone, lookup_timeout=0.3
    ) as notifications:
        yield notifications


def test_an_organisations_silent_name_server_leaves_the_other_organisations_webhooks_delivered(
    app: Notifications, zone: Zone, receiver: Receiver
) -> None:
    """One client resolved every organisation's names on 8 shared threads: an organisation with 8 webhooks in a zone
    that stopped answering held them all (each lookup goes on past its deadline), and another organisation's lookup
    queued behind them was dropped at its deadline — a failed attempt (ConnectTimeout), dead-lettered after 24 h."""
    attacker, victim = org("silent"), org("victim")
    for n in range(MAX_RESOLVING):
        subscribe_webhook(app, attacker, f"https://h{n}.silent.example/hooks")
    victim_hook = subscribe_webhook(app, victim, receiver.url.replace("127.0.0.1", "localhost"))
    zone.silence()
    feed = Feed(app)
    feed(Story(org(), attacker).submitted())
    with egress_client(EgressPolicy(allow_loopback=True, resolve=zone), timeout=0.3) as client:
        worker = DeliveryWorker(app, WebhookTransport(client, app.clock), TopicTransport(RecordingPublisher()))
        try:
            for _ in range(MAX_RESOLVING // PER_ORG + 1):  # rounds enough for its lookups to pile up on every thread
                worker.run_once()
                time.sleep(0.25)  # its failed deliveries come due again (FAST_RETRY)
            feed(Story(org(), victim).submitted())
            worker.run_once()
        finally:
            worker.close()
    [delivery] = app.list_deliveries(victim, victim_hook)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.DELIVERED, None)
    assert len(receiver.accepted()) == 1
    assert zone.most_waiting <= MAX_RESOLVING_PER_TENANT, "its unanswered lookups hold its share, no more"


def test_slow_receivers_of_one_organisation_leave_threads_for_the_others_and_what_waits_has_not_failed(
    app: Notifications, receiver: Receiver
) -> None:
    """8 webhook threads shared by every organisation: one with 8 slow receivers (each within the deadline) held
    them all, and every other organisation's webhooks waited for its receivers."""
    slow_org, fast_org = org("slow"), org("fast")
    release, asked = threading.Event(), []

    def hold(request: Received) -> int:
        asked.append(request.webhook_id)
        release.wait(1.5)  # within the worker client's 2 s deadline
        return 200

    def deliveries_of(hooks: list[uuid.UUID]) -> list[DeliveryEntry]:
        return [d for hook in hooks for d in app.list_deliveries(slow_org, hook)]

    slow = [Receiver(answer=hold).start() for _ in range(8)]  # one each: a receiver answers one request at a time
    client = egress_client(EgressPolicy(allow_loopback=True, resolve=lambda host, port: []), timeout=2.0)
    worker = DeliveryWorker(
        app, WebhookTransport(client, app.clock), TopicTransport(RecordingPublisher()), poll_interval=0.01
    )
    try:
        slow_hooks = [subscribe_webhook(app, slow_org, each.url) for each in slow]
        subscribe_webhook(app, fast_org, receiver.url)
        feed = Feed(app)
        with running(worker):
            feed(Story(org(), slow_org).submitted())
            wait_for(lambda: len(asked) >= PER_ORG, timeout=10, interval=0.01)
            feed(Story(org(), fast_org).submitted())
            wait_for(lambda: receiver.accepted(), timeout=1, interval=0.01)
            time.sleep(0.2)  # time enough for more of its receivers to be asked, were it allowed
            assert not release.is_set() and len(asked) == PER_ORG, "an organisation holds its share of the threads"
            release.set()
            wait_for(lambda: sum(len(each.accepted()) for each in slow) == 8, timeout=20)
            wait_for(lambda: all(d.status is DeliveryStatus.DELIVERED for d in deliveries_of(slow_hooks)), 10)
        deliveries = deliveries_of(slow_hooks)
        assert [(d.status, d.attempts) for d in deliveries] == [(DeliveryStatus.DELIVERED, 1)] * 8, (
            "the deliveries that waited for their turn were not failed attempts"
        )
    finally:
        release.set()
        worker.close()
        client.close()
        for each in slow:
            each.stop()


def test_four_organisations_whose_receivers_hang_leave_a_thread_to_a_fifth(
    app: Notifications, receiver: Receiver, hanging: Hanging
) -> None:
    """Each organisation held at most its share, 2 of the 8 threads, but four whose receivers hang until the deadline
    held all 8 together: a fifth organisation's webhook waited for their deadlines."""
    hostile, victim = [org(f"hanging{n}") for n in range(4)], org("victim")
    for each in hostile:
        for url in hanging.urls(PER_ORG):
            subscribe_webhook(app, each, url)
    subscribe_webhook(app, victim, receiver.url)
    feed = Feed(app)
    with delivering(app):
        for each in hostile:
            feed(Story(org(), each).submitted())
        wait_for(lambda: hanging.asked >= THREADS - RESERVE, timeout=5, interval=0.01)
        time.sleep(0.1)  # time enough for their other receivers to be asked, were they allowed
        asked = hanging.asked
        feed(Story(org(), victim).submitted())
        wait_for(receiver.accepted, timeout=DEADLINE / 2, interval=0.01)
    assert asked < THREADS, "an organisation holding a thread already takes none of the reserve"


def test_organisations_seen_hanging_leave_the_reserve_to_the_others_however_many_they_are(
    app: Notifications, receiver: Receiver, hanging: Hanging
) -> None:
    """More organisations whose receivers hang than there are threads, each with its share of them: once each had an
    attempt end at the deadline, they share the threads outside the reserve, and another organisation's webhook is
    delivered at once, not after their deadlines."""
    hostile, victim = [org(f"hanging{n}") for n in range(10)], org("victim")
    hooks = {each: [subscribe_webhook(app, each, url) for url in hanging.urls(PER_ORG)] for each in hostile}
    subscribe_webhook(app, victim, receiver.url)

    def seen(org_id: str) -> bool:
        return any(d.attempts for hook in hooks[org_id] for d in app.list_deliveries(org_id, hook))

    feed = Feed(app)
    with delivering(app):
        for each in hostile:
            feed(Story(org(), each).submitted())
        wait_for(lambda: all(seen(each) for each in hostile), timeout=30, interval=0.05)
        time.sleep(DEADLINE + 0.2)  # the attempts they started before they were seen end
        feed(Story(org(), victim).submitted())
        wait_for(receiver.accepted, timeout=DEADLINE / 2, interval=0.01)


def test_an_organisation_that_waited_for_lookup_threads_others_held_is_not_marked_slow(
    app: Notifications, zone: Zone, receiver: Receiver
) -> None:
    """Organisations whose name servers stopped answering, their lookups holding every lookup thread; another
    organisation's webhook waited for one over half its deadline, then its receiver answered at once. The wait counted
    as its receiver's time: it was marked slow and kept out of the reserve for `SLOW_FOR`, for the others' doing."""
    silent, victim = [org(f"silent{n}") for n in range(MAX_RESOLVING)], org("victim")
    for n, each in enumerate(silent):  # one webhook each: each one's first lookup is admitted, none a second
        subscribe_webhook(app, each, f"https://h{n}.silent.example/hooks")
    subscribe_webhook(app, victim, receiver.url.replace("127.0.0.1", "localhost"))
    feed = Feed(app)
    with delivering(app, zone) as worker:
        zone.silence()
        for each in silent:
            feed(Story(org(), each).submitted())
        wait_for(lambda: zone.waiting == MAX_RESOLVING, timeout=5, interval=0.01)
        wait_for(lambda: all(worker._shares.slow(each) for each in silent), timeout=5, interval=0.01)
        feed(Story(org(), victim).submitted())
        time.sleep(0.7 * DEADLINE)  # its webhook waits for a lookup thread, over half its deadline
        zone.give_up()  # the lookups holding the threads end (unresolved: nothing connects out)
        wait_for(receiver.accepted, timeout=DEADLINE / 2, interval=0.01)
        time.sleep(0.2)  # the rounds reap its task
        assert not worker._shares.slow(victim), "its receiver answered at once: the wait was the others' doing"


def test_a_tenants_lookups_past_their_deadline_hold_only_its_share_of_the_threads(zone: Zone) -> None:
    """Requests made for a tenant resolve within its share: past it they wait for one of its lookups to end, within
    their deadline (`EgressBusyError`, nothing sent); another tenant's names still resolve at once."""
    zone.silence()
    with egress_client(EgressPolicy(allow_loopback=True, resolve=zone), timeout=0.3) as client:
        with for_tenant("org-a"):
            for n in range(MAX_RESOLVING + 2):
                with pytest.raises((httpx.ConnectTimeout, EgressBusyError)):
                    client.post(f"https://h{n}.silent.example/hooks", content=b"{}")
            with pytest.raises(EgressBusyError):
                client.post("https://again.silent.example/hooks", content=b"{}")
        assert zone.waiting == MAX_RESOLVING_PER_TENANT
        with for_tenant("org-b"), pytest.raises(httpx.ConnectError):  # resolved, then refused: nothing listens
            client.post("http://localhost:9/hooks", content=b"{}")


def test_tenants_seen_with_lookups_past_their_deadline_leave_the_reserve_to_the_others(zone: Zone) -> None:
    """Each tenant's lookups past their deadline held only its share, but as many such tenants as threads held them
    all: another tenant's names waited for their name servers (dropped at the deadline: a failed attempt). Once seen,
    those tenants hold only the threads outside the reserve."""
    silent = [f"org-{n}" for n in range(MAX_RESOLVING)]
    with egress_client(EgressPolicy(allow_loopback=True, resolve=zone), timeout=0.3) as client:

        def ask_each() -> None:
            for tenant in silent:
                with for_tenant(tenant), pytest.raises((httpx.ConnectTimeout, EgressBusyError)):
                    client.post(f"https://{tenant}.silent.example/hooks", content=b"{}")

        zone.silence()
        ask_each()  # their first lookups past the deadline: the once they hold every thread, until their name servers
        zone.speak()  # give up (or answer)
        wait_for(lambda: zone.waiting == 0, timeout=5, interval=0.01)
        zone.silence()
        ask_each()
        assert zone.waiting == MAX_RESOLVING - MAX_RESOLVING_RESERVE
        with for_tenant("org-b"), pytest.raises(httpx.ConnectError):  # resolved, then refused: nothing listens
            client.post("http://localhost:9/hooks", content=b"{}")


def test_subscribing_resolves_the_webhooks_host_under_a_deadline(app: Notifications, zone: Zone) -> None:
    """The name was resolved inside the API request with no deadline: a silent name server held the request (and
    one of the API's threads) for as long as the resolver waited. Now: 422 naming `url` past the deadline; an
    organisation whose earlier lookups are all still unanswered gets 503 (try later); the others are not held."""
    zone.silence()
    me = org("silent")
    for n in range(MAX_RESOLVING_PER_TENANT):
        started = time.monotonic()
        with pytest.raises(SubscriptionInvalidError, match=r"did not resolve within 0\.3 s") as refused:
            subscribe_webhook(app, me, f"https://h{n}.silent.example/hooks")
        assert refused.value.field == "url"
        assert time.monotonic() - started < 1.5
    with pytest.raises(SubscriptionLookupBusyError):
        subscribe_webhook(app, me, "https://again.silent.example/hooks")
    assert subscribe_webhook(app, org("other"), "http://localhost/hooks")
    assert zone.most_waiting == MAX_RESOLVING_PER_TENANT


def test_a_retried_creation_is_answered_without_resolving_its_host_again(app: Notifications, zone: Zone) -> None:
    """Review of 2026-12: a creation retried with its Idempotency-Key resolved the host again before the key was
    looked up, so a client that lost the 201 got 422 `url` (or 503) while its subscription existed with a generated
    secret it never received. The key is looked up first; only a new subscription is resolved."""
    me = org("silent")
    request = SubscriptionRequest(me, DeliveryChannel.WEBHOOK, "https://hooks.silent.example/hooks")
    created = app.subscribe(request, "u", "create-1")
    zone.silence()  # the organisation's name server stops answering while its client retries
    for _ in range(MAX_RESOLVING_PER_TENANT + 1):  # more than its share of lookups: none is started
        retried = app.subscribe(request, "u", "create-1")
        assert (retried.subscription.id, retried.created) == (created.subscription.id, False)
        assert retried.generated_secret == created.generated_secret and created.generated_secret is not None
    assert zone.most_waiting == 0, "no lookup"
    with pytest.raises(SubscriptionInvalidError, match="did not resolve") as refused:
        app.subscribe(request, "u", "create-2")
    assert refused.value.field == "url", "a new subscription is resolved"


def test_an_organisations_share_is_less_than_the_delivery_threads() -> None:
    with pytest.raises(ValueError, match="DELIVERY_CONCURRENCY_PER_ORG"):
        NotificationsSettings(delivery_concurrency=4, delivery_concurrency_per_org=4)
    assert NotificationsSettings().delivery_concurrency_per_org < NotificationsSettings().delivery_concurrency


@pytest.mark.parametrize(("concurrency", "reserve"), [(4, 4), (4, 5), (1, 1)])
def test_the_reserve_is_less_than_the_delivery_threads(concurrency: int, reserve: int) -> None:
    with pytest.raises(ValueError, match="DELIVERY_CONCURRENCY_RESERVE must be less than"):
        NotificationsSettings(delivery_concurrency=concurrency, delivery_concurrency_reserve=reserve)


@pytest.mark.parametrize(("concurrency", "share", "reserve"), [(1, 1, 0), (2, 1, 1), (3, 2, 2), (8, 2, 2)])
def test_a_share_or_reserve_not_set_follows_the_delivery_threads(concurrency: int, share: int, reserve: int) -> None:
    """A deployment that ran 2 attempts at a time before shares existed refused to start; one attempt at a time keeps
    nothing in reserve (its one thread is everyone's)."""
    settings = NotificationsSettings(delivery_concurrency=concurrency)
    assert (settings.delivery_concurrency_per_org, settings.delivery_concurrency_reserve) == (share, reserve)


def test_a_single_attempt_at_a_time_is_not_shared_beyond_itself() -> None:
    with pytest.raises(ValueError, match="DELIVERY_CONCURRENCY_PER_ORG"):
        NotificationsSettings(delivery_concurrency=1, delivery_concurrency_per_org=2)
