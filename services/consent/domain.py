"""Consent domain: consents and restrictions (event-sourced), decisions made, the disclosure register, and the
organisations and agreements observed from the agreements context.

History is never overwritten: a withdrawal is an event after the consent, not a change to it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.contract.ids import companion_id, id_for

NAMESPACE = uuid.UUID("c5b7a2f0-3d5e-4f8a-9b1c-7e2d4a6f8b03")


class ConsentError(Exception):
    """Base of the consent domain's errors."""


class ConsentNotFoundError(ConsentError):
    """No consent with this id."""


class ConsentAlreadyWithdrawnError(ConsentError):
    """The consent was already withdrawn; a withdrawal is recorded once."""


class RestrictionNotFoundError(ConsentError):
    """No restriction with this id."""


class RestrictionAlreadyLiftedError(ConsentError):
    """The restriction was already lifted."""


class RefusalNotFoundError(ConsentError):
    """No written refusal with this id."""


class RefusalAlreadyWithdrawnError(ConsentError):
    """The refusal was already withdrawn."""


class DecisionNotFoundError(ConsentError):
    """No decision with this id is visible to the caller."""


class ConsentVersionConflictError(ConsentError):
    """If-Match names another version than the current one."""


class ConsentIdempotencyConflictError(ConsentError):
    """An Idempotency-Key was reused with a different request."""


