"""In-memory read model of the consent application's own event log: consents, restrictions, organisations and
agreement timelines (as observed from `rls.agreements.v1`), and the disclosure register.

It follows the notification log like the outbox relay does (any process sharing the event store sees the same),
and catches up before every read, so a decision always sees every withdrawal committed before it. The event store
serialises inserts (SQLite's single writer, PostgreSQL's table lock), so notification ids appear in order.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import get_topic

from services.consent.domain import (
    AgreementObserved,
    Consent,
    OrganisationObserved,
    Refusal,
    RegisterEntry,
    Restriction,
)
from services.consent.policy import (
    AgreementFact,
    ConsentFact,
    DecisionInput,
    Facts,
    OnBehalfFact,
    RefusalFact,
    RestrictionFact,
    age_band,
    start_of_local_day,
)
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    ConsentMethod,
    GrantorRole,
    InfoCategory,
    OrgKind,
    Purpose,
    RequesterRole,
    ServiceCode,
)

PAGE = 500


@dataclass(frozen=True)
class ConsentState:
    consent_id: str
    version: int
    subject_id: str
    subject_birth_date: date
    grantor_role: str
    grantor_mandate_ref: str | None
    grantor_scope: tuple[str, ...] | None
    method: str
    purposes: tuple[str, ...]
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[str, ...]
    categories: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    recorded_at: datetime
    recorded_by_org: str
    withdrawn_at: datetime | None = None
    withdrawal_recorded_at: datetime | None = None

    def fact(self, at: datetime) -> ConsentFact:
        return ConsentFact(
            consent_id=self.consent_id,
            grantor_role=GrantorRole(self.grantor_role),
            grantor_scope=None if self.grantor_scope is None else tuple(Purpose(p) for p in self.grantor_scope),
            age_band_at_start=age_band(self.subject_birth_date, self.valid_from),
            age_band_at_decision=age_band(self.subject_birth_date, at),
            method=ConsentMethod(self.method),
            purposes=tuple(Purpose(p) for p in self.purposes),
            recipient_org_ids=self.recipient_org_ids,
            recipient_kinds=tuple(OrgKind(k) for k in self.recipient_kinds),
            categories=tuple(InfoCategory(c) for c in self.categories),
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            withdrawn_at=self.withdrawn_at,
            given_at=min(self.valid_from, self.recorded_at),
        )


@dataclass(frozen=True)
class RestrictionState:
    restriction_id: str
    version: int
    subject_id: str
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[str, ...]
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    valid_from: datetime
    recorded_at: datetime
    recorded_by_org: str
    lifted_at: datetime | None = None

    def fact(self) -> RestrictionFact:
        return RestrictionFact(
            restriction_id=self.restriction_id,
            recipient_org_ids=self.recipient_org_ids,
            recipient_kinds=tuple(OrgKind(k) for k in self.recipient_kinds),
            purposes=tuple(Purpose(p) for p in self.purposes),
            categories=tuple(InfoCategory(c) for c in self.categories),
            valid_from=self.valid_from,
            lifted_at=self.lifted_at,
        )


@dataclass(frozen=True)
class RefusalState:
    refusal_id: str
    version: int
    subject_id: str
    requester_roles: tuple[str, ...]
    given_at: datetime
    document_ref: str | None
    recorded_at: datetime
    recorded_by_org: str
    withdrawn_at: datetime | None = None

    def fact(self) -> RefusalFact:
        return RefusalFact(
            refusal_id=self.refusal_id,
            requester_roles=tuple(RequesterRole(r) for r in self.requester_roles),
            given_at=self.given_at,
            withdrawn_at=self.withdrawn_at,
        )


@dataclass(frozen=True)
class RegisterRow:
    seq: int
    register_entry_id: str
    decision_id: str
    at: datetime
    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    categories: tuple[str, ...]
    purpose: str
    bases: tuple[dict[str, Any], ...]
    obligations: tuple[str, ...]
    regime: str
    justification: str | None
    reference: str | None
    disclosed_by: str | None
    regime_superseded: bool
    conditions: dict[str, Any]


@dataclass(frozen=True)
class RegisterQuery:
    subject_id: str | None = None
    discloser_org_id: str | None = None
    recipient_org_id: str | None = None
    from_: datetime | None = None
    to: datetime | None = None
    after: int = 0
    limit: int = 100


@dataclass(frozen=True)
class _Timed:
    """A state from `occurred_at` on; `seq` (arrival order) breaks ties."""

    occurred_at: datetime
    seq: int
    value: Any


def aware(moment: datetime) -> datetime:
    """A moment from upstream without an offset is UTC (CloudEvent times are)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Timeline:
    def __init__(self) -> None:
        self._items: list[_Timed] = []

    def add(self, occurred_at: datetime, seq: int, value: Any) -> None:
        bisect.insort(self._items, _Timed(aware(occurred_at), seq, value), key=lambda t: (t.occurred_at, t.seq))

    def at(self, moment: datetime) -> Any | None:
        """The value in force at `moment`: the last one that occurred at or before it."""
        index = bisect.bisect_right(self._items, moment, key=lambda t: t.occurred_at)
        return self._items[index - 1].value if index else None


