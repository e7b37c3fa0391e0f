"""RFC 9457 problem details: every error a client sees, with a stable `type` and the offending field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.common.asgi import UnexpectedErrors
from services.common.declared import names_declared_by, shown_location

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:ca.qc.rls:problem:"


@dataclass(frozen=True)
class ProblemSpec:
    """How one kind of domain error looks over HTTP."""

    status: int
    slug: str
    title: str


# One code per meaning across services: these are the meanings more than one service has (each service's own, such
# as `referral-not-found`, are in its api.py). tests/unit/test_problem_codes.py asserts the whole set.
UNAUTHENTICATED = ProblemSpec(401, "unauthenticated", "Authentication required")
"""No valid bearer token (missing, malformed, expired, wrong issuer, audience or key)."""
VALIDATION = ProblemSpec(422, "validation", "Invalid request")
"""The request breaks a rule; the problem names the field (`errors[].field`)."""
FORBIDDEN = ProblemSpec(403, "forbidden", "Forbidden")
"""The caller's roles or organisation do not allow this (on this resource)."""
VERSION_CONFLICT = ProblemSpec(409, "version-conflict", "Version conflict")
"""`If-Match` names another version (ETag) than the resource's current one, or it changed meanwhile."""
TRANSITION_IMPOSSIBLE = ProblemSpec(409, "transition-impossible", "Not possible in this status")
"""The resource's status does not allow this command."""
IDEMPOTENCY_KEY_REUSED = ProblemSpec(409, "idempotency-key-reused", "Idempotency-Key reused")
"""The `Idempotency-Key` was used before with a different request."""
DEPENDENCY_UNAVAILABLE = ProblemSpec(503, "dependency-unavailable", "A service this request needs is down")
"""Another service (or Kafka) did not answer or refused; the request can be retried."""


class ProblemError(Exception):
    """Raised by entry points to answer with a problem document."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra


def problem(spec: ProblemSpec, detail: str | None = None, **extra: Any) -> ProblemError:
    """A problem of a known kind, with this occurrence's detail."""
    return ProblemError(spec.status, spec.slug, spec.title, detail, **extra)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_PREFIX + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    all_headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=all_headers)


_LOCATIONS = ("body", "query", "path", "header", "cookie")
_DECLARED: WeakKeyDictionary[Any, frozenset[str]] = WeakKeyDictionary()


def declared_names(app: Any) -> frozenset[str]:
    """The names `app`'s routes declare: their parameters and the names their types declare (`names_declared_by`).
    Worked out once per app, when first needed."""
    if app is None:  # no app in the scope: nothing is declared
        return frozenset()
    if app not in _DECLARED:
        names: set[str] = set()
        for context in iter_route_contexts(getattr(app, "routes", [])):  # included routers' routes too
            route = context.original_route
            if isinstance(route, APIRoute):
                for param in _params(route.dependant):
                    names.update((param.name, param.alias))
                    names.update(names_declared_by(param.field_info.annotation))
        _DECLARED[app] = frozenset(names)
    return _DECLARED[app]


def _params(dependant: Any) -> Iterator[Any]:
    """Every parameter a route reads, its dependencies' too."""
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    yield from dependant.body_params
    for dependency in dependant.dependencies:
        yield from _params(dependency)


def _field(loc: tuple[Any, ...], kind: str, declared: frozenset[str]) -> str:
    """A validation error's location as a problem's `field` (`shown_location`, without the part of the request)."""
    if len(loc) == 2 and loc[0] == "header":  # as clients write it: If-Match, Idempotency-Key
        return "-".join(part.capitalize() for part in str(loc[1]).split("-"))
    parts = loc[1:] if loc and loc[0] in _LOCATIONS else loc
    return shown_location(parts, kind, declared) or str(loc[0] if loc else "request")


_HTTP_SLUGS = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    415: "unsupported-media-type",
}


def install_problem_handlers(app: FastAPI, domain_errors: Mapping[type[Exception], ProblemSpec]) -> None:
    """Maps validation errors, HTTP errors, ProblemError and the service's domain errors to problem+json, and any
    other exception to a 500 problem logged by its type and route template only (`UnexpectedErrors`)."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        # Messages name the field and the rule; values and undeclared keys are never echoed (they may be personal).
        declared = declared_names(request.app)
        errors = [
            {"field": _field(tuple(e["loc"]), e["type"], declared), "message": e["msg"], "type": e["type"]}
            for e in error.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            VALIDATION.status, VALIDATION.slug, VALIDATION.title, detail, request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = _HTTP_SLUGS.get(error.status_code, "http-error")
        headers = dict(error.headers or {})
        if error.status_code == 405:  # RFC 9110 section 15.5.6: every method of the path, not one route's
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(error.status_code, slug, str(error.detail), instance=request.url.path, headers=headers)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.status, error.slug, error.title, error.detail, request.url.path, **error.extra)

    for error_class, spec in domain_errors.items():
        app.add_exception_handler(error_class, _domain_handler(spec))

    # not an exception handler for Exception: Starlette raises the exception on after such a handler answered, and
    # uvicorn logs it with its message (which may quote what the client sent)
    app.add_middleware(UnexpectedErrors, respond=_internal_error)


def _internal_error(request: Request) -> JSONResponse:
    return problem_response(500, "internal", "Internal error", instance=request.url.path)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route accepts at the request's path."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def _domain_handler(spec: ProblemSpec) -> Any:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        field = getattr(error, "field", None)
        # the same shape as request validation errors (errors[].field), plus `field` at the top for convenience
        extra = (
            {"field": field, "errors": [{"field": field, "message": str(error), "type": spec.slug}]} if field else {}
        )
        return problem_response(spec.status, spec.slug, spec.title, str(error), request.url.path, **extra)

    return handle


def invalid_field(field: str, message: str) -> ProblemError:
    """A 422 naming one field, shaped like request validation errors."""
    return problem(
        VALIDATION, f"{field}: {message}", errors=[{"field": field, "message": message, "type": "value_error"}]
    )
