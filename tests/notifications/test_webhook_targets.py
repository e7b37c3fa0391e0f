"""Webhooks cannot be aimed inside the network (SSRF): targets are checked at subscription and again at every
connection after DNS resolution (DNS rebinding), redirects are not followed, proxies from the environment are not used.

Every socket here is on 127.0.0.1; names go through fake resolvers."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.auth import DEV_ISSUER, TokenVerifier, load_dev_key
from services.common.clock import ManualClock, system_clock
from services.common.egress import MAX_RESOLVING, EgressPolicy, EgressRefusedError, egress_client
from services.common.eventstore import persistence_env
from services.notifications.application import Notifications
from services.notifications.domain import DeliveryChannel, DeliveryStatus, RetryPolicy, Subscription
from services.notifications.loops import DeliveryWorker
from services.notifications.main import build_app
from services.notifications.outbound import TopicTransport, WebhookTransport
from services.notifications.settings import NotificationsSettings
from tests.notifications.conftest import PRODUCTION, SECRET, START, Feed, Story, open_app, org, subscribe_webhook
from tests.notifications.fakes import Receiver, RecordingPublisher

PUBLIC = "93.184.215.14"


class Listener:
    """A TCP port on a loopback address that counts the connections made to it (and answers nothing)."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self._socket = socket.socket()
        self._socket.bind((address, 0))
        self._socket.listen()
        self.port: int = self._socket.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    port = Listener()
    yield port
    port.close()


class Rebinding:
    """A DNS answer that changes: public when the subscription is checked, loopback when the worker connects."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, host: str, port: int) -> list[str]:
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [answer]


def deliver_once(app: Notifications) -> None:
    client = egress_client(app.egress, timeout=2.0)
    worker = DeliveryWorker(app, WebhookTransport(client, app.clock), TopicTransport(RecordingPublisher()))
    try:
        worker.run_once()
    finally:
        worker.close()
        client.close()


def only_delivery(app: Notifications, org_id: str, subscription: Any) -> Any:
    [delivery] = app.list_deliveries(org_id, subscription)
    return delivery


def test_a_name_that_rebinds_to_loopback_after_subscription_is_refused_at_delivery(
    tmp_path: Path, listener: Listener
) -> None:
    dns = Rebinding(PUBLIC, "127.0.0.1")
    env = persistence_env(f"sqlite:///{tmp_path / 'n.db'}")
    with Notifications(env=env, clock=system_clock, allow_loopback_http=False, resolve=dns) as app:
        receiving = org("crise")
        hook = subscribe_webhook(app, receiving, f"https://rebind.example:{listener.port}/rls")
        Feed(app)(Story(org("csss"), receiving).submitted())
        deliver_once(app)
        delivery = only_delivery(app, receiving, hook)
    assert dns.asked == 2, "resolved at subscription and again when connecting"
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error == "refused: the host is or resolves to a loopback address"
    assert listener.connections == 0, "not a single packet went to the rebound address"


@pytest.mark.parametrize(
    ("url", "error"),
    [("https://partner.example/hooks?\t", "InvalidURL"), ("https://xn--a.example/hooks", "InvalidCodepoint")],
)
def test_a_stored_url_the_client_cannot_send_to_fails_its_attempts_then_is_dead_lettered(
    tmp_path: Path, url: str, error: str
) -> None:
    """Subscriptions stored before such URLs were refused: the client raises no HTTPError for them."""
    clock = ManualClock(START)
    retry = RetryPolicy(window=timedelta(hours=1))
    with open_app(f"sqlite:///{tmp_path / 'n.db'}", clock, retry) as app:
        receiving = org("crise")
        subscription = Subscription(
            id=uuid.uuid4(),
            org_id=receiving,
            channel=DeliveryChannel.WEBHOOK.value,
            url=url,
            secret=SECRET,
            filters={},
            created_at=START,
            created_by="test",
            request_digest="-",
        )
        app.record(subscription)
        Feed(app)(Story(org("csss"), receiving).submitted())
        deliver_once(app)
        failed = only_delivery(app, receiving, subscription.id)
        clock.advance(timedelta(hours=2))
        deliver_once(app)
        dead = only_delivery(app, receiving, subscription.id)
    assert (failed.status, failed.attempts, failed.last_error) == (DeliveryStatus.FAILED, 1, error)
    assert (dead.status, dead.attempts) == (DeliveryStatus.DEAD_LETTERED, 2)


def test_redirects_are_not_followed(tmp_path: Path, receiver: Receiver) -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", receiver.url)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    redirecting = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=redirecting.serve_forever, daemon=True).start()
    try:
        env = persistence_env(f"sqlite:///{tmp_path / 'n.db'}")
        with Notifications(env=env, clock=system_clock) as app:
            receiving = org("crise")
            hook = subscribe_webhook(app, receiving, f"http://127.0.0.1:{redirecting.server_address[1]}/rls")
            Feed(app)(Story(org("csss"), receiving).submitted())
            deliver_once(app)
            delivery = only_delivery(app, receiving, hook)
    finally:
        redirecting.shutdown()
        redirecting.server_close()
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "HTTP 307")
    assert receiver.requests == []


def test_proxy_variables_of_the_environment_are_ignored(
    tmp_path: Path, receiver: Receiver, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{listener.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    env = persistence_env(f"sqlite:///{tmp_path / 'n.db'}")
    with Notifications(env=env, clock=system_clock) as app:
        receiving = org("crise")
        hook = subscribe_webhook(app, receiving, receiver.url)
        Feed(app)(Story(org("csss"), receiving).submitted())
        deliver_once(app)
        assert only_delivery(app, receiving, hook).status is DeliveryStatus.DELIVERED
    assert listener.connections == 0 and len(receiver.requests) == 1


def test_the_client_itself_refuses_what_the_policy_refuses(listener: Listener) -> None:
    app_policy = Notifications(allow_loopback_http=False, resolve=lambda host, port: ["127.0.0.1"]).egress
    with egress_client(app_policy, timeout=2.0) as client:
        for url in (
            f"https://127.0.0.1:{listener.port}/",
            f"https://2130706433:{listener.port}/",
            f"https://internal.example:{listener.port}/",
            f"http://127.0.0.1:{listener.port}/",
        ):
            with pytest.raises(EgressRefusedError):
                client.post(url, content=b"{}")
    assert listener.connections == 0


# --- answers: a deadline per attempt, only the status read ----------------------------------------------------


@contextmanager
def answering(respond: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A receiver on 127.0.0.1 answering each POST with `respond(handler)` (raw writes); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            with suppress(OSError):  # the client hung up, as the tests expect
                respond(self)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rls"
    finally:
        server.shutdown()
        server.server_close()


def no_content(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(204)
    handler.end_headers()


def drip(handler: BaseHTTPRequestHandler, data: bytes, every: float = 0.2) -> None:
    for byte in data:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(every)


def attempt_once(tmp_path: Path, url: str) -> tuple[Any, float]:
    """One delivery to `url` by a worker whose client's timeout is 2 s: its entry, and how long the round took."""
    env = persistence_env(f"sqlite:///{tmp_path / 'n.db'}")
    with Notifications(env=env, clock=system_clock) as app:
        receiving = org("crise")
        hook = subscribe_webhook(app, receiving, url)
        Feed(app)(Story(org("csss"), receiving).submitted())
        started = time.monotonic()
        deliver_once(app)
        return only_delivery(app, receiving, hook), time.monotonic() - started