HANDLED = {
    get_topic(cls)
    for cls in (
        Consent.Recorded,
        Consent.Withdrawn,
        Restriction.Recorded,
        Restriction.Lifted,
        Refusal.Recorded,
        Refusal.Withdrawn,
        RegisterEntry.Registered,
        OrganisationObserved.Observed,
        AgreementObserved.Observed,
    )
}


class ReadModel:
    """Everything decisions and queries read, rebuilt from the event log and kept up to date on each read."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any]) -> None:
        self._recorder = recorder
        self._mapper = mapper
        self._lock = threading.RLock()
        self.position = 0
        self._consents: dict[str, ConsentState] = {}
        self._consents_by_subject: dict[str, list[str]] = {}
        self._restrictions: dict[str, RestrictionState] = {}
        self._restrictions_by_subject: dict[str, list[str]] = {}
        self._refusals: dict[str, RefusalState] = {}
        self._refusals_by_subject: dict[str, list[str]] = {}
        self._org_kinds: dict[str, _Timeline] = {}
        self._agreements: dict[str, _Timeline] = {}
        self._agreements_by_party: dict[str, set[str]] = {}
        self._register: list[RegisterRow] = []
        self._observations = 0

    def catch_up(self) -> None:
        with self._lock:
            while True:
                notifications = self._recorder.select_notifications(
                    start=self.position, limit=PAGE, inclusive_of_start=False
                )
                for notification in notifications:
                    if notification.topic in HANDLED:
                        self._apply(self._mapper.to_domain_event(notification), notification.id)
                    self.position = notification.id
                if len(notifications) < PAGE:
                    return

    def _apply(self, e: Any, seq: int) -> None:
        if isinstance(e, Consent.Recorded):
            state = ConsentState(
                consent_id=str(e.originator_id),
                version=e.originator_version,
                subject_id=e.subject_id,
                subject_birth_date=e.subject_birth_date,
                grantor_role=e.grantor_role,
                grantor_mandate_ref=e.grantor_mandate_ref,
                grantor_scope=None if e.grantor_scope is None else tuple(e.grantor_scope),
                method=e.method,
                purposes=tuple(e.purposes),
                recipient_org_ids=tuple(e.recipient_org_ids),
                recipient_kinds=tuple(e.recipient_kinds),
                categories=tuple(e.categories),
                valid_from=e.valid_from,
                valid_until=e.valid_until,
                recorded_at=e.recorded_at,
                recorded_by_org=e.recorded_by_org,
            )
            self._consents[state.consent_id] = state
            self._consents_by_subject.setdefault(state.subject_id, []).append(state.consent_id)
        elif isinstance(e, Consent.Withdrawn):
            key = str(e.originator_id)
            self._consents[key] = dataclasses.replace(
                self._consents[key],
                version=e.originator_version,
                withdrawn_at=e.withdrawn_at,
                withdrawal_recorded_at=e.recorded_at,
            )
        elif isinstance(e, Restriction.Recorded):
            restriction = RestrictionState(
                restriction_id=str(e.originator_id),
                version=e.originator_version,
                subject_id=e.subject_id,
                recipient_org_ids=tuple(e.recipient_org_ids),
                recipient_kinds=tuple(e.recipient_kinds),
                purposes=tuple(e.purposes),
                categories=tuple(e.categories),
                valid_from=e.valid_from,
                recorded_at=e.recorded_at,
                recorded_by_org=e.recorded_by_org,
            )
            self._restrictions[restriction.restriction_id] = restriction
            self._restrictions_by_subject.setdefault(restriction.subject_id, []).append(restriction.restriction_id)
        elif isinstance(e, Restriction.Lifted):
            key = str(e.originator_id)
            self._restrictions[key] = dataclasses.replace(
                self._restrictions[key], version=e.originator_version, lifted_at=e.lifted_at
            )
        elif isinstance(e, Refusal.Recorded):
            refusal = RefusalState(
                refusal_id=str(e.originator_id),
                version=e.originator_version,
                subject_id=e.subject_id,
                requester_roles=tuple(e.requester_roles),
                given_at=e.given_at,
                document_ref=e.document_ref,
                recorded_at=e.recorded_at,
                recorded_by_org=e.recorded_by_org,
            )
            self._refusals[refusal.refusal_id] = refusal
            self._refusals_by_subject.setdefault(refusal.subject_id, []).append(refusal.refusal_id)
        elif isinstance(e, Refusal.Withdrawn):
            key = str(e.originator_id)
            self._refusals[key] = dataclasses.replace(
                self._refusals[key], version=e.originator_version, withdrawn_at=e.withdrawn_at
            )
        elif isinstance(e, RegisterEntry.Registered):
            self._register.append(
                RegisterRow(
                    seq=seq,
                    register_entry_id=str(e.originator_id),
                    decision_id=str(e.decision_id),
                    at=e.at,
                    subject_id=e.subject_id,
                    discloser_org_id=e.discloser_org_id,
                    recipient_org_id=e.recipient_org_id,
                    categories=tuple(e.categories),
                    purpose=e.purpose,
                    bases=tuple(e.bases),
                    obligations=tuple(e.obligations),
                    regime=e.regime,
                    justification=e.justification,
                    reference=e.reference,
                    disclosed_by=e.disclosed_by,
                    regime_superseded=e.regime_superseded,
                    conditions=dict(e.conditions),
                )
            )
        elif isinstance(e, OrganisationObserved.Observed):
            self._observations += 1
            self._org_kinds.setdefault(e.org_id, _Timeline()).add(e.occurred_at, seq, OrgKind(e.kind))
        elif isinstance(e, AgreementObserved.Observed):
            self._observations += 1
            fact = AgreementFact(
                agreement_id=e.agreement_id,
                kind=AgreementKind(e.kind),
                status=AgreementStatus(e.status),
                parties=tuple(e.parties),
                start=e.start,
                end=e.end,
                information_sharing=tuple(InfoCategory(c) for c in e.information_sharing),
                state_since=aware(e.occurred_at),
                on_behalf=tuple(
                    OnBehalfFact(o["of_org"], tuple(ServiceCode(x) for x in o["services"])) for o in e.on_behalf
                ),
            )
            self._agreements.setdefault(e.agreement_id, _Timeline()).add(e.occurred_at, seq, fact)
            for party in e.parties:
                self._agreements_by_party.setdefault(party, set()).add(e.agreement_id)

    # --- queries (each catches up first) ---------------------------------------------------------------------

    def consent(self, consent_id: str) -> ConsentState | None:
        self.catch_up()
        return self._consents.get(consent_id)

    def consents_of(self, subject_id: str) -> list[ConsentState]:
        self.catch_up()
        return [self._consents[c] for c in self._consents_by_subject.get(subject_id, [])]

    def restriction(self, restriction_id: str) -> RestrictionState | None:
        self.catch_up()
        return self._restrictions.get(restriction_id)

    def restrictions_of(self, subject_id: str) -> list[RestrictionState]:
        self.catch_up()
        return [self._restrictions[r] for r in self._restrictions_by_subject.get(subject_id, [])]

    def refusal(self, refusal_id: str) -> RefusalState | None:
        self.catch_up()
        return self._refusals.get(refusal_id)

    def refusals_of(self, subject_id: str) -> list[RefusalState]:
        self.catch_up()
        return [self._refusals[r] for r in self._refusals_by_subject.get(subject_id, [])]

    def observations(self) -> int:
        """How many upstream organisation and agreement events were applied (tests and /readyz use it)."""
        self.catch_up()
        return self._observations

    def org_kind_at(self, org_id: str, at: datetime) -> OrgKind | None:
        self.catch_up()
        return self._org_kind_at(org_id, at)

    def agreements_between(self, one: str, other: str, at: datetime) -> list[AgreementFact]:
        """Agreements linking both organisations in the state in force at `at` (none if not yet drafted then)."""
        self.catch_up()
        return self._agreements_between(one, other, at)

    def facts_for(self, request: DecisionInput, birth_date: date | None = None) -> Facts:
        """What the engine may know when deciding `request`: everything committed before this call. The person's
        age comes from `birth_date` (given with the request) or else the latest consent on file; only age bands
        leave this method."""
        with self._lock:
            self.catch_up()
            at = request.at
            consents = [self._consents[c] for c in self._consents_by_subject.get(request.subject_id, [])]
            restrictions = self._restrictions_by_subject.get(request.subject_id, [])
            refusals = self._refusals_by_subject.get(request.subject_id, [])
            born = birth_date or (consents[-1].subject_birth_date if consents else None)
            deceased_on = request.context.subject_deceased_on
            return Facts(
                recipient_kind=self._org_kind_at(request.recipient_org_id, at),
                consents=tuple(c.fact(at) for c in consents),
                agreements=tuple(self._agreements_between(request.discloser_org_id, request.recipient_org_id, at)),
                restrictions=tuple(self._restrictions[r].fact() for r in restrictions),
                discloser_kind=self._org_kind_at(request.discloser_org_id, at),
                subject_age_band=None if born is None else age_band(born, at),
                subject_age_band_at_death=(
                    None if born is None or deceased_on is None else age_band(born, start_of_local_day(deceased_on))
                ),
                refusals=tuple(self._refusals[r].fact() for r in refusals),
            )

    def _org_kind_at(self, org_id: str, at: datetime) -> OrgKind | None:
        timeline = self._org_kinds.get(org_id)
        kind: OrgKind | None = timeline.at(at) if timeline else None
        return kind

    def _agreements_between(self, one: str, other: str, at: datetime) -> list[AgreementFact]:
        found = []
        ids = self._agreements_by_party.get(one, set()) & self._agreements_by_party.get(other, set())
        for agreement_id in sorted(ids):
            fact: AgreementFact | None = self._agreements[agreement_id].at(at)
            if fact is not None and one in fact.parties and other in fact.parties:
                found.append(fact)
        return found

    def register(self, query: RegisterQuery) -> tuple[list[RegisterRow], int | None]:
        """Entries matching `query` after the cursor `query.after`; the next cursor when more remain."""
        with self._lock:
            self.catch_up()
            start = bisect.bisect_right(self._register, query.after, key=lambda r: r.seq)
            candidates = self._register[start:]
        found: list[RegisterRow] = []
        for row in candidates:
            if _matches(row, query):
                if len(found) == query.limit:
                    return found, found[-1].seq
                found.append(row)
        return found, None


def _matches(row: RegisterRow, query: RegisterQuery) -> bool:
    return (
        (query.subject_id is None or row.subject_id == query.subject_id)
        and (query.discloser_org_id is None or row.discloser_org_id == query.discloser_org_id)
        and (query.recipient_org_id is None or row.recipient_org_id == query.recipient_org_id)
        and (query.from_ is None or row.at >= query.from_)
        and (query.to is None or row.at < query.to)
    )
