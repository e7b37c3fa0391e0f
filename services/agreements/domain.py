"""Directory of organisations and the agreements (ententes) between them.

Time is always given (`now`, `occurred_at`): nothing here reads the clock. A transition that falls due by
itself (activation at the start date, expiry after the end date, a review falling due) is applied by
`Agreement.advance(now)` with the time it was due, however late `advance` runs.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.agreements.terms import (
    COMMUNITY_KIND,
    DEFAULT_ZONE,
    FIRST_DAY,
    INSTITUTION_KINDS,
    LAST_DAY,
    Terms,
    add_months,
    agreement_year,
    local_date,
    local_midnight,
    out_of_range,
)
from services.contract.codes import AgreementKind, AgreementStatus
from services.contract.hours_standards import (
    HOURS_STANDARDS,
    WEEKLY_STANDARDS,
    HoursPolicy,
    ScheduleRecord,
    week_conforms,
    week_openings,
    weekly_offer,
)
from services.contract.ids import id_for


class AgreementsError(Exception):
    """Base of the agreements domain's errors."""

    field: str | None = None


class OrganisationNotFoundError(AgreementsError):
    """No organisation with this id."""


class OrganisationExistsError(AgreementsError):
    """An organisation with this id is already registered."""


class AgreementNotFoundError(AgreementsError):
    """No agreement with this id (or no such version of its terms)."""


class InvalidFieldError(AgreementsError):
    """A request breaks a rule (named by `field`); nothing was recorded."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AgreementInvalidError(InvalidFieldError):
    """The agreement breaks a rule of its kind."""


class ServiceHoursInvalidError(InvalidFieldError):
    """Service hours break a rule (a service the organisation does not offer, an exception's date twice, an
    `effective_from` before the week under way)."""


class AgreementTransitionError(AgreementsError):
    """The agreement's status does not allow this change (signing twice, resuming an active agreement, …)."""


class AgreementNotPartyError(AgreementsError):
    """The caller's organisation is not a party to the agreement."""


class AgreementSuspendedByOtherError(AgreementsError):
    """The suspension of an agreement is lifted only by the organisation that suspended it."""


class AgreementRevisionConflictError(AgreementsError):
    """`If-Match` named a revision that is not the agreement's current one."""


class ProposalConflictError(AgreementsError):
    """A signature or a refusal names a proposal that is not the pending one (it was replaced, lapsed, declined or
    took effect)."""


class AgreementIdempotencyConflictError(AgreementsError):
    """An Idempotency-Key was reused with a different agreement."""


DRAFT, SIGNED, ACTIVE = AgreementStatus.DRAFT, AgreementStatus.SIGNED, AgreementStatus.ACTIVE
SUSPENDED, TERMINATED, EXPIRED = AgreementStatus.SUSPENDED, AgreementStatus.TERMINATED, AgreementStatus.EXPIRED
IN_FORCE = frozenset({ACTIVE, SUSPENDED})

ALLOWED_FROM: dict[str, frozenset[AgreementStatus]] = {
    "sign": frozenset({DRAFT}),
    "amend": frozenset({DRAFT, SIGNED, ACTIVE, SUSPENDED}),
    "suspend": frozenset({ACTIVE}),
    "resume": frozenset({SUSPENDED}),
    "terminate": frozenset({DRAFT, SIGNED, ACTIVE, SUSPENDED}),
    "renew": frozenset({ACTIVE, SUSPENDED, EXPIRED}),
    "review": frozenset({ACTIVE, SUSPENDED}),
}
"""The status machine: the statuses each command is accepted in (any other → AgreementTransitionError)."""

PROPOSED_BY: dict[str, str] = {"amended": "amend", "renewed": "renew"}
"""The command proposing each change of a signed agreement's terms: a proposal lapses in a status it refuses."""

MAX_REVIEW_MONTHS = 60
"""The longest interval between two reviews of an agreement (five years)."""

ORG_NAMESPACE = uuid.UUID("c0a1e5d2-6b7f-4e3a-9c8d-2b1a0f9e8d7c")
AGREEMENT_NAMESPACE = uuid.UUID("5b0e7f61-2c3d-4a8e-9f1b-7d6c5e4a3b29")


def organisation_aggregate_id(org_id: str) -> uuid.UUID:
    """Organisation ids are chosen by people (`csss-vieille-capitale`); aggregate ids derive from them."""
    return uuid.uuid5(ORG_NAMESPACE, org_id)


def agreement_id_for(org_id: str, idempotency_key: str | None) -> uuid.UUID:
    """A retried draft with the same key lands on the same agreement."""
    return id_for(AGREEMENT_NAMESPACE, idempotency_key, org_id)


