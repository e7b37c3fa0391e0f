"""A referral as the API shows it (`ReferralPublic`), and its JSON: what the referral view keeps in each row beside
the state (`views.ReferralView`), so that a page of referrals is read from the view, not rendered at each request.

`document` is the bytes FastAPI writes for a `ReferralPublic` response (pydantic's JSON, by alias), and `page` joins
documents into a `ReferralPage`'s JSON, the same bytes as the model's. `DOCUMENTS_VERSION` names the rendering: it is
part of the view's version, so a change of the public model rebuilds the view by itself (the schema's digest; the
number for a change of `ReferralPublic.of` that leaves the schema as it was).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from services.contract.codes import Accompaniment, Channel, ReferralStatus, ServiceCode, Urgency
from services.referral.domain import Referral


class PlanPublic(BaseModel):
    """An intervention plan: its term in meetings (never its content) and how many times it was revised."""

    planned_meetings: int
    revisions: int


class ReferralPublic(BaseModel):
    """A referral as its sender, its receiver and auditors see it (no record information)."""

    id: str
    status: ReferralStatus
    version: int
    subject_id: str
    from_org: str
    from_service: ServiceCode
    to_org: str
    to_service: ServiceCode
    channel: Channel
    urgency: Urgency
    reason_code: str
    accompaniment: Accompaniment
    agreement_id: str | None
    agreement_kind: str | None
    orientation_only: bool = Field(description="No agreement covers this referral: an orientation")
    submitted_at: datetime
    meetings: int = Field(description="Meetings the current receiving organisation recorded")
    intervention_plan: PlanPublic | None = Field(description="The current receiver's intervention plan, if set")
    history: list[dict[str, Any]]

    @classmethod
    def of(cls, r: Referral) -> ReferralPublic:
        return cls(
            id=str(r.id),
            status=r.status,
            version=r.version,
            subject_id=r.subject_id,
            from_org=r.from_org,
            from_service=r.from_service,
            to_org=r.to_org,
            to_service=r.to_service,
            channel=r.channel,
            urgency=r.urgency,
            reason_code=r.reason_code,
            accompaniment=r.accompaniment,
            agreement_id=r.agreement_id,
            agreement_kind=r.agreement_kind,
            orientation_only=r.agreement_id is None,
            submitted_at=r.submitted_at,
            meetings=r.meetings,
            intervention_plan=None if r.plan is None else PlanPublic(**r.plan.__dict__),
            history=[{"step": m.name, "at": m.at, "to_org": m.to_org, "to_service": m.to_service} for m in r.history],
        )


class ReferralPage(BaseModel):
    items: list[ReferralPublic]
    next_cursor: str | None


_DOCUMENT = TypeAdapter(ReferralPublic)
_CURSOR = TypeAdapter(str | None)

_SCHEMA = json.dumps(ReferralPage.model_json_schema(), sort_keys=True).encode()
DOCUMENTS_VERSION = f"1:{hashlib.sha256(_SCHEMA).hexdigest()[:16]}"
"""1: the first rendering kept in the view."""


def document(referral: Referral) -> bytes:
    """The referral's JSON as a response shows it."""
    return _DOCUMENT.dump_json(ReferralPublic.of(referral), by_alias=True)


def page(documents: Sequence[bytes], next_cursor: str | None) -> bytes:
    """A `ReferralPage`'s JSON of documents made by `document`: the bytes of the model's own JSON."""
    return b'{"items":[' + b",".join(documents) + b'],"next_cursor":' + _CURSOR.dump_json(next_cursor) + b"}"
