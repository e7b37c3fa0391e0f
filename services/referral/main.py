"""Composition root of the referral service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.kafka import KafkaPublisher
from services.common.relay import OutboxRelay
from services.common.service import ServiceParts, application_env, create_service_app
from services.referral.api import DOMAIN_ERRORS, router
from services.referral.application import Referrals
from services.referral.contracts import ReferralContracts
from services.referral.settings import ReferralSettings


def build_relay(settings: ReferralSettings, referrals: Referrals) -> tuple[OutboxRelay, KafkaPublisher]:
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "referral-relay")
    relay = OutboxRelay(
        referrals,
        ReferralContracts(settings.public_url),
        publisher,
        batch_size=settings.relay_batch_size,
        gap_timeout=settings.relay_gap_timeout_s,
    )
    return relay, publisher


def build_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()
    referrals = Referrals(env=application_env(settings))
    loops = {}
    closers = []
    if settings.relay_enabled:
        relay, publisher = build_relay(settings, referrals)
        loops["referral-relay"] = relay.run
        closers.append(publisher.close)
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — referral service",
            settings=settings,
            application=referrals,
            routers=[router],
            domain_errors=DOMAIN_ERRORS,
            loops=loops,
            closers=closers,
        )
    )
