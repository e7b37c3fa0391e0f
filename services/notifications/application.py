"""Notifications: routes referral events to per-organisation topics, once in effect."""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import BaseModel, ConfigDict

from services.common.envelope import CloudEvent
from services.common.eventstore import TrackedApplication
from services.notifications.domain import Dispatch, dispatch_id

REFERRAL_EVENT_PREFIX = "ca.qc.rls.referral."


class ReferralParties(BaseModel):
    """The part of a referral event routing needs (anti-corruption: the rest is passed through untouched)."""

    model_config = ConfigDict(extra="ignore")

    referral_id: str
    from_org: str
    to_org: str


class Notifications(TrackedApplication):
    name = "notifications"

    def route_referral_event(self, event: CloudEvent, tracking: Tracking) -> None:
        """Records where a referral event must go; a copy already routed is only tracked."""
        if not event.type.startswith(REFERRAL_EVENT_PREFIX):
            return
        parties = ReferralParties.model_validate(event.data)
        org_ids = sorted({parties.from_org, parties.to_org})
        dispatch = Dispatch(
            id=dispatch_id(event.id),
            referral_id=parties.referral_id,
            org_ids=org_ids,
            cloud_event=event.model_dump(mode="json", exclude_none=True),
        )
        try:
            self.record(dispatch, tracking=tracking)
        except IntegrityError:
            self.mark_processed(tracking)
