"""Submitting a referral: the directory finds who offers the service sought, with the agreement in force for each."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.forms import FormErrors, form_values, idempotency
from services.console.gateway import ApiProblemError, Gateway
from services.console.web import Api, Form, SignedIn, T, render, requires, see_other
from services.contract.codes import DEFAULT_REASON_CODES, Accompaniment, Channel, InfoCategory, ServiceCode, Urgency
from services.contract.subject import NAM_ERROR_TYPE

router = APIRouter()

SUBMITTERS = ("intake", "clinician", "coordinator")


async def _targets(api: Gateway, org: str, service: str, territory: str | None) -> list[dict[str, Any]]:
    """Organisations offering `service` (on `territory`), each with the agreement that would cover the referral."""
    found = await api.get("agreements", "/v1/organisations", service=service, territory=territory, limit=100)
    targets = [o for o in found["items"] if o["id"] != org]
    coverages = await asyncio.gather(
        *(api.get("agreements", "/v1/coverage", from_org=org, to_org=o["id"], service=service) for o in targets)
    )
    ids = {c["agreement_id"] for c in coverages if c.get("agreement_id")}
    agreements = await asyncio.gather(*(api.get("agreements", f"/v1/agreements/{i}") for i in sorted(ids)))
    titles = {a["id"]: a["title"] for a in agreements}
    return [
        {**o, "coverage": c, "agreement_title": titles.get(c.get("agreement_id") or "")}
        for o, c in zip(targets, coverages, strict=True)
    ]


async def _own_services(api: Gateway, org: str) -> list[str]:
    try:
        mine = await api.get("agreements", f"/v1/organisations/{org}")
    except ApiProblemError:
        return [s.value for s in ServiceCode]
    services: list[str] = mine["services"]
    return services


async def _form(
    request: Request,
    api: Gateway,
    session: SignedIn,
    service: str | None,
    territory: str | None,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    own, targets = await asyncio.gather(
        _own_services(api, session.org),
        _targets(api, session.org, service, territory) if service else asyncio.sleep(0, result=[]),
    )
    return render(
        request,
        "new_referral.html",
        status=status,
        to_service=service,
        territory=territory or "",
        targets=targets,
        own_services=own,
        services=list(ServiceCode),
        channels=list(Channel),
        urgencies=list(Urgency),
        accompaniments=list(Accompaniment),
        reason_codes=DEFAULT_REASON_CODES,
        categories=list(InfoCategory),
        values=values or {"channel": "PHONE", "urgency": "ROUTINE", "accompaniment": "NONE"},
        errors=errors or FormErrors(),
        form_key=str(uuid.uuid4()),
    )


@router.get("/demandes/nouvelle")
async def new_referral(
    request: Request,
    session: SignedIn,
    api: Api,
    to_service: Annotated[ServiceCode | None, Query()] = None,
    territory: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The referral form; with `to_service`, the organisations offering it and the agreement with each."""
    requires(session, *SUBMITTERS)
    return await _form(request, api, session, to_service.value if to_service else None, territory)


@router.post("/demandes/nouvelle")
async def submit_referral(request: Request, session: SignedIn, api: Api, t: T, form: Form) -> Response:
    """Submits the referral with the user's token; the API's problem document comes back field by field."""
    requires(session, *SUBMITTERS)
    values = form_values(form)
    information = {
        category.value: values[f"information.{category.value}"]
        for category in InfoCategory
        if values.get(f"information.{category.value}")
    }
    body = {
        "subject_id": values.get("subject_id", ""),
        "from_org": session.org,
        "from_service": values.get("from_service"),
        "to_org": values.get("to_org"),
        "to_service": values.get("to_service"),
        "channel": values.get("channel"),
        "urgency": values.get("urgency"),
        "reason_code": values.get("reason_code", ""),
        "accompaniment": values.get("accompaniment") or "NONE",
        "information": information,
    }
    body = {name: value for name, value in body.items() if value not in (None, "")}  # absent: the API says "missing"
    try:
        created = await api.post("referral", "/v1/referrals", body, headers=idempotency(form))
    except ApiProblemError as problem:
        if problem.status not in (403, 409, 422):
            raise
        if problem.field_errors().get("subject_id", {}).get("type") == NAM_ERROR_TYPE:
            values.pop("subject_id", None)  # a health insurance number is not written back into the page
        service = values.get("to_service") or None
        territory = values.get("territory") or None
        return await _form(request, api, session, service, territory, 422, values, FormErrors.of(problem, t))
    return see_other(f"/demandes/{created['id']}?soumise=1")
