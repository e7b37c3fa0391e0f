"""The auditors' own trail: every audit query is an `Inquiry` (who looked at what, when)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from eventsourcing.domain import Aggregate, event


class AuditError(Exception):
    """Base of the audit service's errors."""


class MomentError(AuditError, ValueError):
    """Not a date (YYYY-MM-DD) nor an ISO 8601 date-time with an offset, or a moment out of the calendar's range."""


class PeriodError(MomentError):
    """A period's `start` or `end` (`bound`) is not a moment, or the period does not start before it ends (`start`)."""

    def __init__(self, bound: Literal["start", "end"], message: str) -> None:
        super().__init__(message)
        self.bound = bound


class RuleTableUnavailableError(AuditError, LookupError):
    """The consent service has no rule table with this regime and version (it cannot re-evaluate that decision)."""


class EvaluationRefusedError(AuditError, PermissionError):
    """The consent service refused the caller the evaluation of one decision (403): that decision is listed with the
    error, the others are re-checked."""


class ConsentUnavailableError(AuditError, RuntimeError):
    """The consent service did not answer an evaluation (status and problem type, never the input)."""


class WhatIfRegimeError(AuditError, ValueError):
    """`--regime` names no rule table, or several versions of it without `--regime-version`."""


class UnknownServiceError(AuditError, ValueError):
    """A service to verify that has no event store here (a misspelt name verifies nothing: never a pass)."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        super().__init__(f"no event store of {', '.join(unknown)}; known services: {', '.join(known)}")
        self.unknown = unknown
        self.known = known


class Channel(StrEnum):
    """Where an audit query came from."""

    REST = "REST"
    CLI = "CLI"


class Action(StrEnum):
    """What an auditor did."""

    REPLAY = "REPLAY"
    STATE = "STATE"
    VERIFY = "VERIFY"
    RECHECK = "RECHECK"
    REPORT = "REPORT"
    TRAIL = "TRAIL"
    REPLAY_STATUS = "REPLAY_STATUS"


class Inquiry(Aggregate):
    """One audit query, recorded before it runs (so a query that fails or crashes is on the trail too), then
    answered with its outcome. Its target is an id (a referral, an agreement, a consent) or a scope (a period, a
    store); never record information."""

    class Made(Aggregate.Created):
        auditor: str
        org: str
        channel: str
        action: str
        target: str
        parameters: dict[str, str]
        at: datetime
        outcome: str

    class Answered(Aggregate.Event):
        outcome: str
        at: datetime

    @event(Made)
    def __init__(
        self,
        auditor: str,
        org: str,
        channel: str,
        action: str,
        target: str,
        parameters: dict[str, str],
        at: datetime,
        outcome: str,
    ) -> None:
        self.auditor = auditor
        self.org = org
        self.channel = Channel(channel)
        self.action = Action(action)
        self.target = target
        self.parameters = parameters
        self.at = at
        self.outcome = outcome

    @event(Answered)
    def answer(self, outcome: str, at: datetime) -> None:
        """`OK`, `NOT_FOUND`, `FAILED` or `FAILED: <what>` (a kind of error, never data)."""
        self.outcome = outcome
