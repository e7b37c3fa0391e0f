"""Referral domain events -> integration events on `rls.referral.v1` (the anti-corruption layer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from services.common.envelope import CloudEvent, event_id, event_type, schema_uri
from services.common.kafka import Outgoing
from services.contract import topics
from services.contract.referral_events import ReferralSubmittedV1
from services.referral.domain import Referral

SOURCE = "/rls/referral"


class ReferralContracts:
    """Maps stored referral events to the CloudEvents partners receive; never record information."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")

    def __call__(self, domain_event: DomainEventProtocol[Any]) -> Sequence[Outgoing]:
        if isinstance(domain_event, Referral.Submitted):
            return [self._outgoing(domain_event, "submitted", self._submitted(domain_event))]
        return []

    def _submitted(self, e: Referral.Submitted) -> ReferralSubmittedV1:
        referral_id = str(e.originator_id)
        return ReferralSubmittedV1(
            referral_id=referral_id,
            subject_id=e.subject_id,
            from_org=e.from_org,
            from_service=e.from_service,
            to_org=e.to_org,
            to_service=e.to_service,
            channel=e.channel,
            urgency=e.urgency,
            status="SUBMITTED",
            occurred_at=e.submitted_at,
            information_url=f"{self.public_url}/v1/referrals/{referral_id}/information",
            accompaniment=e.accompaniment,
            agreement_id=e.agreement_id,
            orientation_only=e.agreement_id is None,
        )

    def _outgoing(self, e: DomainEventProtocol[Any], name: str, data: ReferralSubmittedV1) -> Outgoing:
        type_ = event_type("referral", name)
        referral_id = str(e.originator_id)
        event = CloudEvent(
            id=event_id(e.originator_id, e.originator_version),
            source=SOURCE,
            type=type_,
            time=data.occurred_at,
            subject=referral_id,
            dataschema=schema_uri(type_),
            correlationid=referral_id,
            data=data.model_dump(mode="json"),
        )
        return Outgoing(topic=topics.REFERRAL, key=referral_id, event=event)
