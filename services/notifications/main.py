"""Composition root of the notifications service: the same builders as every service (listed in
`services/runtime/registry.py`); nothing is built at import time."""

from __future__ import annotations

import base64

from fastapi import FastAPI

from services.common.clock import Clock, system_clock
from services.common.composition import Service, StoreReader, Workers
from services.common.cursors import ListCursors
from services.common.egress import Lookups, Resolver, egress_client, system_resolver
from services.common.kafka import KafkaPublisher
from services.common.kafka_acls import load_acl_file
from services.common.metrics import Reading, tally_reading
from services.common.service import Api, application_env, checkpoint_workers, create_service_app, topic_consumer
from services.contract import topics
from services.notifications import inbound
from services.notifications.api import DOMAIN_ERRORS, router
from services.notifications.application import Notifications
from services.notifications.credentials import ClientEndpoint, CredentialsIssuer
from services.notifications.loops import DeliveryWorker
from services.notifications.outbound import TopicTransport, WebhookTransport
from services.notifications.settings import NotificationsSettings

DESCRIPTION = """Establishments subscribe to the referral events that concern them — on their own Kafka topic
(`rls.org.<org_id>.referrals.v1`) or at a webhook signed in the Standard Webhooks style — and are reminded when a
delay standard is at risk or breached. Every delivery's attempts are recorded (event-sourced); failed ones are
retried with exponential backoff and jitter, then dead-lettered, and can be redelivered."""


def build_application(
    settings: NotificationsSettings, clock: Clock = system_clock, resolve: Resolver = system_resolver
) -> Notifications:
    return Notifications(
        env=application_env(settings),
        clock=clock,
        retry=settings.retry_policy(),
        allow_loopback_http=settings.mode == "dev",
        resolve=resolve,
        lookup_timeout=settings.webhook_lookup_timeout_s,
        lookups=_webhook_lookups(settings),
        subscriptions_per_org=settings.max_subscriptions_per_org,
    )


def _webhook_lookups(settings: NotificationsSettings) -> Lookups:
    """Webhook hosts' name lookups (subscribing, delivering): as many threads as deliveries, shared by organisations
    under the same rule (`delivery_concurrency_per_org`, `delivery_concurrency_reserve`)."""
    return Lookups(
        settings.delivery_concurrency, settings.delivery_concurrency_per_org, settings.delivery_concurrency_reserve
    )


def build_relay(settings: NotificationsSettings, notifications: Notifications) -> Workers:
    """The delivery worker (what this service's store sends out: webhooks and per-organisation topics) and the
    store's integrity checkpoints."""
    publisher = KafkaPublisher(settings.kafka_access, "notifications")
    client = egress_client(notifications.egress, settings.webhook_timeout_s, _webhook_lookups(settings))
    worker = DeliveryWorker(
        notifications,
        WebhookTransport(client, notifications.clock),
        TopicTransport(publisher),
        concurrency=settings.delivery_concurrency,
        per_org=settings.delivery_concurrency_per_org,
        reserve=settings.delivery_concurrency_reserve,
        slow_after=settings.webhook_timeout_s / 2,
        poll_interval=settings.delivery_poll_interval_s,
    )
    delivering = Workers({"deliveries": worker.run}, [worker.close, client.close, publisher.close])
    return delivering + checkpoint_workers(settings, notifications)


def build_consumers(settings: NotificationsSettings, notifications: Notifications) -> Workers:
    """Referral events (`rls.referral.v1`) routed to the subscriptions of the organisations they concern."""
    group, handler = settings.consumer_group, inbound.handler(notifications)
    return topic_consumer(
        settings, notifications, "referral-events", group, [topics.REFERRAL], handler, inbound.DECLARED
    )


def build_metrics(settings: NotificationsSettings, notifications: Notifications) -> list[Reading]:
    """Delivery attempts (webhooks and topics) by outcome, and dead-lettered deliveries (counted from the store,
    `Notifications.tally`); reminders left out of `services`-filtered subscriptions, their clock's service unknown
    (by this process)."""
    unmatched = notifications.reminders_unmatched
    return [
        tally_reading(
            notifications.tally,
            "rls_delivery_outcomes",
            "Delivery attempts by outcome, and dead letters",
            ("outcome", "failure"),
        ),
        Reading(
            "rls_reminders_unmatched",
            "Delay reminders naming no clock service, whose service is not known here either: left out of the "
            "subscriptions filtered on services (by this process)",
            ("type",),
            lambda: [((event_type,), float(n)) for event_type, n in sorted(unmatched.items())],
            "counter",
        ),
    ]


STORE = StoreReader(Notifications.name)


def build_issuer(settings: NotificationsSettings) -> CredentialsIssuer:
    """Establishments' Kafka credentials: the issuer principal, the template, what clients are told."""
    ca_file = settings.kafka_access.ca_file
    endpoint = ClientEndpoint(
        settings.kafka_client_bootstrap or settings.kafka_access.bootstrap,
        ca_file.read_text() if ca_file is not None else None,
    )
    acls = load_acl_file(settings.kafka_acl_file, org_namespace=topics.ORG_NAMESPACE)
    return CredentialsIssuer(settings.kafka_issuer, acls, endpoint)


SUBSCRIPTION_CURSORS = b"rls notifications subscription cursors v1"
"""The label the cursors of `GET /v1/subscriptions` derive their key with (from the store's cipher key)."""
DELIVERY_CURSORS = b"rls notifications delivery cursors v1"
"""The label the cursors of `GET /v1/subscriptions/{id}/deliveries` derive their key with (from the store's cipher
key)."""


def build_cursors(settings: NotificationsSettings, label: bytes) -> ListCursors:
    """A listing's cursors, keyed from the store's cipher key (`NOTIFICATIONS_CIPHER_KEY`): a secret every replica
    already holds (they read one store), required in production; HKDF keeps the keys apart."""
    return ListCursors.derived_from(base64.b64decode(settings.store_cipher_key.get_secret_value()), label)


def build_app(
    settings: NotificationsSettings | None = None, clock: Clock = system_clock, resolve: Resolver = system_resolver
) -> FastAPI:
    settings = settings or NotificationsSettings()
    state = {
        "credentials_issuer": build_issuer(settings),
        "subscription_cursors": build_cursors(settings, SUBSCRIPTION_CURSORS),
        "delivery_cursors": build_cursors(settings, DELIVERY_CURSORS),
    }
    api = Api("RLS Referrals — notifications service", [router], DOMAIN_ERRORS, DESCRIPTION, state=state)
    return create_service_app(SERVICE, settings, build_application(settings, clock, resolve), api)


SERVICE: Service[NotificationsSettings, Notifications] = Service(
    "notifications",
    NotificationsSettings,
    build_app,
    build_application,
    build_relay,
    build_consumers,
    store=STORE,
    metrics=build_metrics,
)
"""Its store is read by auditors (verified), its events are not published history."""
