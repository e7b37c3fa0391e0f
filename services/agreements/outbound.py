"""Agreements domain events -> integration events on `rls.agreements.v1` (the anti-corruption layer).

Agreement events carry the agreement's whole state after the change: the mapper reads the agreement as it
stood at the event's version (`load`), so a re-published event always has the same payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from services.agreements.domain import EVENT_NAMES, Agreement, Organisation, Proposal
from services.agreements.terms import Terms
from services.agreements.volumes import VolumeUse
from services.common.kafka import Outgoing
from services.common.relay import outgoing
from services.contract import topics
from services.contract.agreements_events import (
    AgreementReviewDueV1,
    AgreementStateV1,
    AmendmentProposalV1,
    DeclinedProposalV1,
    FundingV1,
    LapsedProposalV1,
    OnBehalfV1,
    OrganisationRegisteredV1,
    ReferralCountedV1,
    ServiceHoursV1,
    VolumeUseV1,
    VolumeV1,
)
from services.contract.base import EventData

CONTEXT = "agreements"

Loader = Callable[[uuid.UUID, int], Any]
"""An aggregate as it stood at a version."""


class AgreementsOutbound:
    """Maps stored events to the CloudEvents the consent and referral services (and auditors) consume."""

    def __init__(self, load: Loader) -> None:
        self.load = load

    def __call__(self, domain_event: DomainEventProtocol[Any]) -> Sequence[Outgoing]:
        e: Any = domain_event
        if isinstance(e, Organisation.Registered):
            return [self._outgoing(e, "organisation-registered", e.org_id, _organisation(e))]
        if isinstance(e, Organisation.ServiceHoursSet):
            organisation = self.load(e.originator_id, e.originator_version)
            data = ServiceHoursV1.model_validate(organisation.hours[e.service][-1])
            return [self._outgoing(e, "service-hours-set", organisation.org_id, data)]
        if isinstance(e, Agreement.ReviewDue):
            agreement = self.load(e.originator_id, e.originator_version)
            return [self._outgoing(e, "review-due", str(e.originator_id), _review_due(agreement, e))]
        if isinstance(e, Agreement.Event) and type(e) in EVENT_NAMES:
            agreement = self.load(e.originator_id, e.originator_version)
            return [self._outgoing(e, EVENT_NAMES[type(e)], str(e.originator_id), agreement_state(agreement, e))]
        if isinstance(e, VolumeUse.Used):
            use = self.load(e.originator_id, e.originator_version)
            return [self._outgoing(e, "referral-counted", str(use.agreement_id), _counted(use, e))]
        if isinstance(e, VolumeUse.ThresholdReached | VolumeUse.Exceeded):
            use = self.load(e.originator_id, e.originator_version)
            name = "volume-exceeded" if isinstance(e, VolumeUse.Exceeded) else "volume-threshold-reached"
            return [self._outgoing(e, name, str(use.agreement_id), _volume(use, e))]
        return []

    def _outgoing(self, e: Any, name: str, key: str, data: EventData) -> Outgoing:
        return outgoing(e, CONTEXT, name, topics.AGREEMENTS, key, e.occurred_at, data)


def agreement_state(agreement: Agreement, e: Any) -> AgreementStateV1:
    terms = agreement.terms
    return AgreementStateV1(
        agreement_id=str(agreement.id),
        version=agreement.terms_version,
        kind=terms.kind,
        status=agreement.status,
        title=terms.title,
        parties=list(terms.parties),
        signed_by=sorted(agreement.signatures),
        services=list(terms.services),
        clientele=terms.clientele,
        start=terms.start,
        end=terms.end,
        volumes=[VolumeV1(service=v.service, per_year=v.per_year) for v in terms.volumes],
        funding=FundingV1(amount=terms.funding.amount, currency=terms.funding.currency) if terms.funding else None,
        information_sharing=list(terms.information_sharing) if terms.information_sharing is not None else None,
        mechanisms=list(terms.mechanisms),
        review_every_months=terms.review_every_months,
        respects_community_orientations=bool(terms.respects_community_orientations),
        occurred_at=e.occurred_at,
        reason=agreement.status_reason,
        responsibilities=list(terms.responsibilities),
        revision=agreement.version,
        on_behalf=[OnBehalfV1(of_org=o.of_org, services=list(o.services)) for o in terms.on_behalf],
        proposal=_proposal(agreement.proposal, terms) if agreement.proposal else None,
        lapsed_proposal=_lapsed(e) if isinstance(e, Agreement.ProposalLapsed) else None,
        declined_proposal=_declined(e) if isinstance(e, Agreement.ProposalDeclined) else None,
    )


def _lapsed(e: Agreement.ProposalLapsed) -> LapsedProposalV1:
    return LapsedProposalV1(id=e.proposal_id, field=e.field, reason=e.reason)


def _declined(e: Agreement.ProposalDeclined) -> DeclinedProposalV1:
    return DeclinedProposalV1(
        id=e.proposal_id, declined_by_org=e.party, proposed_by_org=e.proposed_by_org, reason=e.reason
    )


def _proposal(proposal: Proposal, in_force: Terms) -> AmendmentProposalV1:
    return AmendmentProposalV1(
        id=proposal.id,
        version=proposal.number,
        change=proposal.change,
        changes=proposal.terms.changes_from(in_force),
        proposed_by_org=proposal.party,
        proposed_at=proposal.proposed_at,
        summary=proposal.summary,
        signed_by=sorted(proposal.signatures),
    )


def _organisation(e: Organisation.Registered) -> OrganisationRegisteredV1:
    return OrganisationRegisteredV1(
        org_id=e.org_id,
        name=e.name,
        kind=e.kind,
        territory=e.territory,
        services=e.services,
        occurred_at=e.occurred_at,
    )


def _review_due(agreement: Agreement, e: Agreement.ReviewDue) -> AgreementReviewDueV1:
    return AgreementReviewDueV1(
        agreement_id=str(agreement.id),
        version=agreement.terms_version,
        kind=agreement.terms.kind,
        parties=list(agreement.terms.parties),
        review_every_months=agreement.terms.review_every_months,
        due_at=e.occurred_at,
        occurred_at=e.occurred_at,
    )


def _volume(use: VolumeUse, e: VolumeUse.ThresholdReached | VolumeUse.Exceeded) -> VolumeUseV1:
    return VolumeUseV1(
        agreement_id=str(use.agreement_id),
        service=use.service,
        period_start=use.period_start,
        period_end=use.period_end,
        used=e.used,
        per_year=e.per_year,
        percent=e.used * 100 // e.per_year,
        occurred_at=e.occurred_at,
    )


def _counted(use: VolumeUse, e: VolumeUse.Used) -> ReferralCountedV1:
    """Which agreement, service and agreement year an accepted referral counted against: the audit's report counts
    these rather than deciding again which agreement covers an acceptance."""
    return ReferralCountedV1(
        agreement_id=str(use.agreement_id),
        referral_id=e.referral_id,
        service=use.service,
        period_start=use.period_start,
        period_end=use.period_end,
        used=use.used,
        occurred_at=e.occurred_at,
    )
