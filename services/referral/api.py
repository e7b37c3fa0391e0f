"""Referral service REST API (v1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import Principal, require_roles
from services.common.problems import ProblemSpec, invalid_field
from services.contract.codes import (
    ORG_ID_PATTERN,
    Accompaniment,
    Channel,
    ReferralStatus,
    ServiceCode,
    Urgency,
)
from services.referral.application import Referrals, Submission
from services.referral.domain import Referral, ReferralIdempotencyConflictError, ReferralNotFoundError
from services.referral.settings import ReferralSettings

SUBJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

router = APIRouter(prefix="/v1", tags=["referrals"])

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    ReferralNotFoundError: ProblemSpec(404, "referral-not-found", "Referral not found"),
    ReferralIdempotencyConflictError: ProblemSpec(409, "idempotency-key-reused", "Idempotency-Key reused"),
}


def get_referrals(request: Request) -> Referrals:
    referrals: Referrals = request.app.state.application
    return referrals


def get_settings(request: Request) -> ReferralSettings:
    settings: ReferralSettings = request.app.state.settings
    return settings


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


class ReferralPublic(BaseModel):
    """A referral as its sender and receiver see it (no record information)."""

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
    submitted_at: datetime

    @classmethod
    def of(cls, referral: Referral) -> ReferralPublic:
        return cls(
            id=str(referral.id),
            status=referral.status,
            version=referral.version,
            subject_id=referral.subject_id,
            from_org=referral.from_org,
            from_service=referral.from_service,
            to_org=referral.to_org,
            to_service=referral.to_service,
            channel=referral.channel,
            urgency=referral.urgency,
            reason_code=referral.reason_code,
            accompaniment=referral.accompaniment,
            agreement_id=referral.agreement_id,
            submitted_at=referral.submitted_at,
        )


Writer = Annotated[Principal, Depends(require_roles("intake", "clinician", "coordinator"))]
Reader = Annotated[Principal, Depends(require_roles())]


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralPublic,
    responses={
        403: {"description": "from_org is not the caller's organisation"},
        409: {"description": "Idempotency-Key reused for another request"},
    },
)
def submit_referral(
    body: ReferralCreate,
    response: Response,
    principal: Writer,
    referrals: Annotated[Referrals, Depends(get_referrals)],
    settings: Annotated[ReferralSettings, Depends(get_settings)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ReferralPublic:
    """Refer a person to another organisation's service."""
    if body.from_org != principal.org:
        raise invalid_field("from_org", "must be the organisation of the caller") from None
    if body.reason_code not in settings.reason_codes:
        raise invalid_field("reason_code", "unknown reason code")
    referral, created = referrals.submit(Submission(**body.model_dump(mode="json")), principal.sub, idempotency_key)
    response.headers["ETag"] = str(referral.version)
    response.headers["Location"] = f"/v1/referrals/{referral.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ReferralPublic.of(referral)


@router.get("/referrals/{referral_id}", response_model=ReferralPublic)
def get_referral(
    referral_id: uuid.UUID,
    response: Response,
    principal: Reader,
    referrals: Annotated[Referrals, Depends(get_referrals)],
) -> ReferralPublic:
    """One referral, to the organisations that sent or received it (and auditors)."""
    referral = referrals.get_referral(referral_id)
    if not (referral.concerns(principal.org) or "auditor" in principal.roles):
        raise ReferralNotFoundError("no such referral")
    response.headers["ETag"] = str(referral.version)
    return ReferralPublic.of(referral)
