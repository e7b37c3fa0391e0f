"""Payloads of the standards board (`rls.standards.board.v1`, compacted: one record per row, the latest kept).

The board is computed by the standards service from the referral, Info-Social call and directory topics; it owns
no truth and is rebuilt from them. Record keys: `board|<org>|<service>|<standard>|<period>|<bucket>`,
`infosocial|<region>|<period>|<bucket>`, `hours|<org>|<service>`; a row that no longer counts anything is deleted
(a record with no value). Counts and times only: nothing about any person.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from services.contract.agreements_events import ServiceHoursV1
from services.contract.base import EventData
from services.contract.codes import ServiceCode


class BoardRowV1(EventData):
    """One standard for one organisation's service over one day or month: the cases decided in it (clocks started,
    episodes begun, days of hours), met or breached."""

    org: str
    service: ServiceCode
    standard: str
    """A delay standard (`AAOR_CALLBACK`, …), a duration standard (`AAOR_MEETINGS`, `CONSULT_MEETINGS`,
    `CONSULT_PLAN`) or an hours standard (`AAOR_HOURS_PHONE`, `AAOR_HOURS_IN_PERSON`, `HOURS_24_7`,
    `CONSULT_HOURS`)."""
    period: Literal["DAY", "MONTH"]
    bucket: str
    """`2026-03-14` (DAY) or `2026-03` (MONTH), local time of the board's zone."""
    total: int = Field(ge=0)
    met: int = Field(ge=0)
    breached: int = Field(ge=0)
    pct_met: float | None = None


class InfoSocialRowV1(EventData):
    """Info-Social 8-1-1 calls of one region offered in one hour, day or month, and how fast they were answered."""

    region: str
    period: Literal["HOUR", "DAY", "MONTH"]
    bucket: str
    """`2026-03-14T09:00:00-04:00` (HOUR), `2026-03-14` (DAY) or `2026-03` (MONTH), local time."""
    offered: int = Field(ge=0)
    answered: int = Field(ge=0)
    abandoned: int = Field(ge=0)
    answered_within_240s: int = Field(ge=0)
    """Answered within the bound (`answer_within_s`, 240 s by default)."""
    pct_within_240s: float | None = None
    """`answered_within_240s` over the calls answered or abandoned (an abandoned call was not answered in time), in
    per cent rounded to one decimal."""
    p90_wait_s: int | None = None
    """90th percentile of the answered calls' waits, in whole seconds."""
    answer_within_s: int = Field(ge=1)
    target_pct: float
    target_met: bool | None = None
    """`answered_within_240s` ≥ `target_pct` % of the calls answered or abandoned, from the exact counts, not the
    rounded `pct_within_240s` (8,999 of 10,000 shows 90.0 and is not met); None when no call was decided."""


class HoursInForceV1(EventData):
    """Every schedule one organisation declared for one service (the days conforming to the hours standards are
    counted from them when the board is read), none if it declared none."""

    org_id: str
    service: ServiceCode
    schedules: list[ServiceHoursV1]
    offered_from: date | None = None
    """The day (`STANDARDS_TIMEZONE`) the organisation offers the service from: its registration in the directory.
    From it, a day with no schedule in force meets no hours standard. None: the registration was not read (the days
    are then counted from the Monday of the first schedule's week)."""


EVENTS: dict[str, type[EventData]] = {
    "ca.qc.rls.standards.row.v1": BoardRowV1,
    "ca.qc.rls.standards.infosocial-row.v1": InfoSocialRowV1,
    "ca.qc.rls.standards.hours-in-force.v1": HoursInForceV1,
}
