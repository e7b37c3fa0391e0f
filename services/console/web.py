"""What every page shares: the console's state, the signed-in user, their language and gateway, rendering, errors."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.asgi import UnexpectedErrors
from services.console.catalogue import TEXTS
from services.console.forms import FormValueError, problem_message
from services.console.gateway import ApiProblemError, Gateway, ServiceUnavailableError
from services.console.i18n import Translator, as_lang
from services.console.oidc import OidcClient
from services.console.session import (
    LANG_COOKIE,
    SealedCookies,
    Session,
    csrf_ok,
    csrf_token,
    end_session,
    ensure_csrf_cookie,
)
from services.console.settings import ConsoleSettings

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
OPENAPI_TTL_S = 300.0
MAX_FORM_BYTES = 2 * 1024 * 1024
"""The largest request body the console reads (2 MiB), before any page parses it (CSRF check included): an unsigned
request cannot make it hold more. The largest legitimate form is a referral with its record information: 11
categories of at most 20,000 characters, each at most 9 bytes once a browser encodes it (a 3-byte UTF-8 character
as `%XX%XX%XX`), under 2 MB."""


class SignInRequiredError(Exception):
    """No live session: the user is sent to the sign-in page (and back afterwards)."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign-in required")
        self.expired = expired


class CsrfError(Exception):
    """A form without the console's CSRF token (or from another origin)."""


class ForbiddenError(Exception):
    """The user's roles do not open this page."""


class CrossSiteError(Exception):
    """A page whose reading is recorded (the audit trail), asked from another site: a link, image or frame there."""


@dataclass
class Console:
    """What the composition root builds once: settings, cookie sealing, one HTTP pool per service, OIDC."""

    settings: ConsoleSettings
    cookies: SealedCookies
    clients: Mapping[str, httpx.AsyncClient]
    oidc: OidcClient | None
    static_version: str
    offered: tuple[float, frozenset[str] | None] = field(default=(0.0, None))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    async def offered_paths(self) -> frozenset[str] | None:
        """The referral API's paths (from its OpenAPI document, re-read every few minutes); None if unreadable."""
        read_at, paths = self.offered
        if paths is not None and time.monotonic() - read_at < OPENAPI_TTL_S:
            return paths
        try:
            response = await self.clients["referral"].get("/openapi.json")
            response.raise_for_status()
            paths = frozenset(response.json().get("paths", {}))
        except (httpx.HTTPError, ValueError):
            return None
        self.offered = (time.monotonic(), paths)
        return paths


