"""Composition root of the audit service: the same builders as every service (listed in
`services/runtime/registry.py`); nothing is built at import time. The other services' event stores are given to it
(`stores`: the registry passes them), it imports none of those services."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import httpx
from fastapi import FastAPI

from services.audit.api import DOMAIN_ERRORS, router
from services.audit.application import Audit, AuditQueries, CheckpointSource
from services.audit.recheck import ConsentEvaluator, Evaluator
from services.audit.settings import AuditSettings
from services.audit.verification import read_checkpoints
from services.audit.views import HistoryDB
from services.common.clock import Clock, system_clock
from services.common.composition import Service, StoreReader, Workers
from services.common.eventstore import StoreRef
from services.common.service import Api, application_env, checkpoint_workers, create_service_app
from services.common.settings import PlatformSettings, store_cipher

DESCRIPTION = (
    "Read-only views for auditors (role `auditor`: their organisation's history; `network-auditor`: the whole "
    "network): a referral, agreement or consent as it stood at a date, the "
    "integrity of every service's event store (network auditors), the re-evaluation of recorded consent decisions, "
    "compliance reports (network auditors). "
    "The views read the audit database that `rls audit replay` rebuilds from the Kafka history. Every query is "
    "recorded in the audit trail (`GET /v1/inquiries`). The one thing auditors record besides: a network auditor's "
    "acknowledgement of a retired store id (`POST /v1/integrity/acknowledgements`), never deleted."
)

StoreSources = Callable[[PlatformSettings], list[StoreRef]]
"""The other services' event stores, located from the audit's `var/` (`services.runtime.registry.event_stores`)."""


def no_other_stores(_: PlatformSettings) -> list[StoreRef]:
    return []


def build_application(settings: AuditSettings, clock: Clock = system_clock) -> Audit:
    return Audit(env=application_env(settings), clock=clock)


def build_relay(settings: AuditSettings, audit: Audit) -> Workers:
    """The audit trail's store publishes nothing but its integrity checkpoints."""
    return checkpoint_workers(settings, audit)


def own_store(settings: AuditSettings) -> StoreRef:
    return StoreRef("audit", Audit.name, settings.event_store_url, settings.store_cipher_key)


def checkpoint_source(settings: AuditSettings) -> CheckpointSource:
    """The checkpoints on the platform's checkpoint topic."""
    return partial(read_checkpoints, settings.kafka_access, settings.checkpoint_topic, settings.kafka_timeout_s)


def build_queries(
    settings: AuditSettings, clock: Clock = system_clock, stores: StoreSources = no_other_stores
) -> AuditQueries:
    history = HistoryDB(settings.database_url, store_cipher(settings.store_cipher_key))
    every_store = [*stores(settings), own_store(settings)]
    audit = build_application(settings, clock)
    return AuditQueries(settings, audit, history, every_store, checkpoint_source(settings), clock)


def consent_client(settings: AuditSettings, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=settings.consent_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=settings.recheck_timeout_s,
    )


def build_app(
    settings: AuditSettings | None = None, clock: Clock = system_clock, stores: StoreSources = no_other_stores
) -> FastAPI:
    settings = settings or AuditSettings()
    queries = build_queries(settings, clock, stores)

    def evaluator_for(token: str) -> Evaluator:
        """Evaluations run with the calling auditor's own token."""
        return ConsentEvaluator(consent_client(settings, token))

    state = {"queries": queries, "evaluator_factory": evaluator_for}
    api = Api("RLS Referrals — audit service", [router], DOMAIN_ERRORS, DESCRIPTION, state=state)
    return create_service_app(SERVICE, settings, queries.audit, api)


SERVICE: Service[AuditSettings, Audit] = Service(
    "audit", AuditSettings, build_app, build_application, build_relay, store=StoreReader(Audit.name)
)
