"""Sign-in (OpenID Connect, or the dev sign-in in dev mode), sign-out and the language switch."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.common.auth import NETWORK_AUDITOR, load_dev_key, mint_dev_token
from services.console.i18n import LANGUAGES
from services.console.oidc import OidcError, Pending
from services.console.session import LANG_COOKIE, SIGNIN_COOKIE, Session, end_session, set_cookie
from services.console.web import ConsoleDep, Form, SignedIn, T, local_path, render, see_other
from services.runtime import demo

router = APIRouter()

ROLE_ORDER = ("intake", "clinician", "coordinator", "auditor", NETWORK_AUDITOR, "admin")
"""The roles a person may hold (`service` is a platform service's, never a person's)."""
SIGNIN_STATE_S = 600


def _page(request: Request, t: T, next_path: str, status: int = 200, error: str | None = None) -> Response:
    console = request.app.state.console
    return render(
        request,
        "signin.html",
        status=status,
        next_path=next_path,
        error=error,
        oidc=console.oidc is not None,
        organisations=demo.ORGANISATIONS,
        roles=ROLE_ORDER,
    )


@router.get("/connexion")
def sign_in_page(
    request: Request,
    t: T,
    suivant: Annotated[str | None, Query()] = None,
    expiree: Annotated[str | None, Query()] = None,
) -> Response:
    """The sign-in page."""
    return _page(request, t, local_path(suivant), error=t.t("signin.expired") if expiree else None)


@router.post("/connexion/dev")
async def dev_sign_in(request: Request, console: ConsoleDep, t: T, form: Form) -> Response:
    """Dev mode only: a demo organisation and roles; the token is minted with the platform's dev key."""
    settings = console.settings
    next_path = local_path(str(form.get("suivant", "")))
    if not settings.dev_sign_in:
        return _page(request, t, next_path, 404)
    org = str(form.get("org", ""))
    roles = [r for r in form.getlist("roles") if isinstance(r, str) and r in ROLE_ORDER]
    if org not in {o["id"] for o in demo.ORGANISATIONS}:
        return _page(request, t, next_path, 422, t.t("signin.unknown_org"))
    if not roles:
        return _page(request, t, next_path, 422, t.t("signin.no_roles"))
    sub = str(form.get("sub") or f"{org}-dev")[:64]
    ttl = timedelta(hours=settings.session_hours)
    token = mint_dev_token(load_dev_key(settings.signing_key_file), org, roles, sub, settings.jwt_audience, ttl)
    session = Session.begin(sub, org, tuple(sorted(roles)), token, time.time() + ttl.total_seconds())
    response = see_other(_after(next_path, session))
    console.cookies.seal_session(response, session)
    return response


@router.get("/connexion/oidc")
async def oidc_sign_in(console: ConsoleDep, suivant: Annotated[str | None, Query()] = None) -> Response:
    """Sends the browser to the organisation's identity provider (authorisation code + PKCE)."""
    if console.oidc is None:
        return see_other("/connexion")
    url, pending = await console.oidc.begin(local_path(suivant))
    response = see_other(url)
    set_cookie(response, SIGNIN_COOKIE, console.cookies.seal(SIGNIN_COOKIE, asdict(pending)), SIGNIN_STATE_S)
    return response


@router.get("/connexion/retour")
async def oidc_callback(request: Request, console: ConsoleDep, t: T) -> Response:
    """The provider sends the browser back here with a code: redeemed, checked, and the session starts."""
    if console.oidc is None:
        return see_other("/connexion")
    saved = console.cookies.open(SIGNIN_COOKIE, request.cookies.get(SIGNIN_COOKIE))
    pending = Pending(**saved) if saved else None
    try:
        session = await console.oidc.finish(dict(request.query_params), pending)
    except OidcError as error:
        reason = t.t(error.key, error=error.detail)  # keys without {error} ignore it
        return _page(request, t, "/", 401, t.t("signin.failed", reason=reason))
    response = see_other(_after(pending.next if pending else "/", session))
    response.delete_cookie(SIGNIN_COOKIE, path="/", secure=True, httponly=True)
    console.cookies.seal_session(response, session)
    return response


def _after(next_path: str, session: Session) -> str:
    """Where sign-in leads: the page the user was going to, else the first page their roles open."""
    return session.home if next_path == "/" else next_path


@router.post("/deconnexion")
def sign_out(request: Request, console: ConsoleDep, form: Form) -> Response:
    """Ends the session: revoked until its expiry (a copy of the cookie is refused on every replica), the cookie
    dropped, and the browser told to forget what its cache and storage kept of the console's pages."""
    console.cookies.revoke(request)
    return _signed_out()


@router.post("/deconnexion/partout")
def sign_out_everywhere(console: ConsoleDep, session: SignedIn, form: Form) -> Response:
    """Ends every session of the user begun until now: this one, and those of their other browsers and devices."""
    console.cookies.revocations.revoke_subject(session.sub, console.settings.session_hours * 3600)
    return _signed_out()


def _signed_out() -> Response:
    response = see_other("/connexion")
    end_session(response)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@router.get("/langue/{lang}")
def choose_language(lang: str, suivant: Annotated[str | None, Query()] = None) -> Response:
    """French or English, remembered by the browser for a year."""
    response = see_other(local_path(suivant))
    if lang in LANGUAGES:
        set_cookie(response, LANG_COOKIE, lang, max_age=365 * 86_400)
    return response
