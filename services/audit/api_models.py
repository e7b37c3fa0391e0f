"""Response bodies of the audit API (XPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

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
    """One audit query: who asked what, when, and what it gave (ids and scopes, never record information)."""

    position: int = Field(
        description="Its place in the trail the caller pages: its organisation's own numbering (an organisation's "
        "auditor) or the whole trail's (network auditors); the last of a page is the next page's `cursor`"
    )
    inquiry_id: str
    auditor: str
    org: str
    channel: str
    action: str
    target: str
    parameters: dict[str, str]
    at: datetime
    outcome: str
