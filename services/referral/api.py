"""Referral service REST API (v1): routes written out, thin; domain errors -> HTTP in one table."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from services.common.auth import Principal, bearer
from services.common.cursors import CURSOR_DESCRIPTION, CURSOR_PATTERN, CursorInvalidError, ListCursors
from services.common.params import Instant
from services.common.preconditions import IfMatch, if_match_version
from services.common.problems import (
    DEPENDENCY_UNAVAILABLE,
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    TRANSITION_IMPOSSIBLE,
    VALIDATION,
    VERSION_CONFLICT,
    ProblemError,
    ProblemSpec,
    invalid_field,
)
from services.common.service import from_state
from services.contract.codes import ORG_ID_PATTERN, InfoCategory, ReferralStatus, ServiceCode
from services.referral.access import POLICY, parties
from services.referral.api_models import (
    ClockPublic,
    CloseIn,
    CompliancePublic,
    InformationPublic,
    MeetingIn,
    PlanIn,
    RedirectIn,
    ReferralCreate,
    RefuseIn,
    StepIn,
)
from services.referral.application import Referrals, Submission
from services.referral.documents import ReferralPage, ReferralPublic, page
from services.referral.domain import (
    DependencyUnavailableError,
    DisclosureForbiddenError,
    DisclosureRejectedError,
    IdempotentRequest,
    InformationDeniedError,
    Meeting,
    PlanChange,
    Referral,
    ReferralAgreementError,
    ReferralEndedError,
    ReferralForbiddenError,
    ReferralIdempotencyConflictError,
    ReferralNotFoundError,
    ReferralReasonError,
    ReferralRedirectError,
    ReferralTargetError,
    ReferralTimeError,
    ReferralTransitionError,
    ReferralVersionConflictError,
    Step,
    SubjectErasedError,
    TargetUnknownError,
)
from services.referral.ports import Gateways
from services.referral.views import Listing

router = APIRouter(prefix="/v1", tags=["referrals"])

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    ReferralNotFoundError: ProblemSpec(404, "referral-not-found", "Referral not found"),
    ReferralIdempotencyConflictError: IDEMPOTENCY_KEY_REUSED,
    ReferralTransitionError: TRANSITION_IMPOSSIBLE,
    ReferralVersionConflictError: VERSION_CONFLICT,
    ReferralForbiddenError: FORBIDDEN,
    ReferralTimeError: VALIDATION,
    ReferralTargetError: VALIDATION,
    ReferralRedirectError: VALIDATION,
    ReferralAgreementError: VALIDATION,
    ReferralReasonError: VALIDATION,
    TargetUnknownError: ProblemSpec(422, "unknown-organisation", "Unknown organisation"),
    DisclosureForbiddenError: FORBIDDEN,
    DisclosureRejectedError: ProblemSpec(422, "disclosure-rejected", "The consent service rejected the request"),
    DependencyUnavailableError: DEPENDENCY_UNAVAILABLE,
    SubjectErasedError: ProblemSpec(410, "information-erased", "The person's information was erased"),
    CursorInvalidError: VALIDATION,
}

STEP_RESPONSES: dict[int | str, dict[str, object]] = {403: {}, 404: {}, 409: {}}
IdempotencyKey = Annotated[str | None, Header(max_length=200)]

GatewaysFactory = Callable[[str], Gateways]
"""Builds the agreements and consent clients acting with the caller's token."""


def get_gateways(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Gateways:
    gateways: GatewaysFactory = request.app.state.gateways
    return gateways(credentials.credentials if credentials else "")


App = Annotated[Referrals, Depends(from_state("application"))]
Cursors = Annotated[ListCursors, Depends(from_state("cursors"))]
OtherServices = Annotated[Gateways, Depends(get_gateways)]


def visible(referral: Referral, principal: Principal) -> Referral:
    """Only the organisations that sent or received a referral (and whoever audits them) know it exists."""
    if POLICY.allows("get_referral", principal, parties(referral)):
        return referral
    raise ReferralNotFoundError("no such referral")


def _version(if_match: str | None) -> int | None:
    return if_match_version(if_match, "must be the referral's version (an integer)")


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralPublic,
    responses={403: {}, 409: {"description": "Idempotency-Key reused"}, 503: {}},
)
def submit_referral(
    body: ReferralCreate,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("submit_referral"))],
    referrals: App,
    gateways: OtherServices,
    idempotency_key: IdempotencyKey = None,
) -> ReferralPublic:
    """Refer a person to another organisation's service (checked against the directory and agreements)."""
    POLICY.check("submit_referral", principal, {"sender": body.from_org}, "from_org must be the caller's organisation")
    submission = Submission(**body.model_dump(mode="json", exclude={"information"}))
    information = {category.value: text for category, text in body.information.items()}
    referral, created = referrals.submit(submission, principal.sub, idempotency_key, gateways.directory, information)
    response.headers.update({"ETag": str(referral.version), "Location": f"/v1/referrals/{referral.id}"})
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ReferralPublic.of(referral)