def test_a_receiver_dripping_its_answer_is_cut_at_the_deadline(tmp_path: Path) -> None:
    """httpx's timeout bounds each read: one byte every 0.2 s kept a 2 s timeout waiting for as long as it lasted."""
    with answering(lambda h: drip(h, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")) as url:
        delivery, took = attempt_once(tmp_path, url)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "ReadTimeout")
    assert took < 4, "about the 2 s deadline, not the 8 s the answer lasts"


def test_a_2xx_is_a_delivery_whatever_the_rest_of_the_answer_does(tmp_path: Path) -> None:
    def slow_body(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-length", "40")
        handler.end_headers()
        drip(handler, b"x" * 40)

    with answering(slow_body) as url:
        delivery, took = attempt_once(tmp_path, url)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert took < 4


def test_a_large_answer_is_not_read(tmp_path: Path) -> None:
    total, sent = 256 << 20, [0]

    def large(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(500)
        handler.send_header("content-length", str(total))
        handler.end_headers()
        chunk = b"x" * (1 << 20)
        while sent[0] < total:
            handler.wfile.write(chunk)
            sent[0] += len(chunk)

    with answering(large) as url:
        delivery, _ = attempt_once(tmp_path, url)
        time.sleep(0.2)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "HTTP 500")
    assert sent[0] < total // 4, "the client hung up after the first bytes"


class NameServer:
    """A resolver whose name server answers (127.0.0.1) only once `answer` is set, or after `UNANSWERED` seconds."""

    UNANSWERED = 10.0

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.asked = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        self.answer.wait(self.UNANSWERED)
        return ["127.0.0.1"]


def test_a_name_server_that_does_not_answer_is_cut_at_the_deadline(listener: Listener) -> None:
    """Names were resolved before the deadline was looked at: a silent name server held the attempt for as long as
    `getaddrinfo` waited (up to 10 s here, with a 0.5 s deadline)."""
    name_server = NameServer()
    try:
        with egress_client(EgressPolicy(allow_loopback=True, resolve=name_server), timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(httpx.ConnectTimeout):
                client.post(f"http://localhost:{listener.port}/rls", content=b"{}")
            assert time.monotonic() - started < 1.5
    finally:
        name_server.answer.set()
    assert listener.connections == 0


def test_lookups_past_their_deadline_hold_a_few_threads_then_names_resolve_again() -> None:
    """Each lookup left running past its deadline keeps its thread: they are at most `MAX_RESOLVING`, and the
    lookups queued behind them are dropped, not run once the name server answers."""
    name_server = NameServer()
    policy = EgressPolicy(allow_loopback=True, resolve=name_server)
    with answering(no_content) as url, egress_client(policy, timeout=0.3) as client:
        named = url.replace("127.0.0.1", "localhost")
        try:
            for _ in range(MAX_RESOLVING + 3):
                with pytest.raises(httpx.ConnectTimeout):
                    client.post(named, content=b"{}")
            assert name_server.asked <= MAX_RESOLVING
        finally:
            name_server.answer.set()
        assert client.post(named, content=b"{}").status_code == 204
    assert name_server.asked <= MAX_RESOLVING + 1, "the lookups dropped at their deadline were never run"


def test_a_name_is_connected_to_at_most_three_of_its_addresses() -> None:
    """Each refused address is followed by the next one, each with its own timeout: a name with many addresses would
    hold a request for as many timeouts."""
    reachable = Listener("127.0.0.5")
    refusing = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # nothing listens on the port there
    policy = EgressPolicy(allow_loopback=True, resolve=lambda host, port: [*refusing, "127.0.0.5"])
    try:
        with egress_client(policy, timeout=2.0) as client, pytest.raises(httpx.ConnectError):
            client.post(f"http://localhost:{reachable.port}/rls", content=b"{}")
    finally:
        reachable.close()
    assert reachable.connections == 0


# --- at subscription, through the API (production mode) -------------------------------------------------------


@pytest.fixture
def production_client(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], dev_key_file: Path
) -> TestClient:
    table = {"hooks.partner.example": [PUBLIC], "intranet.example": ["10.20.30.40"], "rebind.example": ["::1"]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise EgressRefusedError("the host does not resolve")
        return table[host]

    app = build_app(service_settings(NotificationsSettings, **PRODUCTION), resolve=resolve)
    app.state.verifier = TokenVerifier("rls", DEV_ISSUER, dev_key=load_dev_key(dev_key_file))
    return client_for(app)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://intranet.example/rls", "private"),
        ("https://rebind.example/rls", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[::ffff:127.0.0.1]/rls", "loopback"),
        ("https://2130706433/rls", "loopback"),
        ("https://0x7f.1/rls", "loopback"),
        ("https://nowhere.example/rls", "does not resolve"),
        ("http://hooks.partner.example/rls", "https"),
        ("http://127.0.0.1:9000/rls", "https"),
    ],
)
def test_production_refuses_non_public_webhook_targets_naming_the_field(
    production_client: TestClient, auth: Callable[..., dict[str, str]], url: str, reason: str
) -> None:
    me = org()
    body = {"org_id": me, "channel": "WEBHOOK", "url": url, "secret": SECRET}
    refused = production_client.post("/v1/subscriptions", json=body, headers=auth(me, "admin"))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == "url" and reason in problem["detail"]
    assert url.split("//")[1].split("/")[0] not in problem["detail"], "the input is not echoed"
    accepted = production_client.post(
        "/v1/subscriptions", json={**body, "url": "https://hooks.partner.example/rls"}, headers=auth(me, "admin")
    )
    assert accepted.status_code == 201, accepted.text


def test_a_webhook_url_and_its_query_stay_out_of_the_logs(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """`rls serve` logs at INFO, and httpx logs each request's full URL there: a partner's token in the query
    (`?token=`, a common way to authenticate webhooks) would be in the service's log at every attempt."""
    caplog.set_level(logging.INFO)
    env = persistence_env(f"sqlite:///{tmp_path / 'n.db'}")
    with Notifications(env=env, clock=system_clock) as app:
        receiving = org("crise")
        subscribe_webhook(app, receiving, receiver.url + "?token=partner-token-123")
        Feed(app)(Story(org("csss"), receiving).submitted())
        deliver_once(app)
    assert len(receiver.requests) == 1
    assert "partner-token-123" not in caplog.text
