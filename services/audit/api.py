"""Audit service REST API (v1): read-only, role `auditor`, but for a network auditor's acknowledgement of a retired
store id; every query is recorded in the audit trail."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from services.audit.access import POLICY, decision_parties, state_parties
from services.audit.api_models import AcknowledgementCreate, AcknowledgementPublic, InquiryPublic, StatePublic
from services.audit.application import Auditor, AuditQueries, parse_moment, parse_period
from services.audit.domain import (
    AcknowledgementReasonError,
    Channel,
    CheckpointsUnavailableError,
    ConsentUnavailableError,
    MomentError,
    PeriodError,
    StoreAlreadyAcknowledgedError,
    StoreNotRetiredError,
    StoreUnavailableError,
    UnknownApplicationError,
    UnknownServiceError,
    WhatIfRegimeError,
)
from services.audit.recheck import Evaluator
from services.audit.report import to_csv, to_json
from services.audit.report_html import to_html
from services.audit.states import Kind
from services.audit.views import Axis
from services.common.auth import Principal, bearer
from services.common.problems import DEPENDENCY_UNAVAILABLE, VALIDATION, ProblemError, ProblemSpec, invalid_field
from services.common.service import from_state

router = APIRouter(prefix="/v1", tags=["audit"])

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    WhatIfRegimeError: ProblemSpec(422, "unknown-rule-table", "No such rule table"),
    ConsentUnavailableError: DEPENDENCY_UNAVAILABLE,
    UnknownApplicationError: VALIDATION,
    StoreNotRetiredError: VALIDATION,
    AcknowledgementReasonError: VALIDATION,
    StoreAlreadyAcknowledgedError: ProblemSpec(409, "store-already-acknowledged", "Store id already acknowledged"),
    CheckpointsUnavailableError: DEPENDENCY_UNAVAILABLE,
    StoreUnavailableError: DEPENDENCY_UNAVAILABLE,
}

DATE_OR_DATE_TIME: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}
"""What `parse_moment` reads: a date, or a date-time with an offset (RFC 3339)."""
Moment = Annotated[
    str | None,
    Query(description="YYYY-MM-DD (the end of that day) or an ISO 8601 date-time", json_schema_extra=DATE_OR_DATE_TIME),
]
EvaluatorFactory = Callable[[str], Evaluator]


Queries = Annotated[AuditQueries, Depends(from_state("queries"))]


def _who(principal: Principal) -> Auditor:
    return Auditor(principal.sub, principal.org, Channel.REST)


def _moment(queries: AuditQueries, name: str, text: str | None, *, end_of_day: bool) -> datetime:
    if text is None:
        return queries.clock()
    try:
        return parse_moment(text, queries.settings.timezone, end_of_day=end_of_day)
    except MomentError as error:
        raise invalid_field(name, str(error)) from None


def _state(
    queries: AuditQueries, principal: Principal, kind: Kind, entity_id: str, as_of: str | None, axis: Axis
) -> Any:
    moment = _moment(queries, "as_of", as_of, end_of_day=True)
    operation = f"{kind}_state"

    def visible(state: dict[str, Any]) -> bool:
        return POLICY.allows(operation, principal, state_parties(kind, state))

    seen_by = POLICY.scope(operation, principal)  # an organisation's auditor: a referral as it was shown to it
    answer = queries.state(_who(principal), kind, entity_id, moment, axis, visible, seen_by)
    if answer.state is None:
        raise ProblemError(404, "state-not-found", "Not found", f"no {kind} with this id in the history by then")
    return StatePublic(
        kind=kind, id=entity_id, as_of=moment, axis=axis, state=answer.state, shown_until=answer.shown_until
    )


AxisQuery = Annotated[
    Axis,
    Query(
        description="effective: by when things happened; recorded: by when the platform recorded them (published "
        "them on Kafka; stored them, for events replayed from the event stores only)"
    ),
]


@router.get("/referrals/{referral_id}/state", response_model=StatePublic, responses={404: {}, 422: {}})
def referral_state(
    referral_id: str,
    principal: Annotated[Principal, Depends(POLICY.caller("referral_state"))],
    queries: Queries,
    as_of: Moment = None,
    axis: AxisQuery = "effective",
) -> Any:
    """A referral as it stood at `as_of` (ids, codes, status, history, delay flags; no record information); to the
    auditors of an organisation that received it and redirected it away, as it stood at that redirection at the
    latest (`shown_until`): what came after happened at other organisations."""
    return _state(queries, principal, "referral", referral_id, as_of, axis)


@router.get("/agreements/{agreement_id}/state", response_model=StatePublic, responses={404: {}, 422: {}})
def agreement_state(
    agreement_id: str,
    principal: Annotated[Principal, Depends(POLICY.caller("agreement_state"))],
    queries: Queries,
    as_of: Moment = None,
    axis: AxisQuery = "effective",
) -> Any:
    """An agreement as it stood at `as_of` (terms, status, signatures, open reviews, volume thresholds)."""
    return _state(queries, principal, "agreement", agreement_id, as_of, axis)


@router.get("/consents/{consent_id}/state", response_model=StatePublic, responses={404: {}, 422: {}})
def consent_state(
    consent_id: str,
    principal: Annotated[Principal, Depends(POLICY.caller("consent_state"))],
    queries: Queries,
    as_of: Moment = None,
    axis: AxisQuery = "effective",
) -> Any:
    """A consent as it stood at `as_of`, with its status then (PENDING, ACTIVE, EXPIRED, WITHDRAWN)."""
    return _state(queries, principal, "consent", consent_id, as_of, axis)


@router.get("/integrity")
def integrity(
    principal: Annotated[Principal, Depends(POLICY.caller("integrity"))],
    queries: Queries,
    service: Annotated[
        list[str] | None, Query(description="Limit to these services (a name without an event store: 422)")
    ] = None,
) -> dict[str, Any]:
    """Every event store against its seals and the published checkpoints; names the first tampered event (network
    auditors only: findings name aggregates of every organisation)."""
    try:
        answer = queries.verify(_who(principal), service or [])
    except UnknownServiceError as error:
        raise invalid_field("service", str(error)) from None
    return answer.as_dict()


@router.post(
    "/integrity/acknowledgements",
    status_code=201,
    response_model=AcknowledgementPublic,
    responses={409: {}, 422: {}, 503: {}},
)
def acknowledge_store(
    body: AcknowledgementCreate,
    principal: Annotated[Principal, Depends(POLICY.caller("acknowledge_store"))],
    queries: Queries,
) -> Any:
    """Acknowledges a retired store id of an application, with a reason: the checkpoints published under it so far
    are then reported by `GET /v1/integrity`, no longer findings (network auditors only; never deleted)."""
    entry = queries.acknowledge(_who(principal), body.application, body.store_id, body.reason)
    return AcknowledgementPublic.of(entry)


@router.get("/integrity/acknowledgements", response_model=list[AcknowledgementPublic])
def store_acknowledgements(
    principal: Annotated[Principal, Depends(POLICY.caller("store_acknowledgements"))], queries: Queries
) -> Any:
    """Every acknowledged retired store id (who, when, why), in the order they were acknowledged (network auditors
    only)."""
    return [AcknowledgementPublic.of(entry) for entry in queries.acknowledgements(_who(principal))]


@router.get("/decisions/recheck", responses={422: {}, 503: {}})
def decisions_recheck(
    principal: Annotated[Principal, Depends(POLICY.caller("decisions_recheck"))],
    queries: Queries,
    evaluators: Annotated[EvaluatorFactory, Depends(from_state("evaluator_factory"))],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    regime: Annotated[Literal["LSSSS_17_27_3", "LRSSS"] | None, Query(description="What-if regime")] = None,
    regime_version: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Re-evaluates every recorded decision that concerns the caller's organisation (network auditors: all) through
    the consent service, as the caller; lists those that differ."""
    assert credentials is not None  # the policy authenticated the caller

    def visible(payload: dict[str, Any]) -> bool:
        return POLICY.allows("decisions_recheck", principal, decision_parties(payload))

    result = queries.recheck(
        _who(principal), evaluators(credentials.credentials), regime, regime_version, visible=visible
    )
    return result.as_dict()


