"""Directory of organisations and the agreements (ententes) between them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.contract.codes import AgreementKind, AgreementStatus

ORG_NAMESPACE = uuid.UUID("c0a1e5d2-6b7f-4e3a-9c8d-2b1a0f9e8d7c")


def organisation_aggregate_id(org_id: str) -> uuid.UUID:
    """Organisation ids are chosen by people (`csss-vieille-capitale`); aggregate ids derive from them."""
    return uuid.uuid5(ORG_NAMESPACE, org_id)


class AgreementsError(Exception):
    """Base of the agreements domain's errors."""

    field: str | None = None


class OrganisationNotFoundError(AgreementsError):
    """No organisation with this id."""


class OrganisationExistsError(AgreementsError):
    """An organisation with this id is already registered."""


class AgreementNotFoundError(AgreementsError):
    """No agreement with this id."""


class AgreementInvalidError(AgreementsError):
    """The agreement breaks a rule of its kind (named by `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Organisation(Aggregate):
    """An organisation of the network and the services it offers."""

    @event("Registered")
    def __init__(
        self,
        id: uuid.UUID,
        org_id: str,
        name: str,
        kind: str,
        territory: str,
        services: list[str],
    ) -> None:
        self.org_id = org_id
        self.name = name
        self.kind = kind
        self.territory = territory
        self.services = services


@dataclass(frozen=True)
class Terms:
    """What an agreement commits its parties to."""

    kind: AgreementKind
    title: str
    parties: list[str]
    services: list[str]
    clientele: str
    start: date
    end: date | None
    volumes: list[dict[str, Any]]
    funding: dict[str, Any] | None
    information_sharing: list[str] | None
    mechanisms: list[str]
    review_every_months: int

    def check(self) -> None:
        """Raises AgreementInvalidError naming the first field that breaks the kind's rules."""
        if len(set(self.parties)) < 2:
            raise AgreementInvalidError("parties", "an agreement needs at least two distinct parties")
        if self.end is not None and self.end < self.start:
            raise AgreementInvalidError("end", "the end date is before the start date")
        if self.kind is AgreementKind.SERVICE_108:
            if self.end is None:
                raise AgreementInvalidError("end", "a service agreement (art. 108) has a term: end is required")
            if not self.volumes:
                raise AgreementInvalidError("volumes", "a service agreement (art. 108) states annual volumes")
            unknown = {v["service"] for v in self.volumes} - set(self.services)
            if unknown:
                raise AgreementInvalidError("volumes", "volumes name a service the agreement does not cover")
        else:
            for name in ("volumes", "funding", "information_sharing"):
                if getattr(self, name):
                    raise AgreementInvalidError(name, "a collaboration agreement carries no " + name.replace("_", " "))


class Agreement(Aggregate):
    """An entente between organisations: a service agreement (art. 108) or a collaboration agreement."""

    @event("Drafted")
    def __init__(self, terms: dict[str, Any], drafted_by: str) -> None:
        self.terms = terms
        self.drafted_by = drafted_by
        self.status = AgreementStatus.DRAFT.value
