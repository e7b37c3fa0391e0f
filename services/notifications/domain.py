"""Delivery of referral events to the organisations they concern."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

DISPATCH_NAMESPACE = uuid.UUID("9a7d8c55-3f0e-4b6e-8d2b-1f4c2a7e5b13")


def dispatch_id(upstream_event_id: str) -> uuid.UUID:
    """One dispatch per upstream event, whatever the number of copies Kafka delivers."""
    return uuid.uuid5(DISPATCH_NAMESPACE, upstream_event_id)


class Dispatch(Aggregate):
    """One upstream referral event routed to each organisation it concerns (sender and receiver)."""

    class Routed(Aggregate.Created):
        referral_id: str
        org_ids: list[str]
        cloud_event: dict[str, Any]

    @event(Routed)
    def __init__(
        self,
        id: uuid.UUID,
        referral_id: str,
        org_ids: list[str],
        cloud_event: dict[str, Any],
    ) -> None:
        self.referral_id = referral_id
        self.org_ids = org_ids
        self.cloud_event = cloud_event