@router.get("/referrals", response_model=ReferralPage)
def list_referrals(
    principal: Annotated[Principal, Depends(POLICY.caller("list_referrals"))],
    referrals: App,
    cursors: Cursors,
    to_org: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    from_org: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    status: ReferralStatus | None = None,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The referrals the caller's organisation sent or received (network auditors: all), oldest first."""
    scope = POLICY.scope("list_referrals", principal)
    listing = Listing(scope=scope, to_org=to_org, from_org=from_org, status=status, limit=limit + 1)
    # a cursor seals the position of the last referral listed: new ones are submitted now, so they come last
    bound = listing.cursor_binding(principal.org)
    if cursor is not None:
        listing = replace(listing, after=cursors.open(cursor, bound))
    found = referrals.index.documents(listing)
    next_cursor = cursors.seal(found[limit - 1][0], bound) if len(found) > limit else None
    # the documents the view keeps are the page's JSON (`documents.page`): nothing to validate or render again
    return Response(page([kept for _, kept in found[:limit]], next_cursor), media_type="application/json")


@router.get("/referrals/{referral_id}", response_model=ReferralPublic, responses={404: {}})
def get_referral(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("get_referral"))],
    referrals: App,
) -> ReferralPublic:
    """One referral, to the organisations that sent or received it (and their auditors, network auditors)."""
    referral = visible(referrals.get_referral(referral_id), principal)
    response.headers["ETag"] = str(referral.version)
    return ReferralPublic.of(referral)


def step_of(principal: Principal, body: StepIn | None, referrals: Referrals, **details: str) -> Step:
    """Who takes the step and when (`at` defaults to now)."""
    at = body.at if body is not None and body.at is not None else referrals.clock()
    return Step(actor_org=principal.org, actor=principal.sub, at=at, **details)


def changed(referral: Referral, response: Response) -> ReferralPublic:
    response.headers["ETag"] = str(referral.version)
    return ReferralPublic.of(referral)


def perform(
    referrals: Referrals,
    referral_id: uuid.UUID,
    command: str,
    principal: Principal,
    body: StepIn | None,
    if_match: str | None,
    response: Response,
) -> ReferralPublic:
    """A lifecycle step with no details of its own, on a referral the caller may see."""
    visible(referrals.get_referral(referral_id), principal)
    step = step_of(principal, body, referrals)
    return changed(referrals.perform(referral_id, command, step, _version(if_match)), response)


