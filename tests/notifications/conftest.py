"""Fixtures of the notifications tests: synthetic referral events of the contract's types, an independent Standard
Webhooks verifier, applications on both event stores; the fakes (a real HTTP receiver, resolvers, a publisher) are in
`tests/notifications/fakes.py`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.common.auth import DEV_ISSUER, TokenVerifier, load_dev_key
from services.common.clock import Clock, ManualClock
from services.common.egress import EgressPolicy, egress_client
from services.common.envelope import CloudEvent
from services.common.eventstore import persistence_env
from services.contract.referral_events import ReferralChangedV1, ReferralDelayV1, ReferralSubmittedV1
from services.notifications import inbound
from services.notifications.application import Notifications, SubscriptionRequest
from services.notifications.domain import DeliveryChannel, Filters, RetryPolicy
from services.notifications.loops import DeliveryWorker
from services.notifications.main import build_app
from services.notifications.outbound import TopicTransport, WebhookTransport
from services.notifications.settings import NotificationsSettings
from tests.notifications.fakes import Receiver, RecordingPublisher, example_dns, no_dns

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PRODUCTION = {
    "mode": "production",
    "jwks_url": "https://idp.invalid/.well-known/jwks.json",
    "jwt_issuer": "https://idp.invalid",
    "cipher_key": AESCipher.create_key(16),
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "svc-notifications",
    "kafka_sasl_password": "unused: no Kafka loop runs in these tests",
}
"""Settings overrides that satisfy production mode (tests swap the verifier to keep dev tokens)."""
FAST_RETRY = RetryPolicy(
    initial=timedelta(milliseconds=50), max_interval=timedelta(milliseconds=200), window=timedelta(hours=24)
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification written from the contract, independently of the service's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (part.partition(",") for part in headers["webhook-signature"].split(" "))
    )


# --- synthetic referral events (payloads validated by the contract models) --------------------------------


@dataclass
class Story:
    """One referral's events as the referral service would publish them on `rls.referral.v1`."""

    from_org: str
    to_org: str
    urgency: str = "URGENT"
    from_service: str = "AAOR"
    to_service: str = "CRISIS_24_7"
    referral_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "SUBMITTED"
    version: int = 1
    at: datetime = START

    def _common(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id,
            "subject_id": "usager-" + self.referral_id[:8],
            "from_org": self.from_org,
            "from_service": self.from_service,
            "to_org": self.to_org,
            "to_service": self.to_service,
            "channel": "PHONE",
            "urgency": self.urgency,
            "status": self.status,
            "occurred_at": self.at,
            "information_url": f"https://referral.example/v1/referrals/{self.referral_id}/information",
        }

    def _event(self, name: str, data: dict[str, Any]) -> CloudEvent:
        self.at += timedelta(minutes=1)
        return CloudEvent(
            id=str(uuid.uuid4()),
            source="/rls/referral",
            type=f"ca.qc.rls.referral.{name}.v1",
            time=self.at,
            subject=self.referral_id,
            data=data,
        )

    def submitted(self) -> CloudEvent:
        data = ReferralSubmittedV1(**self._common(), accompaniment="NONE").model_dump(mode="json", exclude_none=True)
        return self._event("submitted", data)

    def changed(self, name: str, status: str, **extra: Any) -> CloudEvent:
        previous, self.status, self.version = self.status, status, self.version + 1
        data = ReferralChangedV1(
            **self._common(), previous_status=previous, version=self.version, actor_org=self.to_org, **extra
        ).model_dump(mode="json", exclude_none=True)
        return self._event(name, data)

    def redirected(self, new_org: str, new_service: str = "COMMUNITY_SERVICE") -> CloudEvent:
        old_org, old_service = self.to_org, self.to_service
        self.to_org, self.to_service = new_org, new_service
        return self.changed(
            "redirected", "REDIRECTED", redirected_from_org=old_org, redirected_from_service=old_service
        )

    def delay(
        self,
        kind: str,
        responsible_org: str | None = None,
        responsible_service: str | None = None,
        started_at: datetime = START,
    ) -> CloudEvent:
        """`responsible_service` None: as published before the field was added (absent)."""
        data = ReferralDelayV1(
            **self._common(),
            standard="URGENT_HANDLING",
            bound_s=86400,
            started_at=started_at,
            due_at=started_at + timedelta(days=1),
            clock_state="AT_RISK" if kind == "at-risk" else "BREACHED",
            responsible_org=responsible_org or self.to_org,
            responsible_service=responsible_service,
        ).model_dump(mode="json", exclude_none=True)
        return self._event(f"delay-{kind}", data)

    def lifecycle(self) -> list[CloudEvent]:
        """Submitted, received, accepted, first contact: four events in order."""
        return [
            self.submitted(),
            self.changed("received", "RECEIVED"),
            self.changed("accepted", "ACCEPTED"),
            self.changed("first-contact-made", "FIRST_CONTACT_MADE"),
        ]


