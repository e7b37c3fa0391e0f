"""The auditor's pages: integrity of every store (and the acknowledgement of a retired one), the compliance report,
the disclosure register, the audit trail."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import NETWORK_AUDITOR
from services.common.clock import system_clock
from services.common.cursors import CURSOR_PATTERN
from services.console.forms import FormErrors, form_values
from services.console.gateway import ApiProblemError, Gateway
from services.console.session import AUDITORS
from services.console.web import Api, ConsoleDep, Form, SignedIn, T, from_this_console, render, requires, see_other
from services.contract.codes import ORG_ID_PATTERN
from services.contract.subject import SubjectId

router = APIRouter()
RECORDED = [Depends(from_this_console)]
"""The GET pages whose reading the audit service enters in the trail under the auditor's name."""

TRAIL_PAGE = 500
TRAIL_PAGES = 20
"""At most 10,000 inquiries of the trail."""
LAST_DAY = date(9998, 12, 31)
Day = Annotated[date | None, Query(ge=date(1900, 1, 1), le=LAST_DAY)]
"""A day of a period: any record's, and far enough from the calendar's ends to count days around it."""
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
"""The audit service's report is one self-contained file (inline CSS and SVG, no script), framed by the console."""


def _this_read(entry: dict[str, Any], sub: str, after: int) -> bool:
    """The inquiry the audit service recorded for the very read that returned it, before reading."""
    parameters = {"after": str(after), "limit": str(TRAIL_PAGE)}
    return bool(entry["action"] == "TRAIL" and entry["auditor"] == sub and entry["parameters"] == parameters)


async def _trail(api: Gateway, sub: str) -> list[dict[str, Any]]:
    """The audit trail, newest first. The API pages the trail the caller may read (its organisation's, or the whole
    network's), `limit` inquiries at a time after the `position` of the last one read: the trail ends at the page
    holding this read's own inquiry, recorded at its end."""
    entries: list[dict[str, Any]] = []
    after = 0
    for _ in range(TRAIL_PAGES):
        page: list[dict[str, Any]] = await api.get("audit", "/v1/inquiries", cursor=after, limit=TRAIL_PAGE)
        entries += page
        if not page or any(_this_read(entry, sub, after) for entry in page):
            break
        after = page[-1]["position"]
    return entries[::-1]


ACKNOWLEDGEMENT_ID = r"^[0-9a-f-]{36}$"


async def _last_verification(api: Gateway, sub: str) -> dict[str, Any] | None:
    return next((e for e in await _trail(api, sub) if e["action"] == "VERIFY"), None)


@router.get("/audit/integrite", dependencies=RECORDED)
async def integrity(
    request: Request,
    session: SignedIn,
    api: Api,
    reconnaissance: Annotated[str | None, Query(pattern=ACKNOWLEDGEMENT_ID)] = None,
) -> Response:
    """The last verification on the trail; a button runs a new one (network auditors: findings name the aggregates
    of every organisation). After an acknowledgement, says it was recorded: only when the audit service lists it, as
    made by the signed-in auditor (a link naming any id shows nothing)."""
    requires(session, NETWORK_AUDITOR)
    acknowledgement_id = None if reconnaissance is None else await _made_by(api, session.sub, reconnaissance)
    last = await _last_verification(api, session.sub)
    return render(request, "integrity.html", last=last, result=None, acknowledgement_id=acknowledgement_id)


async def _made_by(api: Gateway, sub: str, acknowledgement_id: str) -> str | None:
    """The acknowledgement's id, when the audit service has it, made by `sub`."""
    made: list[dict[str, Any]] = await api.get("audit", "/v1/integrity/acknowledgements")
    found = any(a["id"] == acknowledgement_id and a["auditor"] == sub for a in made)
    return acknowledgement_id if found else None


@router.post("/audit/integrite")
async def verify(request: Request, session: SignedIn, api: Api, form: Form) -> Response:
    """Verifies every store now (seals, chains, published checkpoints); the verification goes on the trail."""
    requires(session, NETWORK_AUDITOR)
    result = await api.get("audit", "/v1/integrity")
    last = await _last_verification(api, session.sub)
    return render(request, "integrity.html", last=last, result=result)


