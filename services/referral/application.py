"""Referrals: the only write path of the referral service."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.common.clock import Clock, system_clock
from services.common.eventstore import TrackedApplication
from services.referral.domain import (
    Referral,
    ReferralIdempotencyConflictError,
    ReferralNotFoundError,
    referral_id_for,
)


@dataclass(frozen=True)
class Submission:
    """What a worker submits; validated at the edge, trusted here."""

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

    def digest(self) -> str:
        """Fingerprint used to tell a retried request from a different one reusing its key."""
        canonical = json.dumps(self.__dict__, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class Referrals(TrackedApplication):
    """Submits and tracks referrals."""

    name = "referrals"

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = system_clock) -> None:
        super().__init__(env)
        self.clock = clock

    def submit(self, submission: Submission, submitted_by: str, idempotency_key: str | None) -> tuple[Referral, bool]:
        """Returns the referral and whether this call created it (False: an idempotent retry)."""
        referral_id = referral_id_for(submission.from_org, idempotency_key)
        digest = submission.digest()
        existing = self._find(referral_id)
        if existing is not None:
            if existing.request_digest != digest:
                raise ReferralIdempotencyConflictError("this Idempotency-Key was used for a different referral")
            return existing, False
        referral = Referral(
            id=referral_id,
            submitted_by=submitted_by,
            submitted_at=self.clock(),
            request_digest=digest,
            **submission.__dict__,
        )
        try:
            self.record(referral)
        except IntegrityError:  # a concurrent retry with the same key won the race
            return self.submit(submission, submitted_by, idempotency_key)
        return referral, True

    def get_referral(self, referral_id: uuid.UUID) -> Referral:
        referral = self._find(referral_id)
        if referral is None:
            raise ReferralNotFoundError("no such referral")
        return referral

    def _find(self, referral_id: uuid.UUID) -> Referral | None:
        try:
            referral: Referral = self.repository.get(referral_id)
            return referral
        except AggregateNotFoundError:
            return None
