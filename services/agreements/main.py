"""Composition root of the agreements service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from services.agreements.api import DOMAIN_ERRORS, router
from services.agreements.application import Agreements
from services.agreements.consumers import referral_events_consumer
from services.agreements.contracts import AgreementsContracts
from services.agreements.scheduler import scheduler_loop
from services.agreements.settings import AgreementsSettings
from services.common.clock import Clock, system_clock
from services.common.kafka import KafkaPublisher
from services.common.relay import OutboxRelay
from services.common.service import Loop, ServiceParts, application_env, create_service_app

DESCRIPTION = (
    "Directory of organisations; service agreements (LSSSS art. 108) and collaboration agreements; coverage of "
    "referrals; use of annual volumes. Agreement dates are calendar dates in America/Montreal (configurable): the "
    "term starts at `start` 00:00 and includes `end`. `version` is the version of the terms; `revision` (the ETag) "
    "counts every change and is what `If-Match` compares."
)


def build_relay(agreements: Agreements, publisher: KafkaPublisher, settings: AgreementsSettings) -> OutboxRelay:
    """Follows the notification log (the outbox) and publishes on `rls.agreements.v1`."""
    return OutboxRelay(
        agreements,
        AgreementsContracts(lambda aggregate_id, version: agreements.repository.get(aggregate_id, version=version)),
        publisher,
        name="agreements-relay",
        batch_size=settings.relay_batch_size,
        gap_timeout=settings.relay_gap_timeout_s,
    )


def build_app(settings: AgreementsSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or AgreementsSettings()
    agreements = Agreements(env=application_env(settings), clock=clock, zone=settings.timezone)
    publisher = KafkaPublisher(settings.kafka_access, "agreements")
    loops: dict[str, Loop] = {}
    closers: list[Callable[[], Any]] = [publisher.close]
    if settings.relay_enabled:
        loops["agreements-relay"] = build_relay(agreements, publisher, settings).run
    if settings.consumers_enabled:
        loops["referral-events"] = referral_events_consumer(settings, agreements, publisher).run
    if settings.scheduler_enabled:
        loops["agreements-scheduler"] = scheduler_loop(agreements, settings.tick_interval_s)
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — agreements service",
            settings=settings,
            application=agreements,
            routers=[router],
            domain_errors=DOMAIN_ERRORS,
            loops=loops,
            closers=closers,
            description=DESCRIPTION,
        )
    )
