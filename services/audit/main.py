"""Composition root of the audit service."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.audit.api import DOMAIN_ERRORS, router
from services.audit.application import Audit
from services.audit.history import HistoryDB
from services.audit.queries import AuditQueries
from services.audit.recheck import ConsentEvaluator, Evaluator
from services.audit.settings import AuditSettings
from services.common.clock import Clock, system_clock
from services.common.service import ServiceParts, application_env, create_service_app
from services.common.settings import store_cipher

DESCRIPTION = (
    "Read-only views for auditors (role `auditor`: their organisation's history; `network-auditor`: the whole "
    "network): a referral, agreement or consent as it stood at a date, the "
    "integrity of every service's event store, the re-evaluation of recorded consent decisions, compliance reports. "
    "The views read the audit database that `rls audit replay` rebuilds from the Kafka history. Every query is "
    "recorded in the audit trail (`GET /v1/inquiries`)."
)


def build_queries(settings: AuditSettings, clock: Clock = system_clock) -> AuditQueries:
    audit = Audit(env=application_env(settings), clock=clock)
    history = HistoryDB(settings.database_url, store_cipher(settings.store_cipher_key))
    return AuditQueries(settings, audit, history, clock)


def consent_client(settings: AuditSettings, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=settings.consent_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=settings.recheck_timeout_s,
    )


def build_app(settings: AuditSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or AuditSettings()
    queries = build_queries(settings, clock)

    def evaluator_for(token: str) -> Evaluator:
        """Evaluations run with the calling auditor's own token."""
        return ConsentEvaluator(consent_client(settings, token))

    return create_service_app(
        ServiceParts(
            title="RLS Referrals — audit service",
            description=DESCRIPTION,
            settings=settings,
            application=queries.audit,
            routers=[router],
            domain_errors=DOMAIN_ERRORS,
            loops={},
            state={"queries": queries, "evaluator_factory": evaluator_for},
        )
    )
