"""Composition root of the notifications service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from services.common.clock import Clock, system_clock
from services.common.egress import Resolver, egress_client, system_resolver
from services.common.kafka import KafkaPublisher
from services.common.kafka_acls import load_acl_file
from services.common.service import Loop, ServiceParts, application_env, create_service_app
from services.notifications.api import DOMAIN_ERRORS, router
from services.notifications.application import Notifications
from services.notifications.consumers import referral_events_consumer
from services.notifications.credentials import ClientEndpoint, CredentialsIssuer
from services.notifications.credentials_api import CREDENTIALS_ERRORS
from services.notifications.credentials_api import router as credentials_router
from services.notifications.settings import NotificationsSettings
from services.notifications.worker import DeliveryWorker, TopicTransport, WebhookTransport

DESCRIPTION = """Establishments subscribe to the referral events that concern them — on their own Kafka topic
(`rls.org.<org_id>.referrals.v1`) or at a webhook signed in the Standard Webhooks style — and are reminded when a
delay standard is at risk or breached. Every delivery's attempts are recorded (event-sourced); failed ones are
retried with exponential backoff and jitter, then dead-lettered, and can be redelivered."""


def build_worker(
    settings: NotificationsSettings, notifications: Notifications, publisher: KafkaPublisher
) -> tuple[DeliveryWorker, httpx.Client]:
    client = egress_client(notifications.egress, settings.webhook_timeout_s)
    worker = DeliveryWorker(
        notifications,
        WebhookTransport(client, notifications.clock),
        TopicTransport(publisher),
        concurrency=settings.delivery_concurrency,
        poll_interval=settings.delivery_poll_interval_s,
    )
    return worker, client


def build_issuer(settings: NotificationsSettings) -> CredentialsIssuer:
    """Establishments' Kafka credentials: the issuer principal, the template, what clients are told."""
    ca_file = settings.kafka_access.ca_file
    endpoint = ClientEndpoint(
        settings.kafka_client_bootstrap or settings.kafka_access.bootstrap,
        ca_file.read_text() if ca_file is not None else None,
    )
    return CredentialsIssuer(settings.kafka_issuer, load_acl_file(settings.kafka_acl_file), endpoint)


def build_app(
    settings: NotificationsSettings | None = None, clock: Clock = system_clock, resolve: Resolver = system_resolver
) -> FastAPI:
    settings = settings or NotificationsSettings()
    notifications = Notifications(
        env=application_env(settings),
        clock=clock,
        retry=settings.retry_policy(),
        allow_loopback_http=settings.mode == "dev",
        resolve=resolve,
    )
    publisher = KafkaPublisher(settings.kafka_access, "notifications")
    loops: dict[str, Loop] = {}
    closers: list[Callable[[], Any]] = []
    if settings.consumers_enabled:
        loops["referral-events"] = referral_events_consumer(settings, notifications, publisher).run
    if settings.relay_enabled:
        worker, client = build_worker(settings, notifications, publisher)
        loops["deliveries"] = worker.run
        closers += [worker.close, client.close]
    closers.append(publisher.close)
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — notifications service",
            settings=settings,
            application=notifications,
            routers=[router, credentials_router],
            domain_errors={**DOMAIN_ERRORS, **CREDENTIALS_ERRORS},
            loops=loops,
            closers=closers,
            state={"credentials_issuer": build_issuer(settings)},
            description=DESCRIPTION,
        )
    )
