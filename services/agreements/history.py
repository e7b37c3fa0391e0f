"""The change history of an agreement, read back from its stored events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.agreements.domain import EVENT_NAMES
from services.contract.codes import AgreementStatus

BY_FIELDS = (
    "drafted_by",
    "signed_by",
    "amended_by",
    "suspended_by",
    "resumed_by",
    "terminated_by",
    "renewed_by",
    "reviewed_by",
)


@dataclass(frozen=True)
class Change:
    """One change: what happened, when it took effect, who did it, and where it left the agreement."""

    revision: int
    event: str
    occurred_at: datetime
    by: str | None
    party: str | None
    note: str | None
    status: AgreementStatus
    version: int


def changes_of(events: Iterable[Any]) -> list[Change]:
    """Replays the events, noting after each one the status and the version of the terms."""
    agreement: Any = None
    changes = []
    for e in events:
        agreement = e.mutate(agreement)
        changes.append(
            Change(
                revision=e.originator_version,
                event=EVENT_NAMES[type(e)],
                occurred_at=e.occurred_at,
                by=next((getattr(e, f) for f in BY_FIELDS if hasattr(e, f)), None),
                party=getattr(e, "party", None),
                note=getattr(e, "reason", None) or getattr(e, "summary", None),
                status=agreement.status,
                version=agreement.terms_version,
            )
        )
    return changes