@router.post("/audit/integrite/reconnaissances")
async def acknowledge(request: Request, session: SignedIn, api: Api, form: Form, t: T) -> Response:
    """Acknowledges a retired store id with the reason given (a finding of the verification shown becomes a note);
    a refusal comes back with the form and what the audit service said of each field."""
    requires(session, NETWORK_AUDITOR)
    values = form_values(form)
    body = {name: values.get(name, "") for name in ("application", "store_id", "reason")}
    try:
        made = await api.post("audit", "/v1/integrity/acknowledgements", body)
    except ApiProblemError as problem:
        if problem.status not in (409, 422):
            raise
        last = await _last_verification(api, session.sub)
        errors = FormErrors.of(problem, t)
        return render(
            request, "integrity.html", problem.status, last=last, result=None, ack_values=body, ack_errors=errors
        )
    return see_other(f"/audit/integrite?reconnaissance={made['id']}")


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    today = system_clock().date()
    end = end or today
    return start or end - timedelta(days=30), end


@router.get("/audit/rapport", dependencies=RECORDED)
async def report(
    request: Request,
    session: SignedIn,
    api: Api,
    du: Day = None,
    au: Day = None,
) -> Response:
    """The compliance report of the period, with its charts, and how fresh the audit database is."""
    requires(session, NETWORK_AUDITOR)
    start, end = _period(du, au)
    replay = await api.get("audit", "/v1/replay")
    return render(request, "report.html", start=start, end=end, replay=replay or None)


@router.get("/audit/rapport/document", dependencies=RECORDED)
async def report_document(
    session: SignedIn,
    api: Api,
    t: T,
    du: Day = None,
    au: Day = None,
) -> Response:
    """The audit service's HTML report itself, in the user's language (framed by the report page)."""
    requires(session, NETWORK_AUDITOR)
    start, end = _period(du, au)
    params = {"format": "html", "from": start.isoformat(), "to": end.isoformat(), "lang": t.lang}
    answer = await api.call("audit", "GET", "/v1/reports/compliance", params=params, text=True)
    return HTMLResponse(answer.body, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/audit/registre")
async def register(
    request: Request,
    session: SignedIn,
    api: Api,
    console: ConsoleDep,
    personne: Annotated[SubjectId | None, Query()] = None,
    destinataire: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    du: Day = None,
    au: Day = None,
    curseur: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> Response:
    """Disclosure register entries, filtered by person, recipient and period (a coordinator's and an auditor's: the
    organisation's register; an admin's: the entries they made)."""
    requires(session, "coordinator", "admin", *AUDITORS)
    zone = console.zone
    # the period's days as instants in the console's zone: the consent service reads date-times only (a bare date
    # was a 422), in the years 2 to 9998 in Québec time; through its last day is no end
    page = await api.get(
        "consent",
        "/v1/register",
        subject_id=personne,
        recipient_org=destinataire,
        **{"from": None if du is None else datetime.combine(du, time(0), zone).isoformat()},
        to=None
        if au is None or au == LAST_DAY
        else datetime.combine(au + timedelta(days=1), time(0), zone).isoformat(),
        cursor=curseur,
        limit=100,
    )
    filters = {"personne": personne or "", "destinataire": destinataire or "", "du": du or "", "au": au or ""}
    cursor = page.get("next_cursor")
    # the filters given, and the cursor as it came (it opens only with them); an empty filter is no filter
    following = {**{k: str(v) for k, v in filters.items() if v}, "curseur": cursor}
    next_page = f"/audit/registre?{urlencode(following)}" if cursor else None
    return render(request, "register.html", entries=page["items"], next_page=next_page, filters=filters, zone=zone)


@router.get("/audit/journal", dependencies=RECORDED)
async def trail(request: Request, session: SignedIn, api: Api) -> Response:
    """The audit trail of the signed-in auditor's own queries (this one included), newest first."""
    requires(session, *AUDITORS)
    mine = [e for e in await _trail(api, session.sub) if e["auditor"] == session.sub]
    return render(request, "trail.html", entries=mine[:200])
