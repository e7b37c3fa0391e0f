"""Consumed integration events -> one application command each (the envelope is decoded here, nowhere else): each
referral event of `rls.referral.v1` is routed to the subscriptions of the organisations it concerns, carrying the event
as partners may see it (`outbound.outgoing_event`)."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.persistence import Tracking
from pydantic import BaseModel, ConfigDict, Field

from services.common.consumer import Handler
from services.common.declared import names_declared_by
from services.common.envelope import CloudEvent
from services.contract.referral_events import EVENTS
from services.notifications.application import Notifications, RoutedEvent
from services.notifications.domain import ReferralFacts
from services.notifications.outbound import outgoing_event

REFERRAL_EVENT_PREFIX = "ca.qc.rls.referral."
REMINDER_TYPES = frozenset({"ca.qc.rls.referral.delay-at-risk.v1", "ca.qc.rls.referral.delay-breached.v1"})
"""Delay-standard clock events: reminders for the organisation that must act."""

DELIVERABLE_TYPES = frozenset(EVENTS)
"""The event types a subscription may filter on."""


class _Routing(BaseModel):
    """The part of a referral event routing and filters need (the rest is not read)."""

    model_config = ConfigDict(extra="ignore")

    referral_id: str = Field(min_length=1)
    from_org: str = Field(min_length=1)
    to_org: str = Field(min_length=1)
    redirected_from_org: str | None = None
    responsible_org: str | None = None
    urgency: str | None = None
    from_service: str | None = None
    to_service: str | None = None
    redirected_from_service: str | None = None
    responsible_service: str | None = None
    started_at: datetime | None = None


DECLARED = names_declared_by(_Routing)
"""The names of the models `handler` validates records against: the keys of a record its dead-letter reason may
show (any other is `<key>`)."""


def is_referral_event(event: CloudEvent) -> bool:
    return event.type.startswith(REFERRAL_EVENT_PREFIX)


def facts_of(event: CloudEvent) -> ReferralFacts:
    """Raises pydantic's ValidationError when the routing fields are missing (the consumer dead-letters it)."""
    routing = _Routing.model_validate(event.data)
    responsible = clock_service = started_at = None
    services = {routing.from_service, routing.to_service, routing.redirected_from_service}
    if event.type in REMINDER_TYPES:
        responsible = routing.responsible_org or routing.to_org
        # the clock's service: after a redirect, the previous receiver's, which the other fields no longer name
        # (absent from reminders published before the field: `Notifications.route` finds it, or leaves it unknown)
        clock_service, started_at = routing.responsible_service, routing.started_at
        services.add(clock_service)
    return ReferralFacts(
        referral_id=routing.referral_id,
        event_type=event.type,
        from_org=routing.from_org,
        to_org=routing.to_org,
        redirected_from_org=routing.redirected_from_org,
        responsible_org=responsible,
        urgency=routing.urgency,
        services=frozenset(s for s in services if s is not None),
        clock_service=clock_service,
        clock_started_at=started_at,
    )


def handler(notifications: Notifications) -> Handler:
    """Routes referral events once in effect; other types are only tracked."""

    def handle(event: CloudEvent, tracking: Tracking) -> None:
        if is_referral_event(event):
            routed = RoutedEvent(event.id, event.type, facts_of(event), outgoing_event(event))
            notifications.route(routed, tracking)

    return handle
