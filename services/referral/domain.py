"""The referral (référence): a personalised, direct recommendation of a person to a service."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from services.contract.codes import ReferralStatus

IDEMPOTENCY_NAMESPACE = uuid.UUID("2f8e0f3c-8a4b-4c1e-b6a5-6c1f0d2e7a90")


class ReferralError(Exception):
    """Base of the referral domain's errors."""


class ReferralNotFoundError(ReferralError):
    """No referral with this id is visible to the caller."""


class ReferralIdempotencyConflictError(ReferralError):
    """An Idempotency-Key was reused with a different request."""


def referral_id_for(from_org: str, idempotency_key: str | None) -> uuid.UUID:
    """A retried submission with the same key lands on the same referral."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{from_org}\x1f{idempotency_key}")


class Referral(Aggregate):
    """A person (pseudonymous `subject_id`) referred from one organisation's service to another's."""

    class Submitted(Aggregate.Created):
        subject_id: str
        from_org: str
        from_service: str
        to_org: str
        to_service: str
        channel: str
        urgency: str
        reason_code: str
        accompaniment: str
        agreement_id: str | None
        submitted_by: str
        submitted_at: datetime
        request_digest: str

    @event(Submitted)
    def __init__(
        self,
        id: uuid.UUID,
        subject_id: str,
        from_org: str,
        from_service: str,
        to_org: str,
        to_service: str,
        channel: str,
        urgency: str,
        reason_code: str,
        accompaniment: str,
        agreement_id: str | None,
        submitted_by: str,
        submitted_at: datetime,
        request_digest: str,
    ) -> None:
        self.subject_id = subject_id
        self.from_org = from_org
        self.from_service = from_service
        self.to_org = to_org
        self.to_service = to_service
        self.channel = channel
        self.urgency = urgency
        self.reason_code = reason_code
        self.accompaniment = accompaniment
        self.agreement_id = agreement_id
        self.submitted_by = submitted_by
        self.submitted_at = submitted_at
        self.request_digest = request_digest
        self.status = ReferralStatus.SUBMITTED.value

    def concerns(self, org_id: str) -> bool:
        """Whether `org_id` sent or received this referral."""
        return org_id in (self.from_org, self.to_org)
