"""Request bodies, before any route reads them: one larger than `MAX_BODY_BYTES` is refused (413) before it is held
in memory; in a JSON body, a duplicated key, a non-finite number, nesting deeper than the parser goes or text that is
not UTF-8 is refused (422).

Python's `json` keeps the last of two equal keys; a gateway or a partner's parser may keep the first, and then the
service acts on another request than the one that was checked upstream. RFC 8259 leaves duplicates undefined, so
the only safe answer is to refuse them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.asgi import HttpMiddleware
from services.common.declared import shown_key
from services.common.problems import VALIDATION, ProblemSpec, declared_names, problem_response

MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body a service reads (4 MiB). The largest legitimate one is a referral with its record
information: 11 categories of at most 20,000 characters, 1.3 MB even with every character escaped (6 bytes)."""
CONTENT_TOO_LARGE = ProblemSpec(413, "content-too-large", "Request body too large")
"""The request body is larger than a service reads (`MAX_BODY_BYTES`)."""


class DuplicateKeyError(ValueError):
    """The same key appears twice in one JSON object."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKeyError(key)
        found[key] = value
    return found


class NonFiniteNumberError(ValueError):
    """`NaN`, `Infinity` or `-Infinity`, which Python's `json` reads as numbers and RFC 8259 (section 6) does not."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not a JSON number")


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumberError(name)


def refusal(body: bytes) -> tuple[str, str, str] | None:
    """Why a JSON body is refused before validation: (field, message, type), or None (malformed documents are left
    to the validator, which names what it expected)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "body", "not UTF-8 text (RFC 8259 section 8.1)", "json_invalid"
    try:  # the bytes, as the routes parse them (a byte order mark skipped)
        json.loads(body, object_pairs_hook=_unique_object, parse_constant=_refuse_constant)
    except DuplicateKeyError as duplicate:
        return duplicate.key, "duplicate key in a JSON object", "duplicate_key"
    except NonFiniteNumberError as number:
        return "body", str(number), "json_invalid"
    except RecursionError:
        return "body", "nested too deeply", "json_invalid"
    except ValueError:
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return False


class BoundedBody(HttpMiddleware):
    """Reads a request body once, before any route does, at most `limit` bytes of it: a larger one is answered by
    `too_large` (by default the problem document `content-too-large`) without being held in memory; the body is
    replayed to the application otherwise. The services (`StrictJSONMiddleware`) and the console's pages use it."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        too_large: Callable[[Request], Response] | None = None,
    ) -> None:
        super().__init__(app)
        self.limit = limit
        self.too_large = too_large

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _declared_length(scope) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:  # sent without a length, or longer than it said
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.read(scope, b"".join(chunks), receive, send)

    async def read(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """Goes on with the whole body (a subclass checks it first)."""
        await self.app(scope, replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.too_large is None:
            response: Response = _too_large(scope.get("path"), self.limit)
        else:
            response = self.too_large(Request(scope))
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


class StrictJSONMiddleware(BoundedBody):
    """Reads a request body once, at most `MAX_BODY_BYTES` of it; refuses a larger one, and in a JSON body duplicate
    keys (naming the key if the API declares it, else `<key>`) and text that is not UTF-8; replays it otherwise."""

    async def read(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        refused = refusal(body) if _is_json(scope) else None
        if refused is not None:
            key, why, kind = refused
            # a duplicated key is named only if the API declares it: else it is the client's text, maybe personal
            field = shown_key(key, declared_names(scope.get("app"))) if kind == "duplicate_key" else key
            response = problem_response(
                VALIDATION.status,
                VALIDATION.slug,
                VALIDATION.title,
                f"{field}: {why}",
                scope.get("path"),
                errors=[{"field": field, "message": why, "type": kind}],
            )
            await response(scope, receive, send)
            return
        await super().read(scope, body, receive, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # a malformed length is the server's to refuse
    return 0


def _too_large(path: str | None, limit: int) -> Response:
    return problem_response(
        CONTENT_TOO_LARGE.status,
        CONTENT_TOO_LARGE.slug,
        CONTENT_TOO_LARGE.title,
        f"body: larger than {limit} bytes",
        path,
        errors=[{"field": "body", "message": f"larger than {limit} bytes", "type": "too_large"}],
    )


def replay(messages: list[Message], then: Receive) -> Receive:
    """Gives the messages already read, then whatever the client sends next (a disconnect)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive
