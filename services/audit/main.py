"""Composition root of the audit service."""

from __future__ import annotations

from fastapi import FastAPI

from services.audit.application import Audit
from services.audit.settings import AuditSettings
from services.common.service import ServiceParts, application_env, create_service_app


def build_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — audit service",
            settings=settings,
            application=Audit(env=application_env(settings)),
            routers=[],
            domain_errors={},
            loops={},
        )
    )
