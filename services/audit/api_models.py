"""Request and response bodies of the audit API (XCreate / XPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.audit.acknowledgements import AcknowledgementEntry
from services.audit.domain import REASON_MAX_LENGTH
from services.audit.states import Kind
from services.audit.views import Axis


class StatePublic(BaseModel):
    """A referral, agreement or consent exactly as the history says it stood at `as_of`."""

    kind: Kind
    id: str
    as_of: datetime
    axis: Axis
    state: dict[str, Any]
    shown_until: datetime | None = Field(
        None,
        description="A referral read by the auditors of an organisation that received it and redirected it away: "
        "when that redirection took effect, the state shown being as it stood then (what came after happened at "
        "other organisations), with the delay flags of that organisation's own clocks flagged since; null when the "
        "state is shown whole",
    )


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


class AcknowledgementCreate(BaseModel):
    """A retired store id of an application, acknowledged: a re-installed database, a planned move to a new store."""

    model_config = ConfigDict(extra="forbid")

    application: str = Field(
        min_length=1, max_length=100, description="The application, as `GET /v1/integrity` names it (`application`)"
    )
    store_id: str = Field(
        min_length=1,
        max_length=100,
        description="A retired store id: one the application published checkpoints under, not its current one",
    )
    reason: str = Field(
        min_length=1,
        max_length=REASON_MAX_LENGTH,
        pattern=r"\S",
        description="Why the store was replaced (a change ticket, the migration); kept, never logged (not blank)",
    )


class AcknowledgementPublic(BaseModel):
    """A retired store id acknowledged: by whom, when, why, and the checkpoints it covers (those published under it
    when it was made; a later one is a finding again)."""

    id: str
    application: str
    store_id: str
    reason: str
    auditor: str
    org: str
    at: datetime
    checkpoints: int
    up_to_event: int = Field(description="The last event a covered checkpoint sealed")

    @classmethod
    def of(cls, entry: AcknowledgementEntry) -> AcknowledgementPublic:
        fields = {name: value for name, value in entry.__dict__.items() if name != "acknowledgement_id"}
        return cls(id=entry.acknowledgement_id, **fields)