def proposal_id_for(agreement_id: uuid.UUID, revision: int, payload: Mapping[str, Any]) -> str:
    """A proposal's identity: a digest of the agreement, the revision that recorded it and what it proposes (terms,
    change, summary, by whom). Replacing a proposal records it at another revision, so its id always changes."""
    canonical = json.dumps(
        {"agreement": str(agreement_id), "revision": revision, **payload}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def next_review_after(anchor: date, months: int, day: date) -> date:
    """The first review date (anchor + k × months, k ≥ 1) after `day`."""
    k = 1
    while add_months(anchor, k * months) <= day:
        k += 1
    return add_months(anchor, k * months)


# --- the rules of each kind of agreement -----------------------------------------------------------------------


def checked_terms(terms: Terms, party_kinds: Mapping[str, str]) -> Terms:
    """The terms with the community flag settled, once they satisfy the rules of their kind; raises
    AgreementInvalidError naming the first bad field."""
    _check_required(terms)
    _check_parties(terms, party_kinds)
    _check_term(terms)
    if terms.kind is AgreementKind.SERVICE_108:
        _check_service_agreement(terms)
        _check_on_behalf(terms, party_kinds)
    else:
        _check_collaboration(terms)
    return terms.replace(respects_community_orientations=_community_flag(terms, party_kinds))


def _check_required(terms: Terms) -> None:
    """Every agreement has a kind, a title, services, a clientele, a start date and a review interval: terms without
    one would be recorded, then fail every read and every publication of the agreement."""
    if not isinstance(terms.kind, AgreementKind):
        raise AgreementInvalidError("kind", f"required: one of {', '.join(k.value for k in AgreementKind)}")
    for name in ("title", "clientele"):
        value = getattr(terms, name)
        if not isinstance(value, str) or not value.strip():
            raise AgreementInvalidError(name, "required: a text that is not blank")
    if not terms.services:
        raise AgreementInvalidError("services", "required: at least one service")
    if not isinstance(terms.start, date):
        raise AgreementInvalidError("start", "required: a date")
    months = terms.review_every_months
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_REVIEW_MONTHS:
        raise AgreementInvalidError("review_every_months", f"required: from 1 to {MAX_REVIEW_MONTHS} months")


def _check_parties(terms: Terms, party_kinds: Mapping[str, str]) -> None:
    if len(terms.parties) != len(set(terms.parties)):
        raise AgreementInvalidError("parties", "a party is named twice")
    if len(terms.parties) < 2:
        raise AgreementInvalidError("parties", "an agreement needs at least two parties")
    unknown = [p for p in terms.parties if p not in party_kinds]
    if unknown:
        raise AgreementInvalidError("parties", f"not registered in the directory: {', '.join(unknown)}")
    if len(terms.services) != len(set(terms.services)):
        raise AgreementInvalidError("services", "a service is named twice")


def _check_term(terms: Terms) -> None:
    error = _dates_refused(terms)
    if error is not None:
        raise error
    if terms.end is not None and terms.end < terms.start:
        raise AgreementInvalidError("end", "the end date is before the start date")


def _dates_refused(terms: Terms) -> AgreementInvalidError | None:
    """The first date of the terms outside the range an agreement's calendar holds (None: none)."""
    for name, day in (("start", terms.start), ("end", terms.end)):
        if day is not None and out_of_range(day):
            return AgreementInvalidError(name, f"{day} is out of range: from {FIRST_DAY} to {LAST_DAY}")
    return None


def _check_service_agreement(terms: Terms) -> None:
    if terms.end is None:
        raise AgreementInvalidError("end", "a service agreement (art. 108) has a term: end is required")
    if not terms.volumes:
        raise AgreementInvalidError("volumes", "a service agreement (art. 108) states annual volumes")
    named = [v.service for v in terms.volumes]
    if len(named) != len(set(named)):
        raise AgreementInvalidError("volumes", "a service has two volumes")
    if not set(named) <= set(terms.services):
        raise AgreementInvalidError("volumes", "volumes name a service the agreement does not cover")


def _check_on_behalf(terms: Terms, party_kinds: Mapping[str, str]) -> None:
    institutions = [entry.of_org for entry in terms.on_behalf]
    if len(institutions) != len(set(institutions)):
        raise AgreementInvalidError("on_behalf", "an institution is named twice")
    for entry in terms.on_behalf:
        if entry.of_org not in terms.parties or party_kinds[entry.of_org] not in INSTITUTION_KINDS:
            raise AgreementInvalidError("on_behalf", f"{entry.of_org} is not an institution party")
        if not entry.services or not set(entry.services) <= set(terms.services):
            raise AgreementInvalidError("on_behalf", "name services the agreement covers")


def _check_collaboration(terms: Terms) -> None:
    for name in ("volumes", "funding", "information_sharing", "on_behalf"):
        if getattr(terms, name):
            raise AgreementInvalidError(name, "a collaboration agreement carries no " + name.replace("_", " "))


def _community_flag(terms: Terms, party_kinds: Mapping[str, str]) -> bool:
    with_community = any(party_kinds[p] == COMMUNITY_KIND for p in terms.parties)
    if with_community and terms.respects_community_orientations is False:
        raise AgreementInvalidError(
            "respects_community_orientations",
            "an agreement with a community organisation respects its own orientations and approaches",
        )
    return with_community or bool(terms.respects_community_orientations)


class Organisation(Aggregate):
    """An organisation of the network and the services it offers."""

    class Registered(Aggregate.Created):
        class_version = 2

        org_id: str
        name: str
        kind: str
        territory: str
        services: list[str]
        occurred_at: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["occurred_at"] = state["timestamp"]

    @event(Registered)
    def __init__(
        self,
        id: uuid.UUID,
        org_id: str,
        name: str,
        kind: str,
        territory: str,
        services: list[str],
        occurred_at: datetime,
    ) -> None:
        self.org_id = org_id
        self.name = name
        self.kind = kind
        self.territory = territory
        self.services = services
        self.registered_at = occurred_at
        self.hours: dict[str, list[dict[str, Any]]] = {}
        """Each service's schedules (the `service-hours-set` payload as JSON), in the order declared."""

    class ServiceHoursSet(Aggregate.Event):
        """The organisation declared a service's hours: its whole weekly schedule and exceptions."""

        service: str
        weekly: list[dict[str, Any]]
        exceptions: list[dict[str, Any]]
        effective_from: date
        timezone: str
        occurred_at: datetime

    def set_hours(self, hours: ServiceHours, now: datetime) -> bool:
        """Records a service's schedule in force from `effective_from`; False when it repeats the latest one."""
        if hours.service not in self.services:
            raise ServiceHoursInvalidError("service", "the organisation does not offer this service")
        if out_of_range(hours.effective_from):
            raise ServiceHoursInvalidError(
                "effective_from", f"{hours.effective_from} is out of range: from {FIRST_DAY} to {LAST_DAY}"
            )
        earliest = earliest_effective(local_date(now, hours.timezone))
        if hours.effective_from < earliest:
            raise ServiceHoursInvalidError(
                "effective_from", f"{hours.effective_from} is in the past: hours apply from {earliest} at the earliest"
            )
        dates = [e["date"] for e in hours.exceptions]
        if len(set(dates)) != len(dates):
            raise ServiceHoursInvalidError("exceptions", "a date appears twice")
        declared = (hours.weekly, hours.exceptions, hours.effective_from.isoformat(), hours.timezone)
        latest = self.hours.get(hours.service, [])
        if latest and tuple(latest[-1][k] for k in ("weekly", "exceptions", "effective_from", "timezone")) == declared:
            return False
        self._hours_set(
            service=hours.service,
            weekly=hours.weekly,
            exceptions=hours.exceptions,
            effective_from=hours.effective_from,
            timezone=hours.timezone,
            occurred_at=now,
        )
        return True

    @event(ServiceHoursSet)
    def _hours_set(
        self,
        service: str,
        weekly: list[dict[str, Any]],
        exceptions: list[dict[str, Any]],
        effective_from: date,
        timezone: str,
        occurred_at: datetime,
    ) -> None:
        self.hours.setdefault(service, []).append(
            {
                "org_id": self.org_id,
                "service": service,
                "weekly": weekly,
                "exceptions": exceptions,
                "effective_from": effective_from.isoformat(),
                "timezone": timezone,
                "occurred_at": occurred_at.isoformat(),
            }
        )


def earliest_effective(today: date) -> date:
    """The earliest `effective_from` a schedule declared on `today` may have: this week's Monday, or yesterday when
    today is a Monday. The conformance view judges whole weeks, so the week under way may be declared; an earlier
    week is history, not rewritten (the standards board counts a schedule from the day it was declared anyway)."""
    return min(today - timedelta(days=today.weekday()), today - timedelta(days=1))


@dataclass(frozen=True)
class ServiceHours:
    """A service's weekly schedule per channel and its exceptions (as their JSON), in force from `effective_from`."""

    service: str
    weekly: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]
    effective_from: date
    timezone: str