@router.get(
    "/reports/compliance",
    responses={200: {"content": {"text/html": {}, "text/csv": {}, "application/json": {}}}, 422: {}},
)
def compliance_report(
    principal: Annotated[Principal, Depends(POLICY.caller("compliance_report"))],
    queries: Queries,
    from_: Annotated[
        str | None,
        Query(alias="from", description="first day (YYYY-MM-DD) or date-time", json_schema_extra=DATE_OR_DATE_TIME),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            description="last day (YYYY-MM-DD, included) or date-time (excluded)", json_schema_extra=DATE_OR_DATE_TIME
        ),
    ] = None,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
    lang: Annotated[Literal["fr", "en"], Query(description="Language of the HTML report (French by default)")] = "fr",
) -> Response:
    """Delay standards per service and organisation, breaches over time, disclosures by route and recipient kind,
    agreement volumes against commitments, overdue reviews."""
    try:
        start, end = parse_period(from_, to, queries.settings.timezone, queries.clock())
    except PeriodError as error:
        raise invalid_field("from" if error.bound == "start" else "to", str(error)) from None
    report = queries.report(_who(principal), start, end, format)
    if format == "html":
        return HTMLResponse(to_html(report, lang))
    if format == "csv":
        return PlainTextResponse(to_csv(report), media_type="text/csv")
    return Response(content=json.dumps(to_json(report)).encode(), media_type="application/json")


@router.get("/replay")
def replay_status(
    principal: Annotated[Principal, Depends(POLICY.caller("replay_status"))], queries: Queries
) -> dict[str, Any]:
    """The last replay that filled the audit database (source, events, rate, until, when; network auditors only:
    its counts are the whole network's)."""
    return queries.last_replay(_who(principal))


@router.get("/inquiries", response_model=list[InquiryPublic])
def inquiries(
    principal: Annotated[Principal, Depends(POLICY.caller("inquiries"))],
    queries: Queries,
    response: Response,
    cursor: Annotated[int, Query(ge=0, description="`position` of the last entry of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The audit trail: every audit query (who looked at what, when), this one included; an organisation's auditors
    page their organisation's inquiries (by its own positions), network auditors every one (and which reads were
    refused). More pages: a `Link: <…>; rel="next"` header."""
    page = queries.trail(_who(principal), cursor, limit, POLICY.scope("inquiries", principal))
    if page.next_cursor is not None:
        response.headers["Link"] = f'</v1/inquiries?cursor={page.next_cursor}&limit={limit}>; rel="next"'
    return [InquiryPublic(**entry.__dict__) for entry in page.entries]
