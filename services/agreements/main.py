"""Composition root of the agreements service: the same builders as every service (listed in
`services/runtime/registry.py`); nothing is built at import time."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from services.agreements import inbound
from services.agreements.api import DOMAIN_ERRORS, router
from services.agreements.application import Agreements
from services.agreements.loops import scheduler
from services.agreements.outbound import AgreementsOutbound
from services.agreements.settings import AgreementsSettings
from services.common.clock import Clock, system_clock
from services.common.composition import Outbox, Service, StoreReader, Workers
from services.common.service import Api, application_env, create_service_app, outbox_relay, topic_consumer
from services.contract import topics

DESCRIPTION = (
    "Directory of organisations; service agreements (LSSSS art. 108) and collaboration agreements; coverage of "
    "referrals; use of annual volumes. Agreement dates are calendar dates in America/Montreal (configurable): the "
    "term starts at `start` 00:00 and includes `end`. `version` is the version of the terms; `revision` (the ETag) "
    "counts every change and is what `If-Match` compares."
)
RELAY_TRACKING = "agreements-relay"


def build_application(settings: AgreementsSettings, clock: Clock = system_clock) -> Agreements:
    return Agreements(
        env=application_env(settings), clock=clock, zone=settings.timezone, hours_policy=settings.hours_policy()
    )


def outbox(agreements: Agreements) -> AgreementsOutbound:
    """The mapping the relay publishes through on `rls.agreements.v1` (each agreement as it stood at the event)."""
    return AgreementsOutbound(lambda aggregate_id, version: agreements.repository.get(aggregate_id, version=version))


def build_relay(settings: AgreementsSettings, agreements: Agreements) -> Workers:
    return outbox_relay(settings, agreements, outbox(agreements), RELAY_TRACKING, topics.AGREEMENTS)


def build_consumers(settings: AgreementsSettings, agreements: Agreements) -> Workers:
    """Accepted referrals counted against volumes (`rls.referral.v1`)."""
    handler = inbound.handler(agreements)
    group = settings.consumer_group
    return topic_consumer(settings, agreements, "referral-events", group, [topics.REFERRAL], handler, inbound.DECLARED)


def build_loops(settings: AgreementsSettings, agreements: Agreements) -> Workers:
    """The scheduler of due transitions (`scheduler_enabled`)."""
    return scheduler(agreements, settings.tick_interval_s) if settings.scheduler_enabled else Workers()


def open_store(env: Mapping[str, str]) -> Outbox:
    agreements = Agreements(env=env)
    return agreements, outbox(agreements)


STORE = StoreReader(Agreements.name, open_store)


def build_app(settings: AgreementsSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or AgreementsSettings()
    api = Api("RLS Referrals — agreements service", [router], DOMAIN_ERRORS, DESCRIPTION)
    return create_service_app(SERVICE, settings, build_application(settings, clock), api)


SERVICE: Service[AgreementsSettings, Agreements] = Service(
    "agreements", AgreementsSettings, build_app, build_application, build_relay, build_consumers, build_loops, STORE
)