class ConsentTermsInvalidError(ConsentError):
    """Terms that cannot hold (an end before the start, a birth date in the future...); names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RecordLimitReachedError(ConsentError):
    """The organisation has as many consents, restrictions and refusals on file for the person as the service keeps
    for one organisation (decisions about the person read those their parties hold); names the field (`subject_id`)."""

    field = "subject_id"


class UnknownRegimeVersionError(ConsentError, LookupError):
    """No rule table with this regime and version is known to this build (it cannot re-evaluate that decision)."""


class RegimeSettingError(ConsentError, ValueError):
    """CONSENT_REGIME is not LSSSS_17_27_3, LRSSS or BY_DATE."""


def keyed_id(kind: str, org: str, idempotency_key: str | None) -> uuid.UUID:
    """A retried command with the same key lands on the same aggregate."""
    return id_for(NAMESPACE, idempotency_key, kind, org)


def register_entry_id_for(decision_id: uuid.UUID) -> uuid.UUID:
    """One register entry per disclosure decision, in its time order (`companion_id`)."""
    return companion_id(NAMESPACE, decision_id, "register")


def observation_id(upstream_event_id: str) -> uuid.UUID:
    """One observation per upstream event, however many copies Kafka delivers."""
    return uuid.uuid5(NAMESPACE, f"observed\x1f{upstream_event_id}")


def check_ending(
    ended_at: datetime | None, at: datetime, now: datetime, began: datetime, already: ConsentError
) -> None:
    """A withdrawal or a lift is recorded once, never dated in the future, nor before what it ends `began`: its
    start, or when it was given or recorded if that was earlier (one given ahead of its start can be ended before it
    starts). Dated earlier, it would erase the consent, restriction or refusal from the past, and a decision asked
    about a date it covered would no longer find it."""
    if ended_at is not None:
        raise already
    if at > now:
        raise ConsentTermsInvalidError("at", "cannot be in the future")
    if at < began:
        raise ConsentTermsInvalidError("at", f"cannot be before {began.isoformat()}, when it began")


def check_period(start: datetime, end: datetime | None, end_field: str) -> None:
    if end is not None and end <= start:
        raise ConsentTermsInvalidError(end_field, "must be after the start")


class Consent(Aggregate):
    """A consent given for a person (pseudonymous `subject_id`): by whom, how, for what, to whom, for how long."""

    class Recorded(Aggregate.Created):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 named no disclosers (none: the consent counts for the organisation that recorded it)."""
            state["discloser_org_ids"] = []

        subject_id: str
        subject_birth_date: date
        grantor_role: str
        grantor_mandate_ref: str | None
        grantor_scope: list[str] | None
        method: str
        purposes: list[str]
        recipient_org_ids: list[str]
        recipient_kinds: list[str]
        categories: list[str]
        valid_from: datetime
        valid_until: datetime | None
        recorded_by: str
        recorded_by_org: str
        recorded_at: datetime
        request_digest: str
        discloser_org_ids: list[str] | None

    class Withdrawn(Aggregate.Event):
        subject_id: str
        withdrawn_at: datetime
        reason: str | None
        withdrawn_by: str
        withdrawn_by_org: str
        recorded_at: datetime

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        subject_id: str,
        subject_birth_date: date,
        grantor_role: str,
        grantor_mandate_ref: str | None,
        grantor_scope: list[str] | None,
        method: str,
        purposes: list[str],
        recipient_org_ids: list[str],
        recipient_kinds: list[str],
        categories: list[str],
        valid_from: datetime,
        valid_until: datetime | None,
        recorded_by: str,
        recorded_by_org: str,
        recorded_at: datetime,
        request_digest: str,
        discloser_org_ids: list[str] | None = None,
    ) -> None:
        self.subject_id = subject_id
        self.subject_birth_date = subject_birth_date
        self.discloser_org_ids = list(discloser_org_ids or [])
        """Who the person authorises to communicate besides `recorded_by_org` (none: it alone)."""
        self.grantor_role = grantor_role
        self.grantor_mandate_ref = grantor_mandate_ref
        self.grantor_scope = grantor_scope
        self.method = method
        self.purposes = purposes
        self.recipient_org_ids = recipient_org_ids
        self.recipient_kinds = recipient_kinds
        self.categories = categories
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.recorded_by = recorded_by
        self.recorded_by_org = recorded_by_org
        self.recorded_at = recorded_at
        self.request_digest = request_digest
        self.withdrawn_at: datetime | None = None
        self.withdrawal_reason: str | None = None

    @staticmethod
    def check_terms(
        subject_birth_date: date, today: date, valid_from: datetime, first_day: date, valid_until: datetime | None
    ) -> None:
        """`first_day`: the calendar day of `valid_from` where the person's birth date is a day (Québec)."""
        if subject_birth_date > today:
            raise ConsentTermsInvalidError("subject_birth_date", "is in the future")
        if first_day < subject_birth_date:
            raise ConsentTermsInvalidError("valid_from", "is before the person's birth date")
        check_period(valid_from, valid_until, "valid_until")

    def withdraw(self, at: datetime, reason: str | None, by: str, by_org: str, now: datetime) -> None:
        """Stops future disclosures under this consent from `at` on; past ones stay as they were."""
        already = ConsentAlreadyWithdrawnError("this consent was already withdrawn")
        check_ending(self.withdrawn_at, at, now, min(self.valid_from, self.recorded_at), already)
        self._withdraw(self.subject_id, at, reason, by, by_org, now)

    @event(Withdrawn)
    def _withdraw(
        self,
        subject_id: str,
        withdrawn_at: datetime,
        reason: str | None,
        withdrawn_by: str,
        withdrawn_by_org: str,
        recorded_at: datetime,
    ) -> None:
        self.withdrawn_at = withdrawn_at
        self.withdrawal_reason = reason


