"""Composition root of the console: settings, one HTTP pool per service, sign-in, pages, static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

from services.common.asgi import HttpMiddleware
from services.common.composition import Service
from services.common.strict_json import BoundedBody
from services.common.telemetry import NATIVE_TELEMETRY, observe
from services.console.oidc import OidcClient
from services.console.pages import agreements, audit, referrals, signin, submit
from services.console.revocations import Revocations
from services.console.session import SealedCookies
from services.console.settings import API_SERVICES, ConsoleSettings
from services.console.web import (
    HERE,
    MAX_FORM_BYTES,
    Console,
    install_error_pages,
    static_version,
    too_large_page,
)

STATIC = HERE / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
"""No inline script or style anywhere; the only frame is the console's own report page."""


def build_console(settings: ConsoleSettings) -> Console:
    timeout = httpx.Timeout(settings.api_timeout_s)
    clients = {
        name: httpx.AsyncClient(base_url=settings.api_url(name), timeout=timeout, follow_redirects=False)
        for name in API_SERVICES
    }
    oidc = None
    if settings.oidc_issuer and settings.oidc_client_id:
        oidc = OidcClient(settings, httpx.AsyncClient(timeout=timeout))
    revocations = Revocations(settings.session_store_url)
    cookies = SealedCookies(settings.session_key_bytes(), settings.session_idle_minutes * 60, revocations)
    return Console(settings, cookies, clients, oidc, static_version(STATIC))


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware around every page, the error pages (500 included) and static files: pages are never cached
    (they show referrals and record information) nor framed by another site; versioned static files are cached."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope["path"].startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if static:
                    headers["Cache-Control"] = "public, max-age=31536000, immutable"
                else:
                    headers["Cache-Control"] = "no-store"
                    headers.setdefault("Content-Security-Policy", CSP)
                headers["X-Content-Type-Options"] = "nosniff"
                # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the console's own forms
                headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, sending)


def build_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    # httpx logs every request's full URL at INFO: queries may name a person (`subject_id=`); keep them out of logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
    console = build_console(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for client in console.clients.values():
            await client.aclose()
        console.cookies.revocations.close()

    app = FastAPI(
        title="RLS Referrals — console",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NATIVE_TELEMETRY,
    )
    app.state.settings = settings
    app.state.console = console
    # compressed static files only: pages carry a CSRF token beside what users typed (BREACH)
    app.mount("/static", GZipMiddleware(StaticFiles(directory=STATIC), minimum_size=500), name="static")
    for module in (signin, submit, referrals, agreements, audit):  # submit's /demandes/nouvelle before /{id}
        app.include_router(module.router)
    install_error_pages(app)
    # before any page reads a form (the CSRF check included): an unsigned request cannot make it hold more
    app.add_middleware(BoundedBody, limit=MAX_FORM_BYTES, too_large=too_large_page)
    app.add_middleware(SecurityHeaders)  # after the error pages: outside the one that draws the 500 page

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready when the services it calls answer their own health check."""
        down = []
        for name, client in console.clients.items():
            try:
                (await client.get("/healthz", timeout=2)).raise_for_status()
            except httpx.HTTPError:
                down.append(name)
        return JSONResponse({"status": "down" if down else "ready", "down": down}, status_code=503 if down else 200)

    observe(app, "console")
    return app


SERVICE: Service[ConsoleSettings, None] = Service(name="console", settings=ConsoleSettings, app=build_app)
"""The console in the registry: settings and an ASGI app only (it holds no data, only revoked sessions' ids: no
event store, relay or consumers)."""