@dataclass(frozen=True)
class HoursConformance:
    """One hours standard of one organisation's service over one week (Monday to Sunday)."""

    org_id: str
    service: str
    standard: str
    week_start: date
    declared: bool
    """Whether hours are declared for that week (undeclared hours conform to nothing)."""
    conforms: bool
    hours: float | None = None
    """Weekly standards (AAOR's, `CONSULT_HOURS`): the week's hours on the channel (any for consultations), of which
    `evening_hours`, `weekend_hours` and `daytime_hours` (weekdays before the evening)."""
    evening_hours: float | None = None
    weekend_hours: float | None = None
    days_covered: int | None = None
    """24/7 standard: the days of the week open from 00:00 to 24:00 (Info-Social: by telephone)."""
    daytime_hours: float | None = None


def hours_conformance(
    org_id: str, service: str, versions: Sequence[ScheduleRecord], day: date, policy: HoursPolicy
) -> list[HoursConformance]:
    """Each hours standard of `service` over the week holding `day`, by the contract's definition."""
    monday = day - timedelta(days=day.weekday())
    declared = any(date.fromisoformat(v["effective_from"]) <= monday + timedelta(days=6) for v in versions)
    week = week_openings(versions, monday)
    found = []
    for standard in HOURS_STANDARDS.get(service, ()):
        if standard in WEEKLY_STANDARDS:
            offered = weekly_offer(standard, week, policy)
            found.append(
                HoursConformance(
                    org_id,
                    service,
                    standard,
                    monday,
                    declared,
                    offered.conforms,
                    hours=offered.hours,
                    evening_hours=offered.evening_hours,
                    weekend_hours=offered.weekend_hours,
                    daytime_hours=offered.daytime_hours,
                )
            )
        else:
            covered = sum(week_conforms(standard, service, week, policy))
            found.append(
                HoursConformance(org_id, service, standard, monday, declared, covered == 7, days_covered=covered)
            )
    return found


