"""Composition root of the notifications service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.kafka import KafkaPublisher
from services.common.relay import OutboxRelay
from services.common.service import Loop, ServiceParts, application_env, create_service_app
from services.notifications.application import Notifications
from services.notifications.consumers import referral_events_consumer
from services.notifications.contracts import dispatch_messages
from services.notifications.settings import NotificationsSettings


def build_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    notifications = Notifications(env=application_env(settings))
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "notifications")
    loops: dict[str, Loop] = {}
    if settings.consumers_enabled:
        loops["referral-events"] = referral_events_consumer(settings, notifications, publisher).run
    if settings.relay_enabled:
        relay = OutboxRelay(
            notifications,
            dispatch_messages,
            publisher,
            batch_size=settings.relay_batch_size,
            gap_timeout=settings.relay_gap_timeout_s,
        )
        loops["dispatch-relay"] = relay.run
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — notifications service",
            settings=settings,
            application=notifications,
            routers=[],
            domain_errors={},
            loops=loops,
            closers=[publisher.close],
        )
    )
