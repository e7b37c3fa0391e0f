"""Dispatch events -> the same CloudEvent on each concerned organisation's topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from services.common.envelope import CloudEvent
from services.common.kafka import Outgoing
from services.contract.topics import org_referrals
from services.notifications.domain import Dispatch


def dispatch_messages(domain_event: DomainEventProtocol[Any]) -> Sequence[Outgoing]:
    if not isinstance(domain_event, Dispatch.Routed):
        return []
    event = CloudEvent.model_validate(domain_event.cloud_event)
    return [Outgoing(org_referrals(org), domain_event.referral_id, event) for org in domain_event.org_ids]
