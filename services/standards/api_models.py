"""Request and response models of the standards board API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.contract.infosocial_events import InfoSocialCallV1
from services.contract.standards_events import BoardRowV1, InfoSocialRowV1


class CallsReport(BaseModel):
    """Calls reported by a telephony system (a batch; each call idempotent by `call_id`)."""

    model_config = ConfigDict(extra="forbid")

    calls: list[InfoSocialCallV1] = Field(min_length=1, max_length=1000)


class CallsAccepted(BaseModel):
    accepted: int
    """Calls published on `rls.infosocial.calls.v1` (the board counts them within moments)."""


BoardRowPublic = BoardRowV1
InfoSocialRowPublic = InfoSocialRowV1