@dataclass(frozen=True)
class TermsVersion:
    """One version of the terms: 1 when drafted, +1 per amendment or renewal."""

    number: int
    terms: Terms
    change: str
    effective_at: datetime
    by: str


@dataclass(frozen=True)
class Signature:
    """A party's approval of one version of the terms (`version`: the draft's, or a proposed change's)."""

    party: str
    signed_by: str
    signed_at: datetime
    version: int


@dataclass(frozen=True)
class Proposal:
    """A change of a signed agreement's terms (an amendment or a renewal) awaiting every party's signature: until
    then the terms in force stay the previous ones. `number` is the version of the terms it would become (the same
    for a proposal and the one replacing it); `id` is this proposal's own, the one a signature names."""

    id: str
    number: int
    terms: Terms
    change: str
    """`amended` or `renewed`: the change recorded once every party has signed it."""
    proposed_by: str
    party: str
    """The organisation of whoever proposed it."""
    proposed_at: datetime
    summary: str | None
    signatures: Mapping[str, Signature]

    def signed(self, signature: Signature) -> Proposal:
        return dataclasses.replace(self, signatures={**self.signatures, signature.party: signature})

    def signed_by_all(self, parties: Sequence[str]) -> bool:
        return set(self.signatures) >= set(parties)


@dataclass(frozen=True)
class Phase:
    """From `at` on, the agreement had `status` under version `version` of its terms."""

    at: datetime
    status: AgreementStatus
    version: int