class Restriction(Aggregate):
    """A person's restriction or refusal (LRSSS ss. 7-8): described categories denied to some recipients or purposes."""

    class Recorded(Aggregate.Created):
        subject_id: str
        recipient_org_ids: list[str]
        recipient_kinds: list[str]
        purposes: list[str]
        categories: list[str]
        valid_from: datetime
        recorded_by: str
        recorded_by_org: str
        recorded_at: datetime
        request_digest: str

    class Lifted(Aggregate.Event):
        subject_id: str
        lifted_at: datetime
        lifted_by: str
        recorded_at: datetime

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        subject_id: str,
        recipient_org_ids: list[str],
        recipient_kinds: list[str],
        purposes: list[str],
        categories: list[str],
        valid_from: datetime,
        recorded_by: str,
        recorded_by_org: str,
        recorded_at: datetime,
        request_digest: str,
    ) -> None:
        self.subject_id = subject_id
        self.recipient_org_ids = recipient_org_ids
        self.recipient_kinds = recipient_kinds
        self.purposes = purposes
        self.categories = categories
        self.valid_from = valid_from
        self.recorded_by = recorded_by
        self.recorded_by_org = recorded_by_org
        self.recorded_at = recorded_at
        self.request_digest = request_digest
        self.lifted_at: datetime | None = None

    def lift(self, at: datetime, by: str, now: datetime) -> None:
        """Ends the restriction from `at` on: not before it began (its start, or when it was recorded if earlier)."""
        already = RestrictionAlreadyLiftedError("this restriction was already lifted")
        check_ending(self.lifted_at, at, now, min(self.valid_from, self.recorded_at), already)
        self._lift(self.subject_id, at, by, now)

    @event(Lifted)
    def _lift(self, subject_id: str, lifted_at: datetime, lifted_by: str, recorded_at: datetime) -> None:
        self.lifted_at = lifted_at


class Refusal(Aggregate):
    """A person's written refusal that relatives in some roles be told of their death (art. 23, LRSSS s. 8)."""

    class Recorded(Aggregate.Created):
        subject_id: str
        requester_roles: list[str]
        given_at: datetime
        document_ref: str | None
        recorded_by: str
        recorded_by_org: str
        recorded_at: datetime
        request_digest: str

    class Withdrawn(Aggregate.Event):
        subject_id: str
        withdrawn_at: datetime
        withdrawn_by: str
        recorded_at: datetime

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        subject_id: str,
        requester_roles: list[str],
        given_at: datetime,
        document_ref: str | None,
        recorded_by: str,
        recorded_by_org: str,
        recorded_at: datetime,
        request_digest: str,
    ) -> None:
        self.subject_id = subject_id
        self.requester_roles = requester_roles
        self.given_at = given_at
        self.document_ref = document_ref
        self.recorded_by = recorded_by
        self.recorded_by_org = recorded_by_org
        self.recorded_at = recorded_at
        self.request_digest = request_digest
        self.withdrawn_at: datetime | None = None

    def withdraw(self, at: datetime, by: str, now: datetime) -> None:
        """The person changed their mind while alive (a refusal withdrawn after the death changes nothing)."""
        already = RefusalAlreadyWithdrawnError("this refusal was already withdrawn")
        check_ending(self.withdrawn_at, at, now, min(self.given_at, self.recorded_at), already)
        self._withdraw(self.subject_id, at, by, now)

    @event(Withdrawn)
    def _withdraw(self, subject_id: str, withdrawn_at: datetime, withdrawn_by: str, recorded_at: datetime) -> None:
        self.withdrawn_at = withdrawn_at


