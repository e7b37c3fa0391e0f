"""Composition root of the consent service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.clock import Clock, system_clock
from services.common.kafka import KafkaPublisher
from services.common.relay import OutboxRelay
from services.common.service import Loop, ServiceParts, application_env, create_service_app
from services.consent.api import DOMAIN_ERRORS, router
from services.consent.application import Consents
from services.consent.consumers import agreements_consumer
from services.consent.contracts import consent_messages
from services.consent.settings import ConsentSettings


def build_app(settings: ConsentSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or ConsentSettings()
    consents = Consents(
        env=application_env(settings), clock=clock, regime_setting=settings.regime, legal=settings.legal
    )
    publisher = KafkaPublisher(settings.kafka_access, "consent")
    loops: dict[str, Loop] = {}
    if settings.consumers_enabled:
        loops["agreements-events"] = agreements_consumer(settings, consents, publisher).run
    if settings.relay_enabled:
        relay = OutboxRelay(
            consents,
            consent_messages,
            publisher,
            name="consent-relay",
            batch_size=settings.relay_batch_size,
            gap_timeout=settings.relay_gap_timeout_s,
        )
        loops["consent-relay"] = relay.run
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — consent service",
            description="Consents, disclosure decisions (LSSSS arts. 17-27.3 or LRSSS), the disclosure register.",
            settings=settings,
            application=consents,
            routers=[router],
            domain_errors=DOMAIN_ERRORS,
            loops=loops,
            closers=[publisher.close],
        )
    )
