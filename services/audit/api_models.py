"""Response bodies of the audit API (XPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.audit.states import Kind
from services.audit.views import Axis


class StatePublic(BaseModel):
    """A referral, agreement or consent exactly as the history says it stood at `as_of`."""

    kind: Kind
    id: str
    as_of: datetime
    axis: Axis
    state: dict[str, Any]


class InquiryPublic(BaseModel):
    position: int
    inquiry_id: str
    auditor: str
    org: str
    channel: str
    action: str
    target: str
    parameters: dict[str, str]
    at: datetime
    outcome: str
