"""Agreements service REST API (v1): directory of organisations and ententes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.agreements.application import Agreements
from services.agreements.domain import (
    Agreement,
    AgreementInvalidError,
    AgreementNotFoundError,
    Organisation,
    OrganisationExistsError,
    OrganisationNotFoundError,
    Terms,
)
from services.common.auth import Principal, require_roles
from services.common.problems import ProblemSpec
from services.contract.codes import (
    ORG_ID_PATTERN,
    AgreementKind,
    AgreementStatus,
    InfoCategory,
    OrgKind,
    ServiceCode,
)

router = APIRouter(prefix="/v1")

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    OrganisationNotFoundError: ProblemSpec(404, "organisation-not-found", "Organisation not found"),
    OrganisationExistsError: ProblemSpec(409, "organisation-exists", "Organisation already registered"),
    AgreementNotFoundError: ProblemSpec(404, "agreement-not-found", "Agreement not found"),
    AgreementInvalidError: ProblemSpec(422, "validation", "Invalid request"),
}


def get_agreements(request: Request) -> Agreements:
    agreements: Agreements = request.app.state.application
    return agreements


App = Annotated[Agreements, Depends(get_agreements)]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Coordinator = Annotated[Principal, Depends(require_roles("coordinator", "admin"))]
Reader = Annotated[Principal, Depends(require_roles())]


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ORG_ID_PATTERN, description="Chosen id; it becomes part of Kafka topic names")
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    territory: str = Field(min_length=1, max_length=100)
    services: list[ServiceCode] = Field(default_factory=list)


class OrganisationPublic(BaseModel):
    id: str
    name: str
    kind: OrgKind
    territory: str
    services: list[ServiceCode]

    @classmethod
    def of(cls, o: Organisation) -> OrganisationPublic:
        return cls(id=o.org_id, name=o.name, kind=o.kind, territory=o.territory, services=o.services)


class Volume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceCode
    per_year: int = Field(gt=0)


class Funding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(pattern=r"^\d{1,12}(\.\d{1,2})?$", description="Decimal amount, e.g. 125000.00")
    currency: str = Field("CAD", pattern=r"^[A-Z]{3}$")


class InformationSharing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[InfoCategory] = Field(min_length=1)


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AgreementKind
    title: str = Field(min_length=1, max_length=300)
    parties: list[str] = Field(min_length=1)
    services: list[ServiceCode] = Field(min_length=1)
    clientele: str = Field(min_length=1, max_length=500)
    start: date
    end: date | None = None
    volumes: list[Volume] | None = None
    funding: Funding | None = None
    information_sharing: InformationSharing | None = None
    mechanisms: list[str] = Field(default_factory=list)
    review_every_months: int = Field(12, ge=1, le=60)

    def terms(self) -> Terms:
        return Terms(
            kind=self.kind,
            title=self.title,
            parties=self.parties,
            services=[s.value for s in self.services],
            clientele=self.clientele,
            start=self.start,
            end=self.end,
            volumes=[v.model_dump(mode="json") for v in self.volumes or []],
            funding=self.funding.model_dump() if self.funding else None,
            information_sharing=[c.value for c in self.information_sharing.categories]
            if self.information_sharing
            else None,
            mechanisms=self.mechanisms,
            review_every_months=self.review_every_months,
        )


class AgreementPublic(BaseModel):
    id: str
    status: AgreementStatus
    version: int
    terms: dict[str, Any]

    @classmethod
    def of(cls, a: Agreement) -> AgreementPublic:
        return cls(id=str(a.id), status=a.status, version=a.version, terms=a.terms)


@router.post("/organisations", status_code=201, response_model=OrganisationPublic, tags=["directory"])
def register_organisation(body: OrganisationCreate, principal: Admin, agreements: App) -> OrganisationPublic:
    """Register an organisation of the network and the services it offers."""
    organisation = agreements.register_organisation(
        body.id, body.name, body.kind.value, body.territory, [s.value for s in body.services]
    )
    return OrganisationPublic.of(organisation)


@router.get("/organisations/{org_id}", response_model=OrganisationPublic, tags=["directory"])
def get_organisation(org_id: str, principal: Reader, agreements: App) -> OrganisationPublic:
    """One organisation of the directory."""
    return OrganisationPublic.of(agreements.get_organisation(org_id))


@router.post("/agreements", status_code=201, response_model=AgreementPublic, tags=["agreements"])
def draft_agreement(body: AgreementCreate, principal: Coordinator, agreements: App) -> AgreementPublic:
    """Draft a service agreement (art. 108) or a collaboration agreement."""
    return AgreementPublic.of(agreements.draft_agreement(body.terms(), principal.sub))


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic, tags=["agreements"])
def get_agreement(agreement_id: uuid.UUID, principal: Reader, agreements: App) -> AgreementPublic:
    """One agreement with its status and version."""
    return AgreementPublic.of(agreements.get_agreement(agreement_id))