class DecisionRecord(Aggregate):
    """A decision as made: its input, the facts it used and its result (JSON), so that it can be re-evaluated."""

    class Made(Aggregate.Created):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 kept no justification."""
            state["justification"] = None

        kind: str
        input: dict[str, Any]
        facts: dict[str, Any]
        result: dict[str, Any]
        decided_at: datetime
        requested_by: str
        requested_by_org: str
        request_digest: str
        register_entry_id: uuid.UUID | None
        justification: str | None

    @event(Made)
    def __init__(
        self,
        id: uuid.UUID,
        kind: str,
        input: dict[str, Any],
        facts: dict[str, Any],
        result: dict[str, Any],
        decided_at: datetime,
        requested_by: str,
        requested_by_org: str,
        request_digest: str,
        register_entry_id: uuid.UUID | None,
        justification: str | None,
    ) -> None:
        self.kind = kind
        self.input = input
        self.facts = facts
        self.result = result
        self.decided_at = decided_at
        self.requested_by = requested_by
        self.requested_by_org = requested_by_org
        self.request_digest = request_digest
        self.register_entry_id = register_entry_id
        self.justification = justification


class RegisterEntry(Aggregate):
    """An entry of the disclosure register: who received what, when, why and under which article, on which
    reference (consent, agreement, mandate, order, danger assessment), the conditions stated and who disclosed."""

    class Registered(Aggregate.Created):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 named the article only."""
            state.update(justification=None, reference=None, disclosed_by=None, regime_superseded=False, conditions={})

        decision_id: uuid.UUID
        at: datetime
        subject_id: str
        discloser_org_id: str
        recipient_org_id: str
        categories: list[str]
        purpose: str
        bases: list[dict[str, Any]]
        obligations: list[str]
        regime: str
        recorded_at: datetime
        justification: str | None
        reference: str | None
        disclosed_by: str | None
        regime_superseded: bool
        conditions: dict[str, Any]

    @event(Registered)
    def __init__(
        self,
        id: uuid.UUID,
        decision_id: uuid.UUID,
        at: datetime,
        subject_id: str,
        discloser_org_id: str,
        recipient_org_id: str,
        categories: list[str],
        purpose: str,
        bases: list[dict[str, Any]],
        obligations: list[str],
        regime: str,
        recorded_at: datetime,
        justification: str | None,
        reference: str | None,
        disclosed_by: str | None,
        regime_superseded: bool,
        conditions: dict[str, Any],
    ) -> None:
        self.decision_id = decision_id
        self.at = at
        self.subject_id = subject_id
        self.discloser_org_id = discloser_org_id
        self.recipient_org_id = recipient_org_id
        self.categories = categories
        self.purpose = purpose
        self.bases = bases
        self.obligations = obligations
        self.regime = regime
        self.recorded_at = recorded_at
        self.justification = justification
        self.reference = reference
        self.disclosed_by = disclosed_by
        self.regime_superseded = regime_superseded
        self.conditions = conditions


class OrganisationObserved(Aggregate):
    """An organisation as the agreements context described it at `occurred_at` (one per upstream event)."""

    class Observed(Aggregate.Created):
        upstream_event_id: str
        org_id: str
        kind: str
        occurred_at: datetime

    @event(Observed)
    def __init__(self, id: uuid.UUID, upstream_event_id: str, org_id: str, kind: str, occurred_at: datetime) -> None:
        self.upstream_event_id = upstream_event_id
        self.org_id = org_id
        self.kind = kind
        self.occurred_at = occurred_at


class AgreementObserved(Aggregate):
    """An agreement's whole state after a change, from `occurred_at` on (one per upstream event)."""

    class Observed(Aggregate.Created):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 did not know which services are provided on whose behalf (none are)."""
            state["on_behalf"] = []

        upstream_event_id: str
        upstream_type: str
        agreement_id: str
        kind: str
        status: str
        parties: list[str]
        start: date
        end: date | None
        information_sharing: list[str]
        occurred_at: datetime
        on_behalf: list[dict[str, Any]]

    @event(Observed)
    def __init__(
        self,
        id: uuid.UUID,
        upstream_event_id: str,
        upstream_type: str,
        agreement_id: str,
        kind: str,
        status: str,
        parties: list[str],
        start: date,
        end: date | None,
        information_sharing: list[str],
        occurred_at: datetime,
        on_behalf: list[dict[str, Any]],
    ) -> None:
        self.upstream_event_id = upstream_event_id
        self.upstream_type = upstream_type
        self.agreement_id = agreement_id
        self.kind = kind
        self.status = status
        self.parties = parties
        self.start = start
        self.end = end
        self.information_sharing = information_sharing
        self.occurred_at = occurred_at
        self.on_behalf = on_behalf
