"""Payloads of Info-Social 8-1-1 call events (`rls.infosocial.calls.v1`).

Telephony systems report each call: ids and times only. Nothing identifies the caller — callers may stay anonymous,
and an anonymous call stays so on the platform (`anonymous` is a flag, never a name or a number). The record's key is
the call's `region`: one partition holds all of a region's calls, so one worker of the standards board owns its rows.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from services.contract.base import EventData

CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
"""A region code (the socio-sanitary region, e.g. `03` or `capitale-nationale`)."""


class InfoSocialCallV1(EventData):
    """One call to Info-Social 8-1-1: offered, then answered or abandoned, then ended.

    A call may be reported while it waits (only `offered_at`) and again once it is answered or abandoned: reports of
    one `call_id` merge, each time known once kept."""

    call_id: str = Field(pattern=CALL_ID_PATTERN)
    """The telephony system's id of the call (reporting it twice counts it once)."""
    region: str = Field(pattern=REGION_PATTERN)
    offered_at: AwareDatetime
    """When the call reached the line (the wait starts)."""
    answered_at: AwareDatetime | None = None
    """When a professional answered (the wait ends)."""
    abandoned_at: AwareDatetime | None = None
    """When the caller hung up before an answer."""
    ended_at: AwareDatetime | None = None
    anonymous: bool
    """The caller did not give their identity (nothing about them may be shared)."""
    referral_id: str | None = Field(None, pattern=CALL_ID_PATTERN)
    """The referral the call led to, if any."""

    @field_validator("answered_at", "abandoned_at", "ended_at")
    @classmethod
    def _after_the_offer(cls, at: datetime | None, info: ValidationInfo) -> datetime | None:
        """Times follow the call: nothing before the offer, an end after the answer, an answer or an abandon."""
        offered, answered = info.data.get("offered_at"), info.data.get("answered_at")
        if at is None:
            return at
        if offered is not None and at < offered:
            raise ValueError("before offered_at")
        if info.field_name == "abandoned_at" and answered is not None:
            raise ValueError("a call is either answered or abandoned")
        if info.field_name == "ended_at" and answered is not None and at < answered:
            raise ValueError("before answered_at")
        return at


EVENTS: dict[str, type[EventData]] = {
    "ca.qc.rls.infosocial.call-reported.v1": InfoSocialCallV1,
}
