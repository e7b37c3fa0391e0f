"""Agreements: the directory and the ententes; the only write path of the agreements service."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.agreements.domain import (
    Agreement,
    AgreementInvalidError,
    AgreementNotFoundError,
    Organisation,
    OrganisationExistsError,
    OrganisationNotFoundError,
    Terms,
    organisation_aggregate_id,
)
from services.common.eventstore import TrackedApplication


class Agreements(TrackedApplication):
    name = "agreements"

    def register_organisation(
        self, org_id: str, name: str, kind: str, territory: str, services: list[str]
    ) -> Organisation:
        organisation = Organisation(
            id=organisation_aggregate_id(org_id),
            org_id=org_id,
            name=name,
            kind=kind,
            territory=territory,
            services=sorted(set(services)),
        )
        try:
            self.record(organisation)
        except IntegrityError:
            raise OrganisationExistsError(f"organisation {org_id} is already registered") from None
        return organisation

    def get_organisation(self, org_id: str) -> Organisation:
        organisation: Organisation = self._get(organisation_aggregate_id(org_id), OrganisationNotFoundError)
        return organisation

    def draft_agreement(self, terms: Terms, drafted_by: str) -> Agreement:
        terms.check()
        for party in terms.parties:
            try:
                self.get_organisation(party)
            except OrganisationNotFoundError:
                raise AgreementInvalidError("parties", "names an organisation that is not registered") from None
        document = asdict(terms)
        document.update(
            kind=terms.kind.value,
            start=terms.start.isoformat(),
            end=terms.end.isoformat() if terms.end else None,
        )
        agreement = Agreement(terms=document, drafted_by=drafted_by)
        self.record(agreement)
        return agreement

    def get_agreement(self, agreement_id: uuid.UUID) -> Agreement:
        agreement: Agreement = self._get(agreement_id, AgreementNotFoundError)
        return agreement

    def _get(self, aggregate_id: uuid.UUID, missing: type[Exception]) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing("not found") from None
