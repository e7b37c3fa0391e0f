"""The auditors' own facts: every audit query is an `Inquiry` (who looked at what, when); a retired store id
acknowledged by a network auditor is a `StoreAcknowledgement` (who, when, why)."""

from __future__ import annotations

import uuid
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
    """`--regime` names no rule table, or several versions of it without `--regime-version` (`field`: `regime` or
    `regime_version`; the message never names the values given)."""

    def __init__(self, field: Literal["regime", "regime_version"], message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownServiceError(AuditError, ValueError):
    """A service to verify that has no event store here (a misspelt name verifies nothing: never a pass). The message
    lists the known services (public: the registry's), never the names given (`unknown`, for a caller who typed
    them)."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        super().__init__(f"a service given has no event store here; known services: {', '.join(known)}")
        self.unknown = unknown
        self.known = known


class UnknownApplicationError(AuditError, ValueError):
    """An acknowledgement names an application with no event store here (`field`: `application`; the message names
    the known ones, never the name given)."""

    def __init__(self, known: list[str]) -> None:
        super().__init__(f"no event store of this application here; known applications: {', '.join(known)}")
        self.field = "application"


class StoreNotRetiredError(AuditError, ValueError):
    """The store id of an acknowledgement is not shown to be retired (`field` names what is at fault, the message
    never the values given): it is the application's current one, no checkpoint of the application was published
    under it, or the application's store cannot be read (then which id is current is unknown)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class AcknowledgementReasonError(AuditError, ValueError):
    """An acknowledgement's reason is blank or longer than `REASON_MAX_LENGTH` (`field`: `reason`)."""

    def __init__(self) -> None:
        super().__init__(f"a reason is required: not blank, at most {REASON_MAX_LENGTH} characters")
        self.field = "reason"


class StoreAlreadyAcknowledgedError(AuditError):
    """The store id of this application was acknowledged already (acknowledgements are never replaced); the message
    names that acknowledgement, not the values given."""

    def __init__(self, application: str, store_id: str) -> None:
        acknowledgement_id = StoreAcknowledgement.create_id(application, store_id)
        super().__init__(f"this store id of this application is acknowledged already ({acknowledgement_id})")


class StoreUnavailableError(AuditError, RuntimeError):
    """The database of an application's event store did not answer (the kind of error, never data): which store id
    is current is unknown for now, and the request can be retried."""


class CheckpointsUnavailableError(AuditError, RuntimeError):
    """The published checkpoints could not be read (the kind of error, never data)."""


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
    ACKNOWLEDGE = "ACKNOWLEDGE"
    ACKNOWLEDGEMENTS = "ACKNOWLEDGEMENTS"


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


REASON_MAX_LENGTH = 2000
"""An acknowledgement's reason: free text, enough for a change ticket's reference and a few sentences."""
ACKNOWLEDGEMENT_NAMESPACE = uuid.UUID("9d1c2f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")


def checked_reason(reason: str) -> str:
    """The reason as given, if it is one (`AcknowledgementReasonError` otherwise)."""
    if not reason.strip() or len(reason) > REASON_MAX_LENGTH:
        raise AcknowledgementReasonError
    return reason


class StoreAcknowledgement(Aggregate):
    """A network auditor's word that a store id an application published checkpoints under was retired lawfully (a
    database re-installed, a planned move to a new store), and why. It covers the checkpoints published under that
    id when it was made (`checkpoints`, up to event `up_to_event`): a retired store publishes no more, so a later one
    is a finding again. One per application and store id (its id derives from them); never changed nor deleted."""

    class Made(Aggregate.Created):
        application: str
        store_id: str
        reason: str
        auditor: str
        org: str
        at: datetime
        checkpoints: int
        up_to_event: int

    @staticmethod
    def create_id(application: str, store_id: str) -> uuid.UUID:
        return uuid.uuid5(ACKNOWLEDGEMENT_NAMESPACE, f"{application}\x1f{store_id}")

    @event(Made)
    def __init__(
        self,
        application: str,
        store_id: str,
        reason: str,
        auditor: str,
        org: str,
        at: datetime,
        checkpoints: int,
        up_to_event: int,
    ) -> None:
        self.application = application
        self.store_id = store_id
        self.reason = reason
        self.auditor = auditor
        self.org = org
        self.at = at
        self.checkpoints = checkpoints
        self.up_to_event = up_to_event
