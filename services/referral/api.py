"""Referral service REST API (v1)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.auth import Principal, bearer, require_roles
from services.common.preconditions import if_match_version
from services.common.problems import ProblemError, ProblemSpec, invalid_field
from services.contract.codes import (
    ORG_ID_PATTERN,
    Accompaniment,
    Channel,
    InfoCategory,
    ReferralStatus,
    ServiceCode,
    Urgency,
)
from services.contract.referral_events import ClockState, DelayStandard
from services.referral.application import InformationDeniedError, Referrals, Submission
from services.referral.domain import (
    Referral,
    ReferralAgreementError,
    ReferralForbiddenError,
    ReferralIdempotencyConflictError,
    ReferralNotFoundError,
    ReferralTargetError,
    ReferralTimeError,
    ReferralTransitionError,
    ReferralVersionConflictError,
    Step,
)
from services.referral.ports import DependencyUnavailableError, Directory, DisclosureGate, TargetUnknownError
from services.referral.settings import ReferralSettings
from services.referral.vault import SubjectErasedError

SUBJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
CODE_PATTERN = r"^[A-Z][A-Z0-9_]{0,39}$"

router = APIRouter(prefix="/v1", tags=["referrals"])

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    ReferralNotFoundError: ProblemSpec(404, "referral-not-found", "Referral not found"),
    ReferralIdempotencyConflictError: ProblemSpec(409, "idempotency-key-reused", "Idempotency-Key reused"),
    ReferralTransitionError: ProblemSpec(409, "transition-impossible", "Impossible transition"),
    ReferralVersionConflictError: ProblemSpec(409, "version-conflict", "The referral changed"),
    ReferralForbiddenError: ProblemSpec(403, "forbidden", "Forbidden"),
    ReferralTimeError: ProblemSpec(422, "validation", "Invalid request"),
    ReferralTargetError: ProblemSpec(422, "validation", "Invalid request"),
    ReferralAgreementError: ProblemSpec(422, "validation", "Invalid request"),
    TargetUnknownError: ProblemSpec(422, "unknown-organisation", "Unknown organisation"),
    DependencyUnavailableError: ProblemSpec(503, "dependency-unavailable", "A service this request needs is down"),
    SubjectErasedError: ProblemSpec(410, "information-erased", "The person's information was erased"),
}

Gateways = Callable[[str], tuple[Directory, DisclosureGate]]
"""Builds the agreements and consent clients acting with the caller's token."""


def get_referrals(request: Request) -> Referrals:
    referrals: Referrals = request.app.state.application
    return referrals


def get_settings(request: Request) -> ReferralSettings:
    settings: ReferralSettings = request.app.state.settings
    return settings


