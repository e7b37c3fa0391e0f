"""Agreements service REST API (v1): directory of organisations and ententes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query, Response

from services.agreements.access import CHANGE, POLICY, parties
from services.agreements.api_models import (
    AgreementAmend,
    AgreementCreate,
    AgreementPage,
    AgreementPublic,
    ChangePublic,
    CoveragePublic,
    DeclineBody,
    HistoryPublic,
    HoursConformancePublic,
    OrganisationCreate,
    OrganisationPage,
    OrganisationPublic,
    RenewBody,
    ReviewBody,
    ServiceHoursPublic,
    ServiceHoursPut,
    SignBody,
    SuspendBody,
    TerminateBody,
    TermsVersionPublic,
    VolumeUsePublic,
)
from services.agreements.application import Actor, Agreements
from services.agreements.domain import (
    Agreement,
    AgreementIdempotencyConflictError,
    AgreementNotFoundError,
    AgreementNotPartyError,
    AgreementRevisionConflictError,
    AgreementSuspendedByOtherError,
    AgreementTransitionError,
    InvalidFieldError,
    OrganisationExistsError,
    OrganisationNotFoundError,
    ProposalConflictError,
)
from services.agreements.terms import FIRST_DAY, LAST_DAY
from services.common.auth import PLATFORM_ORG, Principal
from services.common.params import Day, LocalInstant
from services.common.preconditions import IfMatch, if_match_version
from services.common.problems import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    TRANSITION_IMPOSSIBLE,
    VALIDATION,
    VERSION_CONFLICT,
    ProblemSpec,
)
from services.common.service import from_state
from services.contract.codes import AgreementKind, AgreementStatus, OrgKind, ServiceCode
from services.contract.hours_standards import weekly_minimum

router = APIRouter(prefix="/v1")

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    OrganisationNotFoundError: ProblemSpec(404, "organisation-not-found", "Organisation not found"),
    OrganisationExistsError: ProblemSpec(409, "organisation-exists", "Organisation already registered"),
    AgreementNotFoundError: ProblemSpec(404, "agreement-not-found", "Agreement not found"),
    InvalidFieldError: VALIDATION,
    AgreementTransitionError: TRANSITION_IMPOSSIBLE,
    AgreementNotPartyError: FORBIDDEN,
    AgreementSuspendedByOtherError: FORBIDDEN,
    AgreementRevisionConflictError: VERSION_CONFLICT,
    ProposalConflictError: VERSION_CONFLICT,
    AgreementIdempotencyConflictError: IDEMPOTENCY_KEY_REUSED,
}

CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "The caller's organisation is not a party"},
    404: {"description": "No such agreement"},
    409: {"description": "Refused in the agreement's status, or If-Match names another revision"},
}

T = TypeVar("T")


App = Annotated[Agreements, Depends(from_state("application"))]
Admin = Annotated[Principal, Depends(POLICY.caller("register_organisation"))]
Coordinator = Annotated[Principal, Depends(POLICY.caller("draft_agreement"))]
Reader = Annotated[Principal, Depends(POLICY.caller("get_agreement"))]
Cursor = Annotated[str | None, Query(max_length=100, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=500)]


def actor_of(principal: Principal) -> Actor:
    """The caller as the application sees it: acting beyond its organisation only as the policy lets it (the
    platform's admin; an establishment's is a party's like its coordinators)."""
    return Actor(sub=principal.sub, org=principal.org, override=CHANGE.unscoped_for(principal))


def revision_of(if_match: str | None) -> int | None:
    return if_match_version(if_match, "must be the agreement's revision (its ETag)")


def page(items: Sequence[T], key: Callable[[T], str], cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """Items after `cursor` (items are sorted by `key`), at most `limit`, and the next cursor."""
    after = [i for i in items if cursor is None or key(i) > cursor]
    chosen = after[:limit]
    return chosen, key(chosen[-1]) if len(after) > limit else None


def agreement_response(agreement: Agreement, response: Response) -> AgreementPublic:
    response.headers["ETag"] = str(agreement.version)
    response.headers["Location"] = f"/v1/agreements/{agreement.id}"
    return AgreementPublic.of(agreement)


# --- directory -------------------------------------------------------------------------------------------

NOT_THE_PLATFORMS_ADMIN = f"only the platform's administrator (organisation {PLATFORM_ORG}) registers organisations"


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationPublic,
    tags=["directory"],
    responses={
        403: {"description": "Not the platform's administrator (an establishment's admin registers nothing)"},
        409: {"description": "An organisation with this id is registered"},
    },
)
def register_organisation(body: OrganisationCreate, principal: Admin, agreements: App) -> OrganisationPublic:
    """Register an organisation of the network and the services it offers (the platform's administrator only)."""
    POLICY.check("register_organisation", principal, {}, NOT_THE_PLATFORMS_ADMIN)
    services = [s.value for s in body.services]
    return OrganisationPublic.of(
        agreements.register_organisation(body.id, body.name, body.kind.value, body.territory, services)
    )


@router.get("/organisations", response_model=OrganisationPage, tags=["directory"])
def find_organisations(
    principal: Reader,
    agreements: App,
    service: ServiceCode | None = None,
    kind: OrgKind | None = None,
    territory: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> OrganisationPage:
    """Find organisations offering a service, of a kind, on a territory (case-insensitive)."""
    found = agreements.find_organisations(service, kind, territory)
    items, next_cursor = page(found, lambda o: o.org_id, cursor, limit)
    return OrganisationPage(items=[OrganisationPublic.of(o) for o in items], next_cursor=next_cursor)


@router.get("/organisations/{org_id}", response_model=OrganisationPublic, tags=["directory"])
def get_organisation(org_id: str, principal: Reader, agreements: App) -> OrganisationPublic:
    """One organisation of the directory."""
    return OrganisationPublic.of(agreements.get_organisation(org_id))


HoursService = Literal["AAOR", "CRISIS_24_7", "INFO_SOCIAL", "SOCIAL_CONSULT", "PSYCH_CONSULT"]
"""The services with an hours standard (`services.contract.hours_standards.HOURS_STANDARDS`)."""


def hours_of(org_id: str, service: ServiceCode, schedules: list[dict[str, Any]]) -> ServiceHoursPublic:
    return ServiceHoursPublic.model_validate({"org_id": org_id, "service": service, "schedules": schedules})


@router.put(
    "/organisations/{org_id}/services/{service}/hours",
    response_model=ServiceHoursPublic,
    tags=["directory"],
    responses={403: {"description": "Another organisation's hours"}, 404: {"description": "No such organisation"}},
)
def set_service_hours(
    org_id: str,
    service: ServiceCode,
    body: ServiceHoursPut,
    principal: Annotated[Principal, Depends(POLICY.caller("set_service_hours"))],
    agreements: App,
) -> ServiceHoursPublic:
    """Declare a service's hours: the weekly schedule per channel and its exceptions (`service-hours-set` on
    `rls.agreements.v1`; the same hours again record nothing)."""
    POLICY.check("set_service_hours", principal, {"org": org_id}, "an organisation declares only its own hours")
    weekly = [w.model_dump(mode="json") for w in body.weekly]
    exceptions = [e.model_dump(mode="json") for e in body.exceptions]
    schedules, _ = agreements.set_service_hours(org_id, service.value, weekly, exceptions, body.effective_from)
    return hours_of(org_id, service, schedules)


@router.get(
    "/organisations/{org_id}/services/{service}/hours",
    response_model=ServiceHoursPublic,
    tags=["directory"],
    responses={404: {"description": "No such organisation"}},
)
def service_hours(
    org_id: str,
    service: ServiceCode,
    principal: Annotated[Principal, Depends(POLICY.caller("service_hours"))],
    agreements: App,
) -> ServiceHoursPublic:
    """A service's schedules, each in force from its `effective_from` until the next."""
    return hours_of(org_id, service, agreements.service_hours(org_id, service.value))


@router.get("/conformance/hours", response_model=list[HoursConformancePublic], tags=["directory"])
def hours_conformance(
    principal: Annotated[Principal, Depends(POLICY.caller("hours_conformance"))],
    agreements: App,
    territory: Annotated[str | None, Query(max_length=100)] = None,
    service: HoursService | None = None,
    week_of: Annotated[
        Day | None,
        Query(
            ge=FIRST_DAY, le=LAST_DAY, description="A day of the week judged (default: today; 1900-01-01 to 9998-12-31)"
        ),
    ] = None,
) -> list[HoursConformancePublic]:
    """The hours standards, organisation by organisation, over one week: AAOR by phone and in person ≥ 70 hours with
    weekday evenings and weekend hours; crisis intervention and Info-Social 24/7; social and psychological
    consultation by day and evening on weekdays and some weekend hours."""
    rows = agreements.hours_conformance(territory, service, week_of or agreements.today())
    policy = agreements.hours_policy
    return [HoursConformancePublic(**row.__dict__, bound_hours=weekly_minimum(row.standard, policy)) for row in rows]


# --- agreements ------------------------------------------------------------------------------------------


@router.post(
    "/agreements",
    status_code=201,
    response_model=AgreementPublic,
    tags=["agreements"],
    responses={403: {"description": "The caller's organisation is not a party"}, 409: {"description": "Key reused"}},
)
def draft_agreement(
    body: AgreementCreate,
    response: Response,
    principal: Coordinator,
    agreements: App,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> AgreementPublic:
    """Draft a service agreement (art. 108) or a collaboration agreement (framework: several parties)."""
    agreement, created = agreements.draft(body.terms(), actor_of(principal), idempotency_key)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return agreement_response(agreement, response)


@router.get("/agreements", response_model=AgreementPage, tags=["agreements"])
def list_agreements(
    principal: Reader,
    agreements: App,
    party: Annotated[str | None, Query(max_length=64)] = None,
    status: AgreementStatus | None = None,
    kind: AgreementKind | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> AgreementPage:
    """Agreements by party, status and kind (sorted by id)."""
    found = agreements.list_agreements(party, status, kind)
    items, next_cursor = page(found, lambda a: str(a.id), cursor, limit)
    return AgreementPage(items=[AgreementPublic.of(a) for a in items], next_cursor=next_cursor)


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic, tags=["agreements"])
def get_agreement(
    agreement_id: uuid.UUID,
    response: Response,
    principal: Reader,
    agreements: App,
    version: Annotated[int | None, Query(ge=1, description="An earlier version of the terms")] = None,
) -> AgreementPublic:
    """One agreement with its status, version and signatures (or the terms of an earlier `version`)."""
    agreement = agreements.get_agreement(agreement_id)
    if version is not None and version > agreement.terms_version:
        raise AgreementNotFoundError(f"the agreement has no version {version}")
    response.headers["ETag"] = str(agreement.version)
    return AgreementPublic.of(agreement, agreement.versions[version - 1] if version else None)


@router.get("/agreements/{agreement_id}/history", response_model=HistoryPublic, tags=["agreements"])
def agreement_history(agreement_id: uuid.UUID, principal: Reader, agreements: App) -> HistoryPublic:
    """Every version of the terms and every change (signatures, status changes, reviews), oldest first."""
    agreement = agreements.get_agreement(agreement_id)
    return HistoryPublic(
        agreement_id=str(agreement.id),
        versions=[TermsVersionPublic.of(v) for v in agreement.versions],
        changes=[ChangePublic.of(c) for c in agreements.history(agreement_id)],
    )


@router.get("/agreements/{agreement_id}/volumes", response_model=list[VolumeUsePublic], tags=["agreements"])
def agreement_volumes(
    agreement_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("agreement_volumes"))],
    agreements: App,
) -> list[VolumeUsePublic]:
    """Accepted referrals counted per service and agreement year, against the committed volumes (to the parties)."""
    agreement = agreements.get_agreement(agreement_id)
    POLICY.check("agreement_volumes", principal, parties(agreement), "an agreement's volumes are its parties' only")
    return [VolumeUsePublic.of(line) for line in agreements.volume_use(agreement_id)]


@router.post(
    "/agreements/{agreement_id}/sign", response_model=AgreementPublic, tags=["lifecycle"], responses=CHANGE_RESPONSES
)
def sign_agreement(
    agreement_id: uuid.UUID,
    response: Response,
    principal: Coordinator,
    agreements: App,
    body: SignBody | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Sign for the caller's organisation what awaits its signature: a draft (ACTIVE once all parties signed and the
    start date has come) or the proposed change of a signed agreement's terms (in effect once all parties signed),
    named by `proposal_id` or by `If-Match` (422 when neither names it; 409 when it is no longer the pending one)."""
    proposal_id = body.proposal_id if body else None
    agreement = agreements.sign(agreement_id, actor_of(principal), revision_of(if_match), proposal_id)
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/decline",
    response_model=AgreementPublic,
    tags=["lifecycle"],
    responses=CHANGE_RESPONSES,
)
def decline_proposal(
    agreement_id: uuid.UUID,
    body: DeclineBody,
    response: Response,
    principal: Coordinator,
    agreements: App,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Decline for the caller's organisation the proposed change of the terms, stating why (the proposer's own
    organisation withdraws it): the proposal closes, the terms in force stay. Named as for `/sign`, by `proposal_id` or
    `If-Match` (422 when neither names it; 409 when it is no longer the pending one, or none is)."""
    actor = actor_of(principal)
    agreement = agreements.decline(agreement_id, body.reason, actor, revision_of(if_match), body.proposal_id)
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/amend", response_model=AgreementPublic, tags=["lifecycle"], responses=CHANGE_RESPONSES
)
def amend_agreement(
    agreement_id: uuid.UUID,
    body: AgreementAmend,
    response: Response,
    principal: Coordinator,
    agreements: App,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Amend the terms: a draft's change now (its signatures are void); a signed agreement's new terms are proposed
    (`proposal`) and become the next version once every party has signed them; earlier versions stay readable."""
    agreement = agreements.amend(agreement_id, body.changes(), actor_of(principal), revision_of(if_match), body.summary)
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/suspend", response_model=AgreementPublic, tags=["lifecycle"], responses=CHANGE_RESPONSES
)
def suspend_agreement(
    agreement_id: uuid.UUID,
    response: Response,
    principal: Coordinator,
    agreements: App,
    body: SuspendBody | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Suspend an active agreement (it covers no referral while suspended)."""
    reason = body.reason if body else None
    agreement = agreements.suspend(agreement_id, actor_of(principal), reason, revision_of(if_match))
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/resume", response_model=AgreementPublic, tags=["lifecycle"], responses=CHANGE_RESPONSES
)
def resume_agreement(
    agreement_id: uuid.UUID, response: Response, principal: Coordinator, agreements: App, if_match: IfMatch = None
) -> AgreementPublic:
    """Resume a suspended agreement: only the organisation that suspended it (403 for another party)."""
    agreement = agreements.resume(agreement_id, actor_of(principal), revision_of(if_match))
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/terminate",
    response_model=AgreementPublic,
    tags=["lifecycle"],
    responses=CHANGE_RESPONSES,
)
def terminate_agreement(
    agreement_id: uuid.UUID,
    body: TerminateBody,
    response: Response,
    principal: Coordinator,
    agreements: App,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Terminate the agreement, stating the reason (final)."""
    agreement = agreements.terminate(agreement_id, body.reason, actor_of(principal), revision_of(if_match))
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/renew", response_model=AgreementPublic, tags=["lifecycle"], responses=CHANGE_RESPONSES
)
def renew_agreement(
    agreement_id: uuid.UUID,
    body: RenewBody,
    response: Response,
    principal: Coordinator,
    agreements: App,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Propose a later end date (`proposal`): a new version once every party has signed it (an expired agreement then
    becomes ACTIVE again)."""
    agreement = agreements.renew(agreement_id, body.end, actor_of(principal), revision_of(if_match))
    return agreement_response(agreement, response)


@router.post(
    "/agreements/{agreement_id}/review", response_model=AgreementPublic, tags=["lifecycle"], responses=CHANGE_RESPONSES
)
def review_agreement(
    agreement_id: uuid.UUID,
    response: Response,
    principal: Coordinator,
    agreements: App,
    body: ReviewBody | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Record a review of the agreement: clears a due review; the next falls due review_every_months later."""
    summary = body.summary if body else None
    agreement = agreements.review(agreement_id, actor_of(principal), summary, revision_of(if_match))
    return agreement_response(agreement, response)


# --- coverage --------------------------------------------------------------------------------------------


@router.get("/coverage", response_model=CoveragePublic, tags=["coverage"])
def coverage(
    principal: Reader,
    agreements: App,
    from_org: Annotated[str, Query(max_length=64)],
    to_org: Annotated[str, Query(max_length=64)],
    service: ServiceCode,
    at: Annotated[
        LocalInstant | None, Query(description="When (default now; without offset: the agreements' zone)")
    ] = None,
) -> CoveragePublic:
    """The agreement in force covering a referral from one organisation to another for a service, or nulls."""
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(agreements.zone))
    found = agreements.coverage(from_org, to_org, service.value, at)
    if found is None:
        return CoveragePublic()
    return CoveragePublic.of(found, from_org, to_org, service.value)
