"""ASGI middleware acting on HTTP requests only: the lifespan (and anything else) passes through untouched."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.telemetry import route_template

log = logging.getLogger(__name__)


class HttpMiddleware(ABC):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    @abstractmethod
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handles one HTTP request (calling `self.app` to go on)."""


class UnexpectedErrors(HttpMiddleware):
    """An exception no handler took becomes `respond`'s 500 response (a problem document, a page), logged by its type
    and route template only. It is not raised again: Starlette's ServerErrorMiddleware would raise it on to uvicorn,
    which logs the traceback with the exception's message, and a message may quote what a user sent (a name, a
    health insurance number). Every process installs this one (services/common/problems.py, the console's pages)."""

    def __init__(self, app: ASGIApp, respond: Callable[[Request], Response]) -> None:
        super().__init__(app)
        self.respond = respond

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        failed: str | None = None
        try:
            await self.app(scope, receive, sending)
        except Exception as error:  # noqa: BLE001 -- the last resort, outside every route and handler
            failed = type(error).__name__
        if failed is None:
            return
        # out of the except block: an error answering does not carry the first one (and its message) along
        log.error("unexpected %s on %s %s", failed, scope["method"], route_template(scope))
        if not started:  # else the client sees the response cut short, which is all that can be done
            await self.respond(Request(scope))(scope, receive, send)
