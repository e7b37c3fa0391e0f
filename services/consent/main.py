"""Composition root of the consent service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.service import ServiceParts, application_env, create_service_app
from services.consent.application import Consents
from services.consent.settings import ConsentSettings


def build_app(settings: ConsentSettings | None = None) -> FastAPI:
    settings = settings or ConsentSettings()
    return create_service_app(
        ServiceParts(
            title="RLS Referrals — consent service",
            settings=settings,
            application=Consents(env=application_env(settings)),
            routers=[],
            domain_errors={},
            loops={},
        )
    )
