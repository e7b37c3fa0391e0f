"""The anti-corruption layer: referral CloudEvents in, the events partners receive out.

What leaves this service is the upstream event with its `data` reduced to the fields the public contract
declares for that type (`services/contract/referral_events.py`): ids, codes, statuses, times and the link to
the information endpoint. A field the contract does not declare (record information added upstream by mistake,
say) is dropped, never forwarded.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.envelope import CloudEvent
from services.contract.referral_events import EVENTS
from services.notifications.domain import ReferralFacts

REFERRAL_EVENT_PREFIX = "ca.qc.rls.referral."
REMINDER_TYPES = frozenset({"ca.qc.rls.referral.delay-at-risk.v1", "ca.qc.rls.referral.delay-breached.v1"})
"""Delay-standard clock events: reminders for the organisation that must act."""

DELIVERABLE_TYPES = frozenset(EVENTS)
"""The event types a subscription may filter on."""

_FIELDS_BY_TYPE = {type_: frozenset(model.model_fields) for type_, model in EVENTS.items()}
_ANY_REFERRAL_FIELDS = frozenset().union(*_FIELDS_BY_TYPE.values())


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


def is_referral_event(event: CloudEvent) -> bool:
    return event.type.startswith(REFERRAL_EVENT_PREFIX)


def facts_of(event: CloudEvent) -> ReferralFacts:
    """Raises pydantic's ValidationError when the routing fields are missing (the consumer dead-letters it)."""
    routing = _Routing.model_validate(event.data)
    responsible = None
    if event.type in REMINDER_TYPES:
        responsible = routing.responsible_org or routing.to_org
    services = {routing.from_service, routing.to_service, routing.redirected_from_service} - {None}
    return ReferralFacts(
        referral_id=routing.referral_id,
        event_type=event.type,
        from_org=routing.from_org,
        to_org=routing.to_org,
        redirected_from_org=routing.redirected_from_org,
        responsible_org=responsible,
        urgency=routing.urgency,
        services=frozenset(s for s in services if s is not None),
    )


def outgoing_event(event: CloudEvent) -> dict[str, Any]:
    """The CloudEvent partners receive (same id, type, source and times), as a JSON document."""
    allowed = _FIELDS_BY_TYPE.get(event.type, _ANY_REFERRAL_FIELDS)
    data = {name: value for name, value in event.data.items() if name in allowed}
    return event.model_copy(update={"data": data}).model_dump(mode="json", exclude_none=True)
