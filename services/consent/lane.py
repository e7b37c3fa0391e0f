"""The decision lane: `POST /v1/decisions` and `POST /v1/disclosures` answered without FastAPI's per-request
machinery (routing through nested routers, dependency resolution, re-validation of the response).

Profiled at 200 decisions/s, two thirds of the interpreter's time per decision went to that machinery and one third to
deciding. The lane answers only the plain case: a JSON body the model validates, a bearer token the verifier accepts,
a caller the policy admits, a decision that raises nothing. Anything else (no token or a refused one, an invalid
body, a refusal, a platform service disclosing for a worker, a domain error) goes on to the routes of `api.py` with
the body already read, and they answer it as they always did; a domain error is raised there again, as it is raised
before anything is recorded. So the API keeps one definition (the routes: their OpenAPI, their errors) and the lane is
a shortcut to the same decisions, giving the same answer bytes.

On a store read in process (SQLite) the lane decides on the event loop itself (`Consents.decide_async`): a hop to the
thread pool cost 0.2 ms of CPU a request on this machine, more than the engine. Only the write leaves the loop: the
group commit's thread writes whatever decisions queued meanwhile in one transaction, and each request is answered once
its decision is committed. On PostgreSQL a decision's reads are network round trips, which would stall the loop (four
times the latency at 200/s, measured): there the decision runs on the thread pool, as the routes' do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import AuthenticationError, Principal, TokenVerifier
from services.common.strict_json import replay
from services.consent.access import POLICY, on_request
from services.consent.api import DOMAIN_ERRORS, answer_seen, router
from services.consent.api_models import DecisionCreate, DecisionPublic
from services.consent.application import Actor, Consents, DecisionRequest, RecordedDecision
from services.consent.explain import language
from services.consent.settings import ConsentSettings

IDEMPOTENCY_KEY_MAX = 200
"""As the routes' `Idempotency-Key` header (`max_length`)."""

Answer = tuple[RecordedDecision, bool]
Call = Callable[[Consents], Callable[[DecisionRequest, Actor, str | None], Answer]]
CallAsync = Callable[[Consents], Callable[[DecisionRequest, Actor, str | None], Awaitable[Answer]]]


@dataclass(frozen=True)
class Operation:
    """A route the lane shortcuts: whether it admits the caller for this body (as its route would, with nothing
    more to check), and the application call."""

    admits: Callable[[Principal, DecisionCreate, dict[bytes, bytes]], bool]
    call: Call
    call_async: CallAsync


def _decider(principal: Principal, body: DecisionCreate, _: dict[bytes, bytes]) -> bool:
    parties = {"discloser": body.discloser_org_id, "recipient": body.recipient_org_id}
    return POLICY.allows("decide", principal, parties)


def _discloser(principal: Principal, body: DecisionCreate, headers: dict[bytes, bytes]) -> bool:
    """A member of the discloser; a disclosure on a worker's behalf (`access.on_request`) takes the route, which
    admits only a platform service to it."""
    if on_request(principal, b"requester-token" in headers):
        return False
    return POLICY.allows("disclose", principal, {"discloser": body.discloser_org_id})


OPERATIONS = {
    "/v1/decisions": Operation(_decider, lambda consents: consents.decide, lambda consents: consents.decide_async),
    "/v1/disclosures": Operation(
        _discloser, lambda consents: consents.disclose, lambda consents: consents.disclose_async
    ),
}
ROUTES = {route.path: route for route in router.routes if isinstance(route, APIRoute) and route.path in OPERATIONS}
RAISED_BEFORE_RECORDING = tuple(DOMAIN_ERRORS)


class DecisionLane:
    """ASGI middleware, innermost (inside telemetry, the body limit and strict JSON): answers the plain decisions
    and disclosures, and hands everything else to `app` as it came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = OPERATIONS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        headers = {} if operation is None else _headers(scope)
        if operation is None or not _is_json(headers):
            await self.app(scope, receive, send)
            return
        scope["route"] = ROUTES[scope["path"]]  # its template labels telemetry, as the router would set it
        messages, body = await _read(receive)
        answer = None if body is None else await self._answer(scope, operation, headers, body)
        if answer is None:
            await self.app(scope, replay(messages, receive), send)
            return
        await _send_json(send, *answer)

    async def _answer(
        self, scope: Scope, operation: Operation, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[bytes, bool] | None:
        """The answer's body and whether it replays an earlier answer; None: the route answers."""
        state = scope["app"].state
        principal = _principal(headers.get(b"authorization"), state.verifier)
        key = headers.get(b"idempotency-key")
        if principal is None or (key is not None and len(key) > IDEMPOTENCY_KEY_MAX):
            return None
        try:
            request = DecisionCreate.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            return None
        if not operation.admits(principal, request, headers):
            return None
        application: Consents = state.application
        actor = Actor(sub=principal.sub, org=principal.org)
        idempotency_key = None if key is None else key.decode("latin-1")
        asked = (request.request(), actor, idempotency_key)
        try:  # in the request's context: its trace is stored with its event
            if application.reads_in_process:  # decided on the loop, the write batched off it
                recorded, fresh = await operation.call_async(application)(*asked)
            else:  # a database over the network: its reads would stall the loop
                recorded, fresh = await run_in_threadpool(operation.call(application), *asked)
        except RAISED_BEFORE_RECORDING:
            return None
        settings: ConsentSettings = state.settings
        accept = headers.get(b"accept-language")
        lang = language(None if accept is None else accept.decode("latin-1"), request.lang, settings.default_language)
        seen = await answer_seen(application, principal, recorded)
        return DecisionPublic.of(seen, lang).model_dump_json(by_alias=True).encode(), not fresh


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The first value of each header (what a route's `Header` parameter reads)."""
    first: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        first.setdefault(name, value)
    return first


def _is_json(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower() == b"application/json"


def _principal(authorization: bytes | None, verifier: TokenVerifier) -> Principal | None:
    """The caller of an `Authorization: Bearer` header (as `HTTPBearer` reads it) the verifier accepts."""
    scheme, _, token = (authorization or b"").decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return verifier.verify(token.strip())
    except AuthenticationError:
        return None


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages and its whole body (None: the client went away first)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


async def _send_json(send: Send, content: bytes, replayed: bool) -> None:
    headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})