def static_version(directory: Path) -> str:
    """A digest of the static files: their URLs change when they do, so browsers may cache them for a year."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


def get_translator(request: Request, console: ConsoleDep) -> Translator:
    lang = as_lang(request.cookies.get(LANG_COOKIE), console.settings.default_language)
    return Translator(lang, console.zone)


def get_session(request: Request, console: ConsoleDep) -> Session:
    session = console.cookies.session(request)
    if session is None:
        raise SignInRequiredError(expired="__Host-rls-session" in request.cookies)
    request.state.session = session
    return session


T = Annotated[Translator, Depends(get_translator)]
SignedIn = Annotated[Session, Depends(get_session)]


def get_gateway(console: ConsoleDep, session: SignedIn, t: T) -> Gateway:
    return Gateway(console.clients, session.token, t.lang)


Api = Annotated[Gateway, Depends(get_gateway)]


def requires(session: Session, *roles: str) -> None:
    if not session.has_any(*roles):
        raise ForbiddenError


def from_this_console(request: Request) -> None:
    """Refuses a request another site made the browser send (`Sec-Fetch-Site`: cross-site, or same-site: another
    application of the domain). A typed address or a bookmark (`none`) passes, and so does a request without the
    header (an older browser, a script), which a foreign page can no longer make with the session cookie."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        raise CrossSiteError


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token and origin are checked."""
    form = await request.form()
    token = form.get("csrf")
    if not csrf_ok(request, token if isinstance(token, str) else None):
        raise CsrfError
    return form


Form = Annotated[FormData, Depends(checked_form)]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    console = get_console(request)
    t = get_translator(request, console)
    session: Session | None = getattr(request.state, "session", None)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "session": session,
            "csrf": csrf_token(request),
            "static_version": console.static_version,
            "dev_sign_in": console.settings.dev_sign_in,
            "here": current_page(request),
            **context,
        },
        status_code=status,
    )
    ensure_csrf_cookie(request, response)
    if session is not None:
        console.cookies.seal_session(response, session)  # a page opened: the idle timeout starts again
    return response


def current_page(request: Request) -> str:
    """Where the language switch comes back to: this page, or after a form, the page the form was on."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc == request.headers.get("host")
    return local_path(referer.path if same_site else None)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_path(value: str | None, default: str = "/") -> str:
    """Only paths of this console are followed after sign-in (never another site: no open redirect); by default the
    home, `/`: the first page the user's roles open."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def install_error_pages(app: FastAPI) -> None:
    """Every failure becomes a page in the user's language; none is a bare 500 with a trace."""

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(request: Request, error: SignInRequiredError) -> Response:
        target = quote(current_page(request), safe="")  # after a form: its page, not the POST-only action
        response = see_other(f"/connexion?suivant={target}" + ("&expiree=1" if error.expired else ""))
        if error.expired:
            end_session(response)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        key = {404: "error.not_found", 405: "error.method"}.get(error.status_code, "error.request")
        response = _error_page(request, error.status_code, key)
        response.headers.update(error.headers or {})  # 405: Allow
        return response

    @app.exception_handler(ApiProblemError)
    async def _problem(request: Request, problem: ApiProblemError) -> Response:
        if problem.status == 401:
            return await _sign_in(request, SignInRequiredError(expired=True))
        key = {403: "error.forbidden", 404: "error.not_found"}.get(problem.status)
        title = problem_message(get_translator(request, get_console(request)), problem)
        return _error_page(request, problem.status if problem.status < 500 else 502, key, title)

    @app.exception_handler(ServiceUnavailableError)
    async def _unavailable(request: Request, error: ServiceUnavailableError) -> Response:
        return _error_page(request, 503, "error.unavailable", service=error.service)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, error: CsrfError) -> Response:
        return _error_page(request, 403, "error.csrf")

    @app.exception_handler(CrossSiteError)
    async def _cross_site(request: Request, error: CrossSiteError) -> Response:
        return _error_page(request, 403, "error.cross_site", link=current_page(request))

    @app.exception_handler(ForbiddenError)
    async def _forbidden(request: Request, error: ForbiddenError) -> Response:
        return _error_page(request, 403, "error.forbidden")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        t = get_translator(request, get_console(request))
        fields = "; ".join(_query_field(t, e) for e in error.errors())
        return _error_page(request, 422, "error.query", here=request.url.path, fields=fields)  # nor the query

    @app.exception_handler(FormValueError)
    async def _form_value(request: Request, error: FormValueError) -> Response:
        return _error_page(request, 422, "error.form_value", field=error.field)

    app.add_middleware(UnexpectedErrors, respond=lambda request: _error_page(request, 500, "error.internal"))


def too_large_page(request: Request) -> Response:
    """A body larger than `MAX_FORM_BYTES`, refused before it is read: a 413 page in the user's language."""
    return _error_page(request, 413, "error.too_large")


def _query_field(t: Translator, error: Mapping[str, Any]) -> str:
    """A refused parameter by its name, with the catalogue's message for the rule it broke when there is one (the
    same as a form field's): never its value, which may be personal."""
    name = str(error["loc"][-1])
    key = f"invalid.{error['type']}"
    return t.t("error.query_field", field=name, message=t.t(key)) if key in TEXTS else name


def _error_page(
    request: Request,
    status: int,
    key: str | None,
    title: str = "",
    link: str | None = None,
    here: str | None = None,
    **values: Any,
) -> Response:
    """The error page: its message, `link` (a page of this console) to follow when the user means to, and `here`
    for the language switch when it is not this page."""
    t = get_translator(request, get_console(request))
    message = t.t(key, **values) if key else t.t("error.api", title=title)
    return render(request, "error.html", status, message=message, link=link, here=here or current_page(request))
