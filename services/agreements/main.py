"""Composition root of the agreements service."""

from __future__ import annotations

from fastapi import FastAPI

from services.agreements.api import DOMAIN_ERRORS, router
from services.agreements.application import Agreements
from services.agreements.settings import AgreementsSettings
from services.common.service import ServiceParts, application_env, create_service_app


def build_app(settings: AgreementsSettings | None = None) -> FastAPI:
    settings = settings or AgreementsSettings()
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — agreements service",
            settings=settings,
            application=Agreements(env=application_env(settings)),
            routers=[router],
            domain_errors=DOMAIN_ERRORS,
            loops={},
        )
    )