def get_gateways(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> tuple[Directory, DisclosureGate]:
    gateways: Gateways = request.app.state.gateways
    return gateways(credentials.credentials if credentials else "")


App = Annotated[Referrals, Depends(get_referrals)]
Worker = Annotated[Principal, Depends(require_roles("intake", "clinician", "coordinator"))]
Reader = Annotated[Principal, Depends(require_roles("intake", "clinician", "coordinator", "auditor"))]
Clients = Annotated[tuple[Directory, DisclosureGate], Depends(get_gateways)]


class ReferralCreate(BaseModel):
    """A referral of a person (pseudonymous `subject_id`) to another organisation's service."""

    model_config = ConfigDict(extra="forbid")

    subject_id: str = Field(pattern=SUBJECT_ID_PATTERN, description="Pseudonymous id of the person")
    from_org: str = Field(pattern=ORG_ID_PATTERN)
    from_service: ServiceCode
    to_org: str = Field(pattern=ORG_ID_PATTERN)
    to_service: ServiceCode
    channel: Channel
    urgency: Urgency
    reason_code: str = Field(min_length=1, max_length=64)
    accompaniment: Accompaniment = Accompaniment.NONE
    agreement_id: str | None = Field(None, max_length=64)
    information: dict[InfoCategory, Annotated[str, Field(min_length=1, max_length=20_000)]] = Field(
        default_factory=dict, description="Record information by category: encrypted at rest, never on a topic"
    )


class ReferralPublic(BaseModel):
    """A referral as its sender, its receiver and auditors see it (no record information)."""

    id: str
    status: ReferralStatus
    version: int
    subject_id: str
    from_org: str
    from_service: ServiceCode
    to_org: str
    to_service: ServiceCode
    channel: Channel
    urgency: Urgency
    reason_code: str
    accompaniment: Accompaniment
    agreement_id: str | None
    agreement_kind: str | None
    orientation_only: bool = Field(description="No agreement covers this referral: an orientation")
    submitted_at: datetime
    history: list[dict[str, Any]]

    @classmethod
    def of(cls, r: Referral) -> ReferralPublic:
        return cls(
            id=str(r.id),
            status=r.status,
            version=r.version,
            subject_id=r.subject_id,
            from_org=r.from_org,
            from_service=r.from_service,
            to_org=r.to_org,
            to_service=r.to_service,
            channel=r.channel,
            urgency=r.urgency,
            reason_code=r.reason_code,
            accompaniment=r.accompaniment,
            agreement_id=r.agreement_id,
            agreement_kind=r.agreement_kind,
            orientation_only=r.agreement_id is None,
            submitted_at=r.submitted_at,
            history=[{"step": m.name, "at": m.at, "to_org": m.to_org, "to_service": m.to_service} for m in r.history],
        )


class ReferralPage(BaseModel):
    items: list[ReferralPublic]
    next_cursor: str | None


class StepIn(BaseModel):
    """When the step happened (default now; may be in the past, never in the future)."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = None


class RefuseIn(StepIn):
    reason: str = Field(min_length=1, max_length=500)


class RedirectIn(StepIn):
    to_org: str = Field(pattern=ORG_ID_PATTERN)
    to_service: ServiceCode


class CloseIn(StepIn):
    outcome: str = Field(pattern=CODE_PATTERN, description="An outcome code, e.g. SERVICES_RENDERED")


class ClockPublic(BaseModel):
    standard: DelayStandard
    bound: str = Field(description="ISO 8601 duration")
    bound_s: int
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    state: ClockState
    responsible_org: str


class CompliancePublic(BaseModel):
    standard: DelayStandard
    total: int
    met: int
    breached: int
    pct_met: float | None
    median_s: float | None


class InformationPublic(BaseModel):
    decision_id: str
    information: dict[InfoCategory, str]
    denied_categories: list[InfoCategory]
    basis: list[dict[str, Any]]
    obligations: list[str]
    register_entry_id: str | None


def visible(referral: Referral, principal: Principal) -> Referral:
    """Only the organisations that sent or received a referral (and auditors) know it exists."""
    if referral.concerns(principal.org) or "auditor" in principal.roles:
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
    principal: Worker,
    referrals: App,
    clients: Clients,
    settings: Annotated[ReferralSettings, Depends(get_settings)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ReferralPublic:
    """Refer a person to another organisation's service (checked against the directory and agreements)."""
    if body.from_org != principal.org:
        raise ProblemError(403, "forbidden", "Forbidden", "from_org must be the caller's organisation")
    if body.reason_code not in settings.reason_codes:
        raise invalid_field("reason_code", "unknown reason code")
    submission = Submission(**body.model_dump(mode="json", exclude={"information"}))
    information = {category.value: text for category, text in body.information.items()}
    referral, created = referrals.submit(submission, principal.sub, idempotency_key, clients[0], information)
    response.headers.update({"ETag": str(referral.version), "Location": f"/v1/referrals/{referral.id}"})
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ReferralPublic.of(referral)


@router.get("/referrals", response_model=ReferralPage)
def list_referrals(
    principal: Reader,
    referrals: App,
    to_org: str | None = None,
    from_org: str | None = None,
    status: ReferralStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReferralPage:
    """The referrals the caller's organisation sent or received (all of them for auditors), oldest first."""
    after = _decode_cursor(cursor)
    matching = [
        r
        for r in referrals.list_referrals()
        if (r.concerns(principal.org) or "auditor" in principal.roles)
        and (to_org is None or r.to_org == to_org)
        and (from_org is None or r.from_org == from_org)
        and (status is None or r.status == status)
        and (after is None or (r.submitted_at.isoformat(), str(r.id)) > after)
    ]
    page = matching[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(matching) > limit else None
    return ReferralPage(items=[ReferralPublic.of(r) for r in page], next_cursor=next_cursor)


def _encode_cursor(referral: Referral) -> str:
    return base64.urlsafe_b64encode(f"{referral.submitted_at.isoformat()}|{referral.id}".encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        at, referral_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except ValueError:
        raise invalid_field("cursor", "not a cursor returned by this API") from None
    return at, referral_id


@router.get("/referrals/{referral_id}", response_model=ReferralPublic, responses={404: {}})
def get_referral(referral_id: uuid.UUID, response: Response, principal: Reader, referrals: App) -> ReferralPublic:
    """One referral, to the organisations that sent or received it (and auditors)."""
    referral = visible(referrals.get_referral(referral_id), principal)
    response.headers["ETag"] = str(referral.version)
    return ReferralPublic.of(referral)


def _perform(
    referrals: Referrals,
    referral_id: uuid.UUID,
    command: str,
    principal: Principal,
    body: StepIn,
    if_match: str | None,
    response: Response,
    **details: Any,
) -> ReferralPublic:
    visible(referrals.get_referral(referral_id), principal)
    step = Step(actor_org=principal.org, actor=principal.sub, at=body.at or referrals.clock(), **details)
    referral = referrals.perform(referral_id, command, step, _version(if_match))
    response.headers["ETag"] = str(referral.version)
    return ReferralPublic.of(referral)


def _register_simple_transition(command: str, summary: str) -> None:
    def transition(
        referral_id: uuid.UUID,
        response: Response,
        principal: Worker,
        referrals: App,
        body: StepIn | None = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> ReferralPublic:
        return _perform(referrals, referral_id, command, principal, body or StepIn(), if_match, response)

    transition.__doc__ = summary
    router.post(
        f"/referrals/{{referral_id}}/{command}",
        response_model=ReferralPublic,
        name=command,
        responses={403: {}, 404: {}, 409: {}},
    )(transition)


for _command, _summary in (
    ("receive", "The receiving organisation acknowledges the referral."),
    ("callback", "The receiving organisation called the person back (phone requests)."),
    ("analyse", "The analysis of the request is completed."),
    ("accept", "The receiving organisation accepts the referral."),
    ("first-contact", "The first contact with the person was made."),
    ("start-follow-up", "The follow-up (intervention) started."),
    ("cancel", "The referring organisation cancels the referral (before acceptance)."),
):
    _register_simple_transition(_command, _summary)


@router.post("/referrals/{referral_id}/refuse", response_model=ReferralPublic, responses={403: {}, 404: {}, 409: {}})
def refuse(
    referral_id: uuid.UUID,
    body: RefuseIn,
    response: Response,
    principal: Worker,
    referrals: App,
    if_match: Annotated[str | None, Header()] = None,
) -> ReferralPublic:
    """The receiving organisation refuses the referral, with a reason."""
    return _perform(referrals, referral_id, "refuse", principal, body, if_match, response, reason=body.reason)


@router.post(
    "/referrals/{referral_id}/redirect", response_model=ReferralPublic, responses={403: {}, 404: {}, 409: {}, 503: {}}
)
def redirect(
    referral_id: uuid.UUID,
    body: RedirectIn,
    response: Response,
    principal: Worker,
    referrals: App,
    clients: Clients,
    if_match: Annotated[str | None, Header()] = None,
) -> ReferralPublic:
    """The receiving organisation redirects the referral to another organisation's service."""
    visible(referrals.get_referral(referral_id), principal)
    if not clients[0].offers(body.to_org, body.to_service):
        raise ReferralTargetError("to_service: the new target organisation does not offer this service")
    return _perform(
        referrals,
        referral_id,
        "redirect",
        principal,
        body,
        if_match,
        response,
        to_org=body.to_org,
        to_service=body.to_service.value,
    )


@router.post("/referrals/{referral_id}/close", response_model=ReferralPublic, responses={403: {}, 404: {}, 409: {}})
def close(
    referral_id: uuid.UUID,
    body: CloseIn,
    response: Response,
    principal: Worker,
    referrals: App,
    if_match: Annotated[str | None, Header()] = None,
) -> ReferralPublic:
    """The receiving organisation closes the referral with an outcome code."""
    return _perform(referrals, referral_id, "close", principal, body, if_match, response, outcome=body.outcome)


@router.get("/referrals/{referral_id}/clocks", response_model=list[ClockPublic], responses={404: {}})
def clocks(referral_id: uuid.UUID, principal: Reader, referrals: App) -> list[ClockPublic]:
    """Each delay standard that applies to the referral, and where its clock stands now."""
    referral = visible(referrals.get_referral(referral_id), principal)
    return [
        ClockPublic(
            standard=c.standard,
            bound=_iso_duration(int(c.bound.total_seconds())),
            bound_s=int(c.bound.total_seconds()),
            started_at=c.started_at,
            due_at=c.due_at,
            met_at=c.met_at,
            state=c.state,
            responsible_org=c.responsible_org,
        )
        for c in referrals.clocks(referral)
    ]


def _iso_duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "" if days else "T0S")


@router.get("/standards/compliance", response_model=list[CompliancePublic], tags=["standards"])
def standards_compliance(
    principal: Reader,
    referrals: App,
    org: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    service: ServiceCode | None = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> list[CompliancePublic]:
    """Per standard: clocks started in [from, to) that were met or breached, the share met, the median delay."""
    if "auditor" not in principal.roles and org not in (None, principal.org):
        raise ProblemError(403, "forbidden", "Forbidden", "an organisation sees only its own compliance")
    scope = org if org or "auditor" in principal.roles else principal.org
    rows = referrals.compliance(scope, service.value if service else None, start, end)
    return [CompliancePublic(**row.__dict__) for row in rows]


@router.get(
    "/referrals/{referral_id}/information",
    response_model=InformationPublic,
    responses={403: {"description": "Nothing may be disclosed: the reasons"}, 404: {}, 503: {}},
)
def information(
    referral_id: uuid.UUID,
    principal: Annotated[Principal, Depends(require_roles("intake", "clinician", "coordinator"))],
    referrals: App,
    clients: Clients,
    categories: Annotated[str | None, Query(description="Comma-separated InfoCategory codes")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> InformationPublic:
    """The receiving organisation reads the record information the consent service permits, and nothing else."""
    referral = visible(referrals.get_referral(referral_id), principal)
    if principal.org != referral.to_org:
        raise ProblemError(403, "forbidden", "Forbidden", "only the receiving organisation reads record information")
    wanted = _categories(categories)
    lang = "fr" if accept_language and accept_language.lower().startswith("fr") else None
    try:
        release = referrals.release_information(referral, wanted, clients[1], clients[0], lang)
    except InformationDeniedError as denied:
        d = denied.decision
        raise ProblemError(
            403,
            "disclosure-denied",
            "Disclosure denied",
            d.explanation or None,
            decision_id=d.decision_id,
            denied_categories=d.denied_categories,
        ) from None
    d = release.decision
    return InformationPublic(
        decision_id=d.decision_id,
        information=release.information,
        denied_categories=d.denied_categories,
        basis=d.basis,
        obligations=d.obligations,
        register_entry_id=d.register_entry_id,
    )


def _categories(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in InfoCategory.__members__]
    if unknown:
        raise invalid_field("categories", "unknown information category")
    return values