class Agreement(Aggregate):
    """An entente between organisations: a service agreement (art. 108) or a collaboration agreement."""

    class Drafted(Aggregate.Created):
        class_version = 2

        terms: dict[str, Any]
        drafted_by: str
        occurred_at: datetime
        zone: str
        request_digest: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["occurred_at"] = state["timestamp"]
            state["zone"] = DEFAULT_ZONE
            state["request_digest"] = None

    class Signed(Aggregate.Event):
        party: str
        signed_by: str
        occurred_at: datetime
        proposal_id: str | None = None
        """The proposal signed (None: a draft's terms, and every signature recorded before proposals had ids)."""

    class Activated(Aggregate.Event):
        occurred_at: datetime

    class AmendmentProposed(Aggregate.Event):
        """A party proposed new terms for a signed agreement (an amendment, or a renewal's later end date)."""

        terms: dict[str, Any]
        change: str
        proposed_by: str
        party: str
        occurred_at: datetime
        summary: str | None

    class ProposalLapsed(Aggregate.Event):
        """The pending proposal stopped meeting the rules of a change as the agreement moved on (it came into force
        with another start date, or the proposed end date passed): it lapsed with its signatures."""

        proposal_id: str
        field: str | None
        reason: str
        occurred_at: datetime

    class ProposalDeclined(Aggregate.Event):
        """A party said no to the pending proposal, stating why (the proposer's own party: it withdrew it): the
        proposal closed with its signatures; the terms in force, the status and the coverage stay as they were."""

        proposal_id: str
        party: str
        declined_by: str
        reason: str
        proposed_by_org: str
        """The organisation that proposed it: the same as `party` when it was withdrawn."""
        occurred_at: datetime

    class Amended(Aggregate.Event):
        terms: dict[str, Any]
        amended_by: str
        occurred_at: datetime
        summary: str | None

    class Suspended(Aggregate.Event):
        reason: str | None
        suspended_by: str
        occurred_at: datetime
        suspended_by_org: str | None = None
        """None in suspensions recorded before it was kept: any party lifts them."""

    class Resumed(Aggregate.Event):
        resumed_by: str
        occurred_at: datetime

    class Terminated(Aggregate.Event):
        reason: str
        terminated_by: str
        occurred_at: datetime

    class Expired(Aggregate.Event):
        occurred_at: datetime

    class Renewed(Aggregate.Event):
        terms: dict[str, Any]
        renewed_by: str
        occurred_at: datetime

    class ReviewDue(Aggregate.Event):
        occurred_at: datetime

    class Reviewed(Aggregate.Event):
        reviewed_by: str
        occurred_at: datetime
        summary: str | None

    @event(Drafted)
    def __init__(
        self,
        id: uuid.UUID,
        terms: dict[str, Any],
        drafted_by: str,
        occurred_at: datetime,
        zone: str,
        request_digest: str | None,
    ) -> None:
        self.zone = zone
        self.drafted_by = drafted_by
        self.drafted_at = occurred_at
        self.request_digest = request_digest
        self.versions = [TermsVersion(1, Terms.from_document(terms), "drafted", occurred_at, drafted_by)]
        self.status = DRAFT
        self.status_reason: str | None = None
        self.signatures: dict[str, Signature] = {}
        """The signatures of the terms in force (of a draft: of its current terms)."""
        self.proposal: Proposal | None = None
        self.closed_proposals: dict[str, str] = {}
        """What became of each proposal no longer pending (replaced, lapsed, declined, in effect), by id: why a
        signature naming it is refused."""
        self.suspended_by_org: str | None = None
        self.phases = [Phase(occurred_at, DRAFT, 1)]
        self.review_anchor: date | None = None
        self.next_review_on: date | None = None
        self.review_due = False
        self.last_reviewed_at: datetime | None = None

    # --- queries -------------------------------------------------------------------------------------

    @property
    def terms(self) -> Terms:
        return self.versions[-1].terms

    @property
    def terms_version(self) -> int:
        return len(self.versions)

    def parties(self) -> frozenset[str]:
        """The parties of the latest terms (of a draft: its current terms). An organisation an earlier draft named
        and an amendment took out is none: it signed nothing that binds it (a signed agreement's parties never
        change)."""
        return frozenset(self.terms.parties)

    def is_party(self, org_id: str, answering: bool = False) -> bool:
        """Whether `org_id` is a party; `answering` the pending proposal (declining it), also one its terms name."""
        if org_id in self.parties():
            return True
        return answering and self.proposal is not None and org_id in self.proposal.terms.parties

    def activation_due_at(self) -> datetime:
        """Once all parties signed: active from the start date's first instant, or from the last change if later."""
        return max(local_midnight(self.terms.start, self.zone), self.phases[-1].at)

    def expiry_due_at(self) -> datetime | None:
        """The end date is the term's last day: it expires when the next day begins (never before the last change).
        None when it has no end, or when the calendar has no next day (an end recorded before dates were bounded):
        no expiry within the calendar."""
        end = self.terms.end
        if end is None or end >= date.max:
            return None
        return max(local_midnight(end + timedelta(days=1), self.zone), self.phases[-1].at)

    def review_due_at(self) -> datetime | None:
        return local_midnight(self.next_review_on, self.zone) if self.next_review_on else None

    def proposal_lapses_at(self) -> datetime | None:
        """When the pending proposal's end date has passed (it then lapses by itself), if it has one."""
        if self.proposal is None or self.proposal.terms.end is None or self.proposal.terms.end >= date.max:
            return None
        return max(local_midnight(self.proposal.terms.end + timedelta(days=1), self.zone), self.proposal.proposed_at)

    def next_due_at(self) -> datetime | None:
        """When the next transition falls due by itself (None: nothing is scheduled)."""
        due = self._due()
        return min(at for at, _, _ in due) if due else None

    def status_at(self, at: datetime) -> tuple[AgreementStatus | None, int]:
        """Status and terms version at `at`: what was recorded, then what falls due after the last change."""
        index = bisect.bisect_right([p.at for p in self.phases], at)
        if index == 0:
            return None, 1
        phase = self.phases[index - 1]
        if index < len(self.phases):
            return phase.status, phase.version
        return self._projected(phase.status, at), phase.version

    def covering(self, from_org: str, to_org: str, service: str, at: datetime) -> TermsVersion | None:
        """The version of the terms under which this agreement covers the referral at `at`, if it does."""
        status, version = self.status_at(at)
        terms_version = self.versions[version - 1]
        if status is ACTIVE and terms_version.terms.binds(from_org, to_org, service):
            return terms_version
        return None

    def terms_at(self, at: datetime) -> Terms:
        return self.versions[self.status_at(at)[1] - 1].terms

    def year_of(self, at: datetime) -> tuple[date, date]:
        """The agreement year (from the start date's anniversary) that `at` falls in."""
        return agreement_year(self.terms.start, local_date(at, self.zone))

    # --- commands ------------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Applies, in order and each at the time it fell due, every transition due by `now`; a pending proposal
        the agreement's new state makes impossible (a start date changed once the agreement is in force) lapses."""
        while True:
            due = sorted(self._due(), key=lambda d: (d[0], d[1]))
            if not due or due[0][0] > now:
                return
            at, _, apply = due[0]
            apply(at)
            self._lapse_if_impossible(at)

    def sign(self, party: str, signed_by: str, now: datetime, proposal_id: str | None = None) -> None:
        """`party` signs what awaits its signature: a draft (once every party has, the agreement is SIGNED, and
        ACTIVE from its start) or the proposed change of a signed agreement (in effect once every party has), which
        the signature names by `proposal_id`: a proposal replaced since the signer read it is not signed."""
        self.advance(now)
        self._check_party(party)
        signatures: Mapping[str, Signature] = self.signatures
        if self.proposal is None:
            if proposal_id is not None:
                raise ProposalConflictError(f"proposal {proposal_id} is not pending: {self._fate_of(proposal_id)}")
            self._check_draft_signable(now)
        else:
            self._check_named(self.proposal, proposal_id, "sign")
            self._check_change(self.proposal.change, self.proposal.terms, now)
            signatures = self.proposal.signatures
        if party in signatures:
            raise AgreementTransitionError(f"{party} has already signed")
        named = self.proposal.id if self.proposal is not None else None
        self._signed(party=party, signed_by=signed_by, occurred_at=now, proposal_id=named)
        if self.proposal is not None and self.proposal.signed_by_all(self.terms.parties):
            self._put_in_effect(self.proposal, now)
        self.advance(now)

    def decline(self, party: str, declined_by: str, reason: str, now: datetime, proposal_id: str | None = None) -> None:
        """`party` says no to the proposed change of the terms it names by `proposal_id`, stating why (the proposer's
        own party withdraws it): the proposal closes, whoever signed it, and the terms in force stay."""
        self.advance(now)
        self._check_party(party, answering=True)
        if not reason.strip():
            raise InvalidFieldError("reason", "declining a proposal states the reason")
        if self.proposal is None:
            if proposal_id is not None:
                raise ProposalConflictError(f"proposal {proposal_id} is not pending: {self._fate_of(proposal_id)}")
            raise AgreementTransitionError("no proposed change of the terms is pending: there is nothing to decline")
        self._check_named(self.proposal, proposal_id, "decline")
        self._proposal_declined(
            proposal_id=self.proposal.id,
            party=party,
            declined_by=declined_by,
            reason=reason,
            proposed_by_org=self.proposal.party,
            occurred_at=now,
        )

    def amend(self, terms: Terms, amended_by: str, party: str, now: datetime, summary: str | None = None) -> None:
        """A draft's terms change now (its signatures are void: it is signed anew); the new terms of a signed
        agreement are proposed, and take effect once every party has signed them (`sign`)."""
        self.advance(now)
        self._allow("amend")
        self._check_change("amended", terms, now)
        if self.status is DRAFT:
            self._amended(terms=terms.to_document(), amended_by=amended_by, occurred_at=now, summary=summary)
        else:
            self._propose(terms, "amended", amended_by, party, now, summary)

    def suspend(self, suspended_by: str, party: str, now: datetime, reason: str | None = None) -> None:
        """Any party stops the agreement's effects (what flows under it) at once."""
        self.advance(now)
        self._allow("suspend")
        self._suspended(reason=reason, suspended_by=suspended_by, occurred_at=now, suspended_by_org=party)

    def resume(self, resumed_by: str, party: str, now: datetime) -> None:
        """Only the organisation that suspended the agreement restores its effects: another party lifting it would
        restart, alone, the flow of information the first one stopped. A suspension recorded by an organisation that
        is not a party (one an earlier draft named, before non-parties were refused) is lifted by any party."""
        self.advance(now)
        self._allow("resume")
        if self.suspended_by_org not in (None, party) and self.suspended_by_org in self.parties():
            raise AgreementSuspendedByOtherError(f"the suspension is lifted by {self.suspended_by_org}, who made it")
        self._resumed(resumed_by=resumed_by, occurred_at=now)

    def terminate(self, reason: str, terminated_by: str, now: datetime) -> None:
        self.advance(now)
        self._allow("terminate")
        if not reason.strip():
            raise AgreementInvalidError("reason", "a termination states its reason")
        self._terminated(reason=reason, terminated_by=terminated_by, occurred_at=now)

    def renew(self, end: date, renewed_by: str, party: str, now: datetime) -> None:
        """Proposes the terms with a later end date; in effect once every party has signed them (an expired
        agreement then becomes ACTIVE again)."""
        self.advance(now)
        self._allow("renew")
        terms = self.terms.replace(end=end)
        self._check_change("renewed", terms, now)
        self._propose(terms, "renewed", renewed_by, party, now, None)

    def review(self, reviewed_by: str, now: datetime, summary: str | None = None) -> None:
        """Records a review of the agreement: clears a due review; the next is due `review_every_months` later."""
        self.advance(now)
        self._allow("review")
        self._reviewed(reviewed_by=reviewed_by, occurred_at=now, summary=summary)
        self.advance(now)

    # --- rules ---------------------------------------------------------------------------------------

    def _allow(self, command: str) -> None:
        if self.status not in ALLOWED_FROM[command]:
            raise AgreementTransitionError(f"cannot {command} an agreement that is {self.status.value}")

    def _check_draft_signable(self, now: datetime) -> None:
        self._allow("sign")
        expiry = self.expiry_due_at()
        if expiry is not None and now >= expiry:
            raise AgreementTransitionError("the agreement's term is over")

    def _check_party(self, party: str, answering: bool = False) -> None:
        """Only a party of the terms in force (`answering` the pending proposal: or of its terms) signs or declines
        for the agreement: a platform admin acts for its own organisation, never for another."""
        if not self.is_party(party, answering):
            raise AgreementNotPartyError(f"{party} is not a party to this agreement")

    def _check_named(self, proposal: Proposal, proposal_id: str | None, verb: str) -> None:
        """A signature (or a refusal) of a proposal names it: signing "whatever is pending" would approve terms that
        replaced the ones the signer read, and declining it would refuse terms the party never read."""
        if proposal_id is None:
            raise InvalidFieldError(
                "proposal_id",
                f"new terms are proposed (proposal {proposal.id}, version {proposal.number}): name the proposal "
                f"you {verb}, as read on the agreement",
            )
        if proposal_id != proposal.id:
            raise ProposalConflictError(
                f"proposal {proposal_id} is not the pending one ({self._fate_of(proposal_id)}); the pending "
                f"proposal is {proposal.id}, by {proposal.party}: read it before you {verb} it"
            )

    def _fate_of(self, proposal_id: str) -> str:
        return self.closed_proposals.get(proposal_id, "this agreement has no such proposal")

    def _check_change(self, change: str, terms: Terms, now: datetime) -> None:
        """The rules a change of the terms meets when proposed and again when it takes effect (the agreement may
        have come into force, or a day passed, meanwhile)."""
        error = self._change_refused(change, terms, now)
        if error is not None:
            raise error

    def _change_refused(self, change: str, terms: Terms, now: datetime) -> AgreementsError | None:
        """The first rule of a change of the terms that `terms` break at `now` (None: none)."""
        if change == "renewed":
            if self.terms.end is None:
                return AgreementTransitionError("an agreement without an end date has no term to renew")
            if terms.end is None or terms.end <= self.terms.end:
                return AgreementInvalidError("end", "a renewal moves the end date later")
            if (error := _dates_refused(terms)) is not None:
                return error
        if self.status is not DRAFT and set(terms.parties) != set(self.terms.parties):
            return AgreementInvalidError("parties", "the parties of a signed agreement do not change")
        if self.status in IN_FORCE and terms.start != self.terms.start:
            return AgreementInvalidError("start", "an agreement in force keeps its start date")
        if self.status is not DRAFT and terms.end is not None and terms.end < local_date(now, self.zone):
            return AgreementInvalidError("end", "the terms of a signed agreement cannot end in the past")
        return None

    def _lapse_if_impossible(self, at: datetime) -> None:
        """The pending proposal lapses once it could no longer take effect: waiting for the last signature would
        only end in a refusal, and no other proposal is signed meanwhile."""
        if self.proposal is None:
            return
        error = self._change_refused(self.proposal.change, self.proposal.terms, at)
        if error is not None:
            self._lapse(self.proposal, error, at)

    def _lapse_past_end(self, at: datetime) -> None:
        """The pending proposal's end date has passed."""
        if self.proposal is not None:
            error = self._change_refused(self.proposal.change, self.proposal.terms, at)
            self._lapse(self.proposal, error or AgreementInvalidError("end", "the proposed end date has passed"), at)

    def _lapse(self, proposal: Proposal, error: AgreementsError, at: datetime) -> None:
        self._proposal_lapsed(proposal_id=proposal.id, field=error.field, reason=str(error), occurred_at=at)

    def _propose(self, terms: Terms, change: str, by: str, party: str, now: datetime, summary: str | None) -> None:
        self._proposed(
            terms=terms.to_document(), change=change, proposed_by=by, party=party, occurred_at=now, summary=summary
        )

    def _put_in_effect(self, proposal: Proposal, now: datetime) -> None:
        """Every party signed the proposal: it becomes the terms in force (an amendment, or a renewal)."""
        document = proposal.terms.to_document()
        if proposal.change == "renewed":
            self._renewed(terms=document, renewed_by=proposal.proposed_by, occurred_at=now)
        else:
            self._amended(terms=document, amended_by=proposal.proposed_by, occurred_at=now, summary=proposal.summary)

    def _due(self) -> list[tuple[datetime, int, Callable[[datetime], None]]]:
        """Transitions that fall due by themselves: (when, rank among simultaneous ones, how to apply)."""
        due: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        if self.status is SIGNED:
            due.append((self.activation_due_at(), 0, self._activate))
        elif self.status in IN_FORCE:
            expiry, review = self.expiry_due_at(), self.review_due_at()
            if expiry is not None:
                due.append((expiry, 0, self._expire))
            if review is not None:
                due.append((review, 1, self._fall_due_for_review))
        lapse = self.proposal_lapses_at()
        if lapse is not None:
            due.append((lapse, 2, self._lapse_past_end))
        return due

    def _projected(self, status: AgreementStatus, at: datetime) -> AgreementStatus:
        """The status at `at` after the last change: only a signed agreement activates, only one in force expires."""
        if status is SIGNED and at >= self.activation_due_at():
            status = ACTIVE
        if status in IN_FORCE:
            expiry = self.expiry_due_at()
            if expiry is not None and at >= expiry:
                status = EXPIRED
        return status

    def _activate(self, at: datetime) -> None:
        self._activated(occurred_at=at)

    def _expire(self, at: datetime) -> None:
        self._expired(occurred_at=at)

    def _fall_due_for_review(self, at: datetime) -> None:
        self._review_fell_due(occurred_at=at)

    # --- events --------------------------------------------------------------------------------------

    def _set_status(self, status: AgreementStatus, at: datetime, reason: str | None = None) -> None:
        self.status = status
        self.status_reason = reason
        self.phases.append(Phase(at, status, self.terms_version))
        if self.proposal is not None and status not in ALLOWED_FROM[PROPOSED_BY[self.proposal.change]]:
            # lapsed: it could not be proposed now (terminated; an amendment once expired)
            self.closed_proposals[self.proposal.id] = f"it lapsed when the agreement became {status.value}"
            self.proposal = None

    def _add_version(self, document: dict[str, Any], change: str, at: datetime, by: str) -> None:
        number = self.terms_version + 1
        self.versions.append(TermsVersion(number, self.terms.amended(document), change, at, by))
        self.phases.append(Phase(at, self.status, number))
        if self.proposal is not None:  # the change every party signed: its signatures are those of the terms in force
            self.signatures = dict(self.proposal.signatures)
            self.closed_proposals[self.proposal.id] = f"it took effect as version {number}"
            self.proposal = None

    @event(Signed)
    def _signed(self, party: str, signed_by: str, occurred_at: datetime, proposal_id: str | None = None) -> None:
        if self.proposal is not None:
            self.proposal = self.proposal.signed(Signature(party, signed_by, occurred_at, self.proposal.number))
            return
        self.signatures[party] = Signature(party, signed_by, occurred_at, self.terms_version)
        if set(self.signatures) >= set(self.terms.parties):
            self._set_status(SIGNED, occurred_at)

    @event(AmendmentProposed)
    def _proposed(
        self,
        terms: dict[str, Any],
        change: str,
        proposed_by: str,
        party: str,
        occurred_at: datetime,
        summary: str | None,
    ) -> None:
        number = self.terms_version + 1
        payload = {"terms": terms, "change": change, "proposed_by": proposed_by, "party": party, "summary": summary}
        proposal_id = proposal_id_for(self.id, self.version + 1, payload)  # self.version: the revision before this
        if self.proposal is not None:
            self.closed_proposals[self.proposal.id] = (
                f"it was replaced by proposal {proposal_id} of {party} at {occurred_at.isoformat()}"
            )
        self.proposal = Proposal(
            proposal_id,
            number,
            self.terms.amended(terms),
            change,
            proposed_by,
            party,
            occurred_at,
            summary,
            signatures={},
        )

    @event(ProposalLapsed)
    def _proposal_lapsed(self, proposal_id: str, field: str | None, reason: str, occurred_at: datetime) -> None:
        if self.proposal is not None and self.proposal.id == proposal_id:
            self.closed_proposals[proposal_id] = f"it lapsed at {occurred_at.isoformat()}: {reason}"
            self.proposal = None

    @event(ProposalDeclined)
    def _proposal_declined(
        self, proposal_id: str, party: str, declined_by: str, reason: str, proposed_by_org: str, occurred_at: datetime
    ) -> None:
        if self.proposal is not None and self.proposal.id == proposal_id:
            by = f"withdrawn by {party}, its proposer," if party == proposed_by_org else f"declined by {party}"
            self.closed_proposals[proposal_id] = f"it was {by} at {occurred_at.isoformat()}: {reason}"
            self.proposal = None

    @event(Activated)
    def _activated(self, occurred_at: datetime) -> None:
        self._set_status(ACTIVE, occurred_at)
        if self.review_anchor is None:
            self.review_anchor = self.terms.start
            day = local_date(occurred_at, self.zone)
            self.next_review_on = next_review_after(self.review_anchor, self.terms.review_every_months, day)

    @event(Amended)
    def _amended(self, terms: dict[str, Any], amended_by: str, occurred_at: datetime, summary: str | None) -> None:
        self._add_version(terms, "amended", occurred_at, amended_by)
        if self.status is DRAFT:
            self.signatures = {}

    @event(Suspended)
    def _suspended(
        self, reason: str | None, suspended_by: str, occurred_at: datetime, suspended_by_org: str | None = None
    ) -> None:
        self.suspended_by_org = suspended_by_org
        self._set_status(SUSPENDED, occurred_at, reason)

    @event(Resumed)
    def _resumed(self, resumed_by: str, occurred_at: datetime) -> None:
        self.suspended_by_org = None
        self._set_status(ACTIVE, occurred_at)

    @event(Terminated)
    def _terminated(self, reason: str, terminated_by: str, occurred_at: datetime) -> None:
        self._set_status(TERMINATED, occurred_at, reason)

    @event(Expired)
    def _expired(self, occurred_at: datetime) -> None:
        self._set_status(EXPIRED, occurred_at)

    @event(Renewed)
    def _renewed(self, terms: dict[str, Any], renewed_by: str, occurred_at: datetime) -> None:
        self._add_version(terms, "renewed", occurred_at, renewed_by)
        if self.status is EXPIRED:
            self._set_status(ACTIVE, occurred_at)
            self.review_anchor = local_date(occurred_at, self.zone)
            self.next_review_on = add_months(self.review_anchor, self.terms.review_every_months)

    @event(ReviewDue)
    def _review_fell_due(self, occurred_at: datetime) -> None:
        self.review_due = True
        anchor = self.review_anchor or self.terms.start
        self.next_review_on = next_review_after(
            anchor, self.terms.review_every_months, local_date(occurred_at, self.zone)
        )

    @event(Reviewed)
    def _reviewed(self, reviewed_by: str, occurred_at: datetime, summary: str | None) -> None:
        self.review_due = False
        self.last_reviewed_at = occurred_at
        self.review_anchor = local_date(occurred_at, self.zone)
        self.next_review_on = add_months(self.review_anchor, self.terms.review_every_months)


EVENT_NAMES: dict[type[Aggregate.Event], str] = {
    Agreement.Drafted: "drafted",
    Agreement.Signed: "signed",
    Agreement.Activated: "activated",
    Agreement.AmendmentProposed: "amendment-proposed",
    Agreement.ProposalLapsed: "proposal-lapsed",
    Agreement.ProposalDeclined: "proposal-declined",
    Agreement.Amended: "amended",
    Agreement.Suspended: "suspended",
    Agreement.Resumed: "resumed",
    Agreement.Terminated: "terminated",
    Agreement.Expired: "expired",
    Agreement.Renewed: "renewed",
    Agreement.ReviewDue: "review-due",
    Agreement.Reviewed: "reviewed",
}
"""The name of each agreement event in the public contract (`ca.qc.rls.agreements.<name>.v1`) and history."""
