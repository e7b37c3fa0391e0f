"""Composition root of the referral service."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from fastapi import FastAPI

from services.common.auth import load_dev_key
from services.common.kafka import KafkaPublisher
from services.common.relay import OutboxRelay
from services.common.service import Loop, ServiceParts, application_env, create_service_app
from services.referral.adapters import HttpDirectory, HttpDisclosureGate, ServiceIdentity, TtlCache, pooled_client
from services.referral.api import DOMAIN_ERRORS, router
from services.referral.application import Referrals
from services.referral.contracts import ReferralContracts
from services.referral.domain import Referral
from services.referral.ports import Directory, DisclosureGate
from services.referral.settings import ReferralSettings
from services.referral.vault import Vault


def build_referrals(settings: ReferralSettings) -> Referrals:
    vault = Vault(settings.vault_store_url, settings.vault_master_key())
    return Referrals(env=application_env(settings), policy=settings.policy(), vault=vault)


def build_relay(settings: ReferralSettings, referrals: Referrals) -> tuple[OutboxRelay, KafkaPublisher]:
    def load(referral_id: uuid.UUID, version: int) -> Referral:
        referral: Referral = referrals.repository.get(referral_id, version=version)
        return referral

    publisher = KafkaPublisher(settings.kafka_access, "referral-relay")
    relay = OutboxRelay(
        referrals,
        ReferralContracts(settings.public_url, load),
        publisher,
        batch_size=settings.relay_batch_size,
        gap_timeout=settings.relay_gap_timeout_s,
    )
    return relay, publisher


def clock_loop(referrals: Referrals, interval_s: float) -> Loop:
    """Raises at-risk and breach events as their thresholds pass (and catches up after downtime)."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            referrals.tick()
            stop.wait(interval_s)

    return run


def service_identity(settings: ReferralSettings) -> ServiceIdentity:
    """The token the service discloses with: from `REFERRAL_SERVICE_TOKEN_FILE`, else minted with the dev key."""
    if settings.service_token_file is not None:
        return ServiceIdentity(token_file=settings.service_token_file)
    return ServiceIdentity(dev_key=load_dev_key(settings.signing_key_file), audience=settings.jwt_audience)


def build_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()
    referrals = build_referrals(settings)
    loops: dict[str, Loop] = {}
    closers: list[Callable[[], object]] = []
    if settings.relay_enabled:
        relay, publisher = build_relay(settings, referrals)
        loops["referral-relay"] = relay.run
        closers.append(publisher.close)
    if settings.consumers_enabled:
        loops["referral-clocks"] = clock_loop(referrals, settings.tick_interval_s)

    agreements, consent = pooled_client(settings.agreements_url), pooled_client(settings.consent_url)
    directory_cache = TtlCache(settings.directory_cache_s)
    identity = service_identity(settings)
    closers += [agreements.close, consent.close]

    def gateways(token: str) -> tuple[Directory, DisclosureGate]:
        return HttpDirectory(agreements, token, directory_cache), HttpDisclosureGate(consent, identity, token)

    return create_service_app(
        ServiceParts(
            title="RLS Referrals — referral service",
            settings=settings,
            application=referrals,
            routers=[router],
            domain_errors=DOMAIN_ERRORS,
            loops=loops,
            closers=closers,
            state={"gateways": gateways},
        )
    )
