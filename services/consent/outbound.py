"""Consent domain events -> integration events (the anti-corruption layer).

Decisions go to `rls.consent.decisions.v1`; consents, withdrawals, restrictions and register entries to
`rls.consent.v1` (internal). Observations of the agreements context are not republished. Withdrawal reasons and
the justifications given for disclosures (free text) never leave the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from services.common.kafka import Outgoing
from services.common.relay import outgoing
from services.consent.domain import Consent, DecisionRecord, Refusal, RegisterEntry, Restriction
from services.consent.policy import age_band
from services.contract import topics
from services.contract.base import EventData
from services.contract.consent_events import (
    ConsentDecidedV1,
    ConsentRecordedV1,
    ConsentWithdrawnV1,
    DisclosureRegisteredV1,
    RefusalRecordedV1,
    RefusalWithdrawnV1,
    RestrictionLiftedV1,
    RestrictionRecordedV1,
)


def consent_messages(domain_event: DomainEventProtocol[Any]) -> Sequence[Outgoing]:
    """The integration events one stored event becomes (none for observations)."""
    e: Any = domain_event
    if isinstance(e, DecisionRecord.Made):
        return [_outgoing(e, topics.CONSENT_DECISIONS, "decided", _decided(e))]
    if isinstance(e, Consent.Recorded):
        return [_outgoing(e, topics.CONSENT, "recorded", _recorded(e))]
    if isinstance(e, Consent.Withdrawn):
        data = ConsentWithdrawnV1(
            consent_id=str(e.originator_id),
            subject_id=e.subject_id,
            withdrawn_at=e.withdrawn_at,
            withdrawn_by_org=e.withdrawn_by_org,
            occurred_at=e.recorded_at,
        )
        return [_outgoing(e, topics.CONSENT, "withdrawn", data)]
    if isinstance(e, Restriction.Recorded):
        recorded = RestrictionRecordedV1(
            restriction_id=str(e.originator_id),
            subject_id=e.subject_id,
            recipient_org_ids=e.recipient_org_ids,
            recipient_kinds=e.recipient_kinds,
            purposes=e.purposes,
            categories=e.categories,
            valid_from=e.valid_from,
            recorded_by_org=e.recorded_by_org,
            occurred_at=e.recorded_at,
        )
        return [_outgoing(e, topics.CONSENT, "restriction-recorded", recorded)]
    if isinstance(e, Restriction.Lifted):
        lifted = RestrictionLiftedV1(
            restriction_id=str(e.originator_id),
            subject_id=e.subject_id,
            lifted_at=e.lifted_at,
            occurred_at=e.recorded_at,
        )
        return [_outgoing(e, topics.CONSENT, "restriction-lifted", lifted)]
    if isinstance(e, Refusal.Recorded):
        refusal = RefusalRecordedV1(
            refusal_id=str(e.originator_id),
            subject_id=e.subject_id,
            requester_roles=e.requester_roles,
            given_at=e.given_at,
            recorded_by_org=e.recorded_by_org,
            occurred_at=e.recorded_at,
        )
        return [_outgoing(e, topics.CONSENT, "refusal-recorded", refusal)]
    if isinstance(e, Refusal.Withdrawn):
        withdrawn = RefusalWithdrawnV1(
            refusal_id=str(e.originator_id),
            subject_id=e.subject_id,
            withdrawn_at=e.withdrawn_at,
            occurred_at=e.recorded_at,
        )
        return [_outgoing(e, topics.CONSENT, "refusal-withdrawn", withdrawn)]
    if isinstance(e, RegisterEntry.Registered):
        return [_outgoing(e, topics.CONSENT, "disclosure-registered", _registered(e))]
    return []


def _decided(e: DecisionRecord.Made) -> ConsentDecidedV1:
    return ConsentDecidedV1.model_validate(
        {
            **e.result,
            "decision_id": str(e.originator_id),
            "kind": e.kind,
            "input": e.input,
            "facts": e.facts,
            "requested_by_org": e.requested_by_org,
            "register_entry_id": str(e.register_entry_id) if e.register_entry_id else None,
            "occurred_at": e.decided_at,
        }
    )


def _recorded(e: Consent.Recorded) -> ConsentRecordedV1:
    return ConsentRecordedV1(
        consent_id=str(e.originator_id),
        subject_id=e.subject_id,
        grantor_role=e.grantor_role,
        grantor_scope=e.grantor_scope,
        age_band_at_start=age_band(e.subject_birth_date, e.valid_from).value,
        method=e.method,
        purposes=e.purposes,
        recipient_org_ids=e.recipient_org_ids,
        recipient_kinds=e.recipient_kinds,
        categories=e.categories,
        valid_from=e.valid_from,
        valid_until=e.valid_until,
        recorded_by_org=e.recorded_by_org,
        occurred_at=e.recorded_at,
        discloser_org_ids=e.discloser_org_ids or [],
    )


def _registered(e: RegisterEntry.Registered) -> DisclosureRegisteredV1:
    primary = e.bases[0]
    return DisclosureRegisteredV1(
        register_entry_id=str(e.originator_id),
        decision_id=str(e.decision_id),
        at=e.at,
        subject_id=e.subject_id,
        discloser_org_id=e.discloser_org_id,
        recipient_org_id=e.recipient_org_id,
        categories=e.categories,
        purpose=e.purpose,
        route=primary["route"],
        article=primary["article"],
        bases=e.bases,
        obligations=e.obligations,
        regime=e.regime,
        occurred_at=e.recorded_at,
        reference=e.reference,
        disclosed_by=e.disclosed_by,
        regime_superseded=e.regime_superseded,
    )


def _outgoing(e: DomainEventProtocol[Any], topic: str, name: str, data: EventData) -> Outgoing:
    occurred_at: datetime = data.occurred_at  # type: ignore[attr-defined]
    return outgoing(e, "consent", name, topic, str(e.originator_id), occurred_at, data)