def org(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- applications --------------------------------------------------------------------------------------------


class Feed:
    """Hands events to the application as the consumer would (each with its own tracking position)."""

    def __init__(self, app: Notifications, partition: int = 0) -> None:
        self.app = app
        self.handle = inbound.handler(app)
        self.partition = partition
        self.offset = 0

    def __call__(self, *events: CloudEvent) -> None:
        for event in events:
            self.offset += 1
            self.handle(event, Tracking(f"rls.referral.v1#{self.partition}", self.offset))


def open_app(store_url: str, clock: Clock | None = None, retry: RetryPolicy = FAST_RETRY) -> Notifications:
    return Notifications(
        env=persistence_env(store_url), clock=clock or ManualClock(START), retry=retry, resolve=example_dns
    )


def subscribe_webhook(
    app: Notifications, org_id: str, url: str, filters: Filters | None = None, secret: str = SECRET
) -> uuid.UUID:
    request = SubscriptionRequest(org_id, DeliveryChannel.WEBHOOK, url, secret, filters or Filters())
    return app.subscribe(request, "test").subscription.id


def subscribe_topic(app: Notifications, org_id: str, filters: Filters | None = None) -> uuid.UUID:
    request = SubscriptionRequest(org_id, DeliveryChannel.KAFKA_TOPIC, filters=filters or Filters())
    return app.subscribe(request, "test").subscription.id


@pytest.fixture
def make_worker() -> Iterator[Callable[..., DeliveryWorker]]:
    """`make_worker(app, publisher=None)` → the service's delivery worker (real httpx client), closed after the test."""
    made: list[tuple[DeliveryWorker, httpx.Client]] = []

    def make(app: Notifications, publisher: Any | None = None) -> DeliveryWorker:
        client = egress_client(EgressPolicy(allow_loopback=True, resolve=no_dns), timeout=2.0)
        transports = WebhookTransport(client, app.clock), TopicTransport(publisher or RecordingPublisher())
        worker = DeliveryWorker(app, *transports, poll_interval=0.01)
        made.append((worker, client))
        return worker

    yield make
    for worker, client in made:
        worker.close()
        client.close()


@pytest.fixture
def make_client(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], dev_key_file: Path
) -> Callable[..., TestClient]:
    """`make_client(**settings)` → a TestClient of the service (no Kafka loops); production mode keeps dev tokens
    verifiable by swapping the verifier the routes depend on."""

    def make(**overrides: Any) -> TestClient:
        app = build_app(service_settings(NotificationsSettings, **overrides), resolve=example_dns)
        if overrides.get("mode") == "production":
            app.state.verifier = TokenVerifier("rls", DEV_ISSUER, dev_key=load_dev_key(dev_key_file))
        return client_for(app)

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def application(client: TestClient) -> Notifications:
    app: Notifications = client.app.state.application  # type: ignore[attr-defined]
    return app