@router.post("/referrals/{referral_id}/receive", response_model=ReferralPublic, responses=STEP_RESPONSES)
def receive(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("receive"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The receiving organisation acknowledges the referral."""
    return perform(referrals, referral_id, "receive", principal, body, if_match, response)


@router.post("/referrals/{referral_id}/callback", response_model=ReferralPublic, responses=STEP_RESPONSES)
def callback(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("callback"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The receiving organisation called the person back (phone requests)."""
    return perform(referrals, referral_id, "callback", principal, body, if_match, response)


@router.post("/referrals/{referral_id}/analyse", response_model=ReferralPublic, responses=STEP_RESPONSES)
def analyse(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("analyse"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The analysis of the request is completed."""
    return perform(referrals, referral_id, "analyse", principal, body, if_match, response)


@router.post("/referrals/{referral_id}/accept", response_model=ReferralPublic, responses=STEP_RESPONSES)
def accept(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("accept"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The receiving organisation accepts the referral."""
    return perform(referrals, referral_id, "accept", principal, body, if_match, response)


@router.post(
    "/referrals/{referral_id}/first-contact",
    response_model=ReferralPublic,
    name="first-contact",
    responses=STEP_RESPONSES,
)
def first_contact(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("first-contact"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The first contact with the person was made."""
    return perform(referrals, referral_id, "first-contact", principal, body, if_match, response)


@router.post(
    "/referrals/{referral_id}/start-follow-up",
    response_model=ReferralPublic,
    name="start-follow-up",
    responses=STEP_RESPONSES,
)
def start_follow_up(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("start-follow-up"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The follow-up (intervention) started."""
    return perform(referrals, referral_id, "start-follow-up", principal, body, if_match, response)


@router.post("/referrals/{referral_id}/cancel", response_model=ReferralPublic, responses=STEP_RESPONSES)
def cancel(
    referral_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("cancel"))],
    referrals: App,
    body: StepIn | None = None,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The referring organisation cancels the referral (before acceptance)."""
    return perform(referrals, referral_id, "cancel", principal, body, if_match, response)


@router.post("/referrals/{referral_id}/refuse", response_model=ReferralPublic, responses=STEP_RESPONSES)
def refuse(
    referral_id: uuid.UUID,
    body: RefuseIn,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("refuse"))],
    referrals: App,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The receiving organisation refuses the referral, with a reason."""
    visible(referrals.get_referral(referral_id), principal)
    step = step_of(principal, body, referrals, reason=body.reason)
    return changed(referrals.perform(referral_id, "refuse", step, _version(if_match)), response)


@router.post("/referrals/{referral_id}/redirect", response_model=ReferralPublic, responses={**STEP_RESPONSES, 503: {}})
def redirect(
    referral_id: uuid.UUID,
    body: RedirectIn,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("redirect"))],
    referrals: App,
    gateways: OtherServices,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The receiving organisation redirects the referral to another organisation's service."""
    visible(referrals.get_referral(referral_id), principal)
    step = step_of(principal, body, referrals, to_org=body.to_org, to_service=body.to_service.value)
    return changed(referrals.redirect(referral_id, step, _version(if_match), gateways.directory), response)


@router.post("/referrals/{referral_id}/close", response_model=ReferralPublic, responses=STEP_RESPONSES)
def close(
    referral_id: uuid.UUID,
    body: CloseIn,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("close"))],
    referrals: App,
    if_match: IfMatch = None,
) -> ReferralPublic:
    """The receiving organisation closes the referral with an outcome code."""
    visible(referrals.get_referral(referral_id), principal)
    step = step_of(principal, body, referrals, outcome=body.outcome)
    return changed(referrals.perform(referral_id, "close", step, _version(if_match)), response)


def request_of(
    command: str, body: MeetingIn | PlanIn, principal: Principal, idempotency_key: str | None
) -> IdempotentRequest | None:
    """The command as sent, to recognise a retry with the same `Idempotency-Key` from the same organisation (`at` as
    sent: it may be absent)."""
    if idempotency_key is None:
        return None
    sent = f"{command}\x1f{body.model_dump_json(exclude_unset=True)}"
    return IdempotentRequest(principal.org, idempotency_key, hashlib.sha256(sent.encode()).hexdigest())


def recorded(referral: Referral, created: bool, response: Response) -> ReferralPublic:
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return changed(referral, response)


def following(referrals: Referrals, referral_id: uuid.UUID, operation: str, principal: Principal) -> None:
    """Meetings and plans are the receiving organisation's (the referring one sees the referral, may not add them)."""
    referral = visible(referrals.get_referral(referral_id), principal)
    POLICY.check(operation, principal, parties(referral), "only the receiving organisation records meetings and plans")


@router.post("/referrals/{referral_id}/meetings", response_model=ReferralPublic, responses=STEP_RESPONSES)
def record_meeting(
    referral_id: uuid.UUID,
    body: MeetingIn,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("record_meeting"))],
    referrals: App,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> ReferralPublic:
    """The receiving organisation records a meeting with the person: when and how, never its content. A meeting past
    the duration standard (3 in AAOR, the plan's term in consultation) records `duration-exceeded`, once."""
    following(referrals, referral_id, "record_meeting", principal)
    step = step_of(principal, body, referrals)
    meeting = Meeting(step, body.mode.value)
    request = request_of("meetings", body, principal, idempotency_key)
    return recorded(*referrals.record_meeting(referral_id, meeting, _version(if_match), request), response)


def change_plan(
    referrals: Referrals,
    referral_id: uuid.UUID,
    operation: str,
    principal: Principal,
    body: PlanIn,
    if_match: str | None,
    idempotency_key: str | None,
    response: Response,
) -> ReferralPublic:
    revise = operation == "intervention-plan/revise"
    following(referrals, referral_id, "revise_plan" if revise else "set_plan", principal)
    step = step_of(principal, body, referrals)
    change = PlanChange(step, body.planned_meetings, revise)
    request = request_of(operation, body, principal, idempotency_key)
    return recorded(*referrals.change_plan(referral_id, change, _version(if_match), request), response)


@router.post("/referrals/{referral_id}/intervention-plan", response_model=ReferralPublic, responses=STEP_RESPONSES)
def set_plan(
    referral_id: uuid.UUID,
    body: PlanIn,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("set_plan"))],
    referrals: App,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> ReferralPublic:
    """The receiving organisation sets the intervention plan's term (meetings foreseen); once per receiver."""
    return change_plan(
        referrals, referral_id, "intervention-plan", principal, body, if_match, idempotency_key, response
    )


