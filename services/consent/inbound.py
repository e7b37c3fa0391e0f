"""Consumed integration events -> one application command each (the envelope is decoded here, nowhere else): the
organisations and agreement states of `rls.agreements.v1`, for the decision engine's facts.

Anti-corruption: only the fields the engine needs are read, other fields are ignored (a new optional field upstream
changes nothing here); a record missing one is poison (pydantic's ValidationError: the consumer dead-letters it).
"""

from __future__ import annotations

from datetime import date, datetime

from eventsourcing.persistence import Tracking
from pydantic import BaseModel, ConfigDict

from services.common.consumer import Handler
from services.common.envelope import CloudEvent
from services.consent.application import AgreementSeen, Consents, OrganisationSeen
from services.contract.agreements_events import AGREEMENT_LIFECYCLE
from services.contract.codes import AgreementKind, AgreementStatus, InfoCategory, OrgKind, ServiceCode

ORGANISATION_REGISTERED = "ca.qc.rls.agreements.organisation-registered.v1"
AGREEMENT_STATES = frozenset(f"ca.qc.rls.agreements.{name}.v1" for name in AGREEMENT_LIFECYCLE)


class OrganisationRegistered(BaseModel):
    """What the engine needs of `OrganisationRegisteredV1` (anti-corruption: other fields are ignored, so a new
    optional field upstream changes nothing here)."""

    model_config = ConfigDict(extra="ignore")

    org_id: str
    kind: OrgKind
    occurred_at: datetime


class OnBehalfTerms(BaseModel):
    model_config = ConfigDict(extra="ignore")

    of_org: str
    services: list[ServiceCode]


class AgreementState(BaseModel):
    """What the engine needs of `AgreementStateV1`."""

    model_config = ConfigDict(extra="ignore")

    agreement_id: str
    kind: AgreementKind
    status: AgreementStatus
    parties: list[str]
    start: date
    end: date | None = None
    information_sharing: list[InfoCategory] | None = None
    on_behalf: list[OnBehalfTerms] = []
    occurred_at: datetime


def organisation_seen(event: CloudEvent) -> OrganisationSeen:
    org = OrganisationRegistered.model_validate(event.data)
    return OrganisationSeen(event.id, org.org_id, org.kind.value, org.occurred_at)


def agreement_seen(event: CloudEvent) -> AgreementSeen:
    state = AgreementState.model_validate(event.data)
    return AgreementSeen(
        upstream_event_id=event.id,
        upstream_type=event.type,
        agreement_id=state.agreement_id,
        kind=state.kind.value,
        status=state.status.value,
        parties=list(state.parties),
        start=state.start,
        end=state.end,
        information_sharing=[c.value for c in state.information_sharing or []],
        occurred_at=state.occurred_at,
        on_behalf=[o.model_dump(mode="json") for o in state.on_behalf],
    )


def handler(consents: Consents) -> Handler:
    """Organisations and agreement states are observed once in effect; other types are only tracked."""

    def handle(event: CloudEvent, tracking: Tracking) -> None:
        if event.type == ORGANISATION_REGISTERED:
            consents.observe_organisation(organisation_seen(event), tracking)
        elif event.type in AGREEMENT_STATES:
            consents.observe_agreement(agreement_seen(event), tracking)
        else:
            consents.mark_processed(tracking)

    return handle