@router.post(
    "/referrals/{referral_id}/intervention-plan/revise", response_model=ReferralPublic, responses=STEP_RESPONSES
)
def revise_plan(
    referral_id: uuid.UUID,
    body: PlanIn,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("revise_plan"))],
    referrals: App,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> ReferralPublic:
    """The plan is revised with a new term (going past the term initially agreed needs a revision)."""
    return change_plan(
        referrals, referral_id, "intervention-plan/revise", principal, body, if_match, idempotency_key, response
    )


@router.get("/referrals/{referral_id}/clocks", response_model=list[ClockPublic], responses={404: {}})
def clocks(
    referral_id: uuid.UUID, principal: Annotated[Principal, Depends(POLICY.caller("clocks"))], referrals: App
) -> list[ClockPublic]:
    """Each delay standard still applying to the referral (not one stopped before its bound) and where it stands."""
    referral = visible(referrals.get_referral(referral_id), principal)
    return ClockPublic.applied(referrals.clocks(referral))


@router.get("/standards/compliance", response_model=list[CompliancePublic], tags=["standards"])
def standards_compliance(
    principal: Annotated[Principal, Depends(POLICY.caller("standards_compliance"))],
    referrals: App,
    org: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    service: ServiceCode | None = None,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
) -> list[CompliancePublic]:
    """Per standard: clocks started in [from, to) that were met or breached, the share met, the median delay."""
    scope = org if org or principal.audits_network else principal.org
    POLICY.check("standards_compliance", principal, {"org": scope}, "an organisation sees only its own compliance")
    rows = referrals.compliance(scope, service.value if service else None, start, end)
    return [CompliancePublic(**row.__dict__) for row in rows]


@router.get(
    "/referrals/{referral_id}/information",
    response_model=InformationPublic,
    responses={
        403: {
            "description": "Nothing may be disclosed: the reasons (those of each decision of the consent service, "
            "`decision_id` naming the last; or the referral's status)"
        },
        404: {},
        410: {"description": "The person's information was erased"},
        503: {},
    },
)
def information(
    referral_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("information"))],
    referrals: App,
    gateways: OtherServices,
    categories: Annotated[str | None, Query(description="Comma-separated InfoCategory codes")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> InformationPublic:
    """While the referral is live, its receiver reads the record information the consent service permits, no more."""
    referral = visible(referrals.get_referral(referral_id), principal)
    only_receiver = "only the receiving organisation reads record information"
    POLICY.check("information", principal, parties(referral), only_receiver)
    wanted = _categories(categories)
    lang = "fr" if accept_language and accept_language.lower().startswith("fr") else None
    try:
        release = referrals.release_information(referral, wanted, gateways, lang)
    except ReferralEndedError as ended:
        raise ProblemError(403, "referral-ended", "Referral ended", str(ended), referral_status=ended.status) from None
    except InformationDeniedError as denied:
        raise ProblemError(
            403,
            "disclosure-denied",
            "Disclosure denied",
            denied.explanation or None,
            decision_id=denied.decision_id,
            denied_categories=denied.denied_categories,
        ) from None
    return InformationPublic.of(release)


def _categories(raw: str | None) -> list[str] | None:
    """The categories asked (None: the parameter is absent, every category held). Present, it names at least one:
    `?categories=,` asked the consent service, and registered a disclosure, for every category (minimum necessary)."""
    if raw is None:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        raise invalid_field("categories", "name at least one information category, or leave the parameter out")
    unknown = [v for v in values if v not in InfoCategory.__members__]
    if unknown:
        raise invalid_field("categories", "unknown information category")
    return values
