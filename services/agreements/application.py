"""Agreements: the directory and the ententes; the only write path of the agreements service."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Tracking

from services.agreements.domain import (
    Agreement,
    AgreementIdempotencyConflictError,
    AgreementNotFoundError,
    AgreementNotPartyError,
    AgreementRevisionConflictError,
    HoursConformance,
    Organisation,
    OrganisationExistsError,
    OrganisationNotFoundError,
    ServiceHours,
    ServiceHoursInvalidError,
    TermsVersion,
    agreement_id_for,
    checked_terms,
    hours_conformance,
    organisation_aggregate_id,
)
from services.agreements.terms import DEFAULT_ZONE, Terms, agreement_year, local_date
from services.agreements.views import Change, Directory, DirectoryView, OrganisationEntry, changes_of
from services.agreements.volumes import CountedReferral, VolumeUse, counted_referral_id, volume_use_id
from services.common.clock import Clock, system_clock
from services.common.eventstore import DateAsISO, TrackedApplication
from services.common.projections import Projector, StateCodec
from services.contract.codes import AgreementKind
from services.contract.hours_standards import HOURS_STANDARDS, HoursPolicy

COMMAND_ATTEMPTS = 3
VOLUME_ATTEMPTS = 20
"""Times an accepted referral is counted again, its volume read again, when another writer counted against the same
volume meanwhile: replicas consuming other partitions of the referral topic count against one volume at once, and each
conflict means another's count went through. Its consumer's retries come after these (then the dead letter)."""

Command = Callable[[Agreement, datetime], None]


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: a user (`sub`) of an organisation; `override` lets the platform's admin (never an
    establishment's: `access.CHANGE`) act on agreements its organisation is not party to (it never signs for another
    organisation)."""

    sub: str
    org: str
    override: bool = False


@dataclass(frozen=True)
class AcceptedReferral:
    """The part of an accepted referral that counts against volumes (no information about the person)."""

    referral_id: str
    from_org: str
    to_org: str
    to_service: str
    agreement_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class Coverage:
    agreement: Agreement
    terms: TermsVersion


@dataclass(frozen=True)
class VolumeLine:
    service: str
    period_start: date
    period_end: date
    used: int
    per_year: int | None


class Agreements(TrackedApplication):
    """Organisations, agreements, their lifecycle in time, and the use of their volumes."""

    name = "agreements"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        zone: str = DEFAULT_ZONE,
        hours_policy: HoursPolicy | None = None,
    ):
        super().__init__(env)
        self.clock = clock
        self.zone = zone
        self.hours_policy = hours_policy or HoursPolicy()
        """The hours standards' bounds the conformance view measures against."""
        codec = StateCodec(self)
        projector = Projector(self, DirectoryView(codec))
        self.projectors = (projector,)
        self.directory = Directory(projector, codec)
        self._schedule: dict[uuid.UUID, datetime] = {}
        self._tick_lock = threading.Lock()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- directory -----------------------------------------------------------------------------------

    def register_organisation(
        self, org_id: str, name: str, kind: str, territory: str, services: list[str]
    ) -> OrganisationEntry:
        organisation = self._new_organisation(org_id, name, kind, territory, services)
        try:
            self.record(organisation)
        except IntegrityError:
            raise OrganisationExistsError(f"organisation {org_id} is already registered") from None
        return OrganisationEntry.of(organisation)

    def _new_organisation(self, org_id: str, name: str, kind: str, territory: str, services: list[str]) -> Organisation:
        return Organisation(
            id=organisation_aggregate_id(org_id),
            org_id=org_id,
            name=name,
            kind=kind,
            territory=territory,
            services=sorted(set(services)),
            occurred_at=self.clock(),
        )

    def get_organisation(self, org_id: str) -> OrganisationEntry:
        entry = self.directory.organisation(org_id)
        if entry is None:
            raise OrganisationNotFoundError(f"no organisation {org_id}")
        return entry

    def find_organisations(
        self, service: str | None = None, kind: str | None = None, territory: str | None = None
    ) -> list[OrganisationEntry]:
        return self.directory.organisations(service, kind, territory)

    def today(self) -> date:
        return local_date(self.clock(), self.zone)

    def set_service_hours(
        self,
        org_id: str,
        service: str,
        weekly: list[dict[str, Any]],
        exceptions: list[dict[str, Any]],
        effective_from: date | None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Records a service's hours (from today unless said); returns its schedules and whether they changed."""
        organisation = self._organisation(org_id)
        hours = ServiceHours(service, weekly, exceptions, effective_from or self.today(), self.zone)
        changed = organisation.set_hours(hours, self.clock())
        if changed:
            self.record(organisation)
        return organisation.hours[service], changed

    def service_hours(self, org_id: str, service: str) -> list[dict[str, Any]]:
        """A service's schedules, in the order declared (none: [])."""
        return self._organisation(org_id).hours.get(service, [])

    def hours_conformance(self, territory: str | None, service: str | None, day: date) -> list[HoursConformance]:
        """The hours standards over the week holding `day`, for each organisation of the territory offering a
        service that has some (`service`: that one only)."""
        if service is not None and service not in HOURS_STANDARDS:
            raise ServiceHoursInvalidError("service", f"no hours standard; one of {', '.join(HOURS_STANDARDS)}")
        found = []
        for entry in self.find_organisations(service, None, territory):
            organisation = self._organisation(entry.org_id)
            for offered in sorted(set(organisation.services) & set(HOURS_STANDARDS)):
                if service is None or offered == service:
                    versions = organisation.hours.get(offered, [])
                    found += hours_conformance(entry.org_id, offered, versions, day, self.hours_policy)
        return found

    def _organisation(self, org_id: str) -> Organisation:
        try:
            organisation: Organisation = self.repository.get(organisation_aggregate_id(org_id))
        except AggregateNotFoundError:
            raise OrganisationNotFoundError(f"no organisation {org_id}") from None
        return organisation

    # --- agreements: commands ------------------------------------------------------------------------

    def draft(self, terms: Terms, actor: Actor, idempotency_key: str | None = None) -> tuple[Agreement, bool]:
        """Validates and records a draft; returns it and whether this call created it (False: a retry)."""
        if not actor.override and actor.org not in terms.parties:
            raise AgreementNotPartyError("a coordinator drafts agreements their organisation is party to")
        terms = checked_terms(terms, self._party_kinds(terms.parties))
        document = terms.to_document()
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        agreement_id = agreement_id_for(actor.org, idempotency_key)
        existing = self._find(agreement_id)
        if existing is not None:
            if existing.request_digest != digest:
                raise AgreementIdempotencyConflictError("this Idempotency-Key was used for another agreement")
            return existing, False
        agreement = Agreement(
            id=agreement_id,
            terms=document,
            drafted_by=actor.sub,
            occurred_at=self.clock(),
            zone=self.zone,
            request_digest=digest,
        )
        try:
            self.record(agreement)
        except IntegrityError:  # a concurrent retry with the same key won the race
            return self.draft(terms, actor, idempotency_key)
        return agreement, True

    def sign(
        self,
        agreement_id: uuid.UUID,
        actor: Actor,
        expected_revision: int | None = None,
        proposal_id: str | None = None,
    ) -> Agreement:
        """Signs for the caller's organisation. A pending proposal is named by `proposal_id`, or by the revision the
        caller read (`expected_revision`): every new proposal is a new revision, so either names what was read."""

        def sign(agreement: Agreement, now: datetime) -> None:
            agreement.sign(actor.org, actor.sub, now, named_proposal(agreement, proposal_id, expected_revision))

        return self._change(agreement_id, actor, expected_revision, sign)

    def decline(
        self,
        agreement_id: uuid.UUID,
        reason: str,
        actor: Actor,
        expected_revision: int | None = None,
        proposal_id: str | None = None,
    ) -> Agreement:
        """Declines the pending proposal for the caller's organisation (its proposer's: withdraws it), named as for
        `sign`; the terms in force stay."""

        def decline(agreement: Agreement, now: datetime) -> None:
            named = named_proposal(agreement, proposal_id, expected_revision)
            agreement.decline(actor.org, actor.sub, reason, now, named)

        return self._change(agreement_id, actor, expected_revision, decline, answering=True)

    def amend(
        self,
        agreement_id: uuid.UUID,
        changes: Mapping[str, Any],
        actor: Actor,
        expected_revision: int | None = None,
        summary: str | None = None,
    ) -> Agreement:
        """`changes` replace fields of the terms in force (a proposal replaces any earlier one, it does not add to
        it); the result must satisfy the kind's rules. A signed agreement's amendment awaits every party's signature."""

        def amend(agreement: Agreement, now: datetime) -> None:
            terms = agreement.terms.replace(**{"respects_community_orientations": None, **changes})
            agreement.amend(checked_terms(terms, self._party_kinds(terms.parties)), actor.sub, actor.org, now, summary)

        return self._change(agreement_id, actor, expected_revision, amend)

    def suspend(
        self, agreement_id: uuid.UUID, actor: Actor, reason: str | None = None, expected_revision: int | None = None
    ) -> Agreement:
        return self._change(
            agreement_id, actor, expected_revision, lambda a, now: a.suspend(actor.sub, actor.org, now, reason)
        )

    def resume(self, agreement_id: uuid.UUID, actor: Actor, expected_revision: int | None = None) -> Agreement:
        return self._change(agreement_id, actor, expected_revision, lambda a, now: a.resume(actor.sub, actor.org, now))

    def terminate(
        self, agreement_id: uuid.UUID, reason: str, actor: Actor, expected_revision: int | None = None
    ) -> Agreement:
        return self._change(agreement_id, actor, expected_revision, lambda a, now: a.terminate(reason, actor.sub, now))

    def renew(
        self, agreement_id: uuid.UUID, end: date, actor: Actor, expected_revision: int | None = None
    ) -> Agreement:
        return self._change(
            agreement_id, actor, expected_revision, lambda a, now: a.renew(end, actor.sub, actor.org, now)
        )

    def review(
        self, agreement_id: uuid.UUID, actor: Actor, summary: str | None = None, expected_revision: int | None = None
    ) -> Agreement:
        return self._change(agreement_id, actor, expected_revision, lambda a, now: a.review(actor.sub, now, summary))

    def _change(
        self,
        agreement_id: uuid.UUID,
        actor: Actor,
        expected_revision: int | None,
        command: Command,
        answering: bool = False,
    ) -> Agreement:
        """Load, check the caller and the revision, apply, record; a concurrent writer makes it start over. The caller
        is a party of the latest terms (`answering` the pending proposal: or of its terms), not an organisation an
        earlier draft named."""
        for _ in range(COMMAND_ATTEMPTS):
            agreement = self.get_agreement(agreement_id)
            if not (actor.override or agreement.is_party(actor.org, answering)):
                raise AgreementNotPartyError(f"{actor.org} is not a party to this agreement")
            if expected_revision is not None and agreement.version != expected_revision:
                raise AgreementRevisionConflictError(f"the agreement is at revision {agreement.version}")
            command(agreement, self.clock())
            try:
                self.record(agreement)
            except IntegrityError:
                if expected_revision is not None:
                    raise AgreementRevisionConflictError("the agreement changed meanwhile") from None
                continue
            return agreement
        raise AgreementRevisionConflictError("the agreement kept changing; try again")

    # --- time ----------------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> int:
        """Applies every transition due by `now` (activation, expiry, review due); returns how many agreements moved.

        Each transition carries the time it fell due, so a late tick (after downtime) records the true times.
        """
        now = now or self.clock()
        with self._tick_lock:
            for agreement_id in self.directory.take_changed():
                self._reschedule(self.get_agreement(agreement_id))
            due = [i for i, at in self._schedule.items() if at <= now]
            return sum(self._advance(agreement_id, now) for agreement_id in due)

    def _reschedule(self, agreement: Agreement) -> None:
        at = agreement.next_due_at()
        if at is None:
            self._schedule.pop(agreement.id, None)
        else:
            self._schedule[agreement.id] = at

    def _advance(self, agreement_id: uuid.UUID, now: datetime) -> int:
        agreement = self.get_agreement(agreement_id)
        agreement.advance(now)
        if not agreement.pending_events:
            self._reschedule(agreement)
            return 0
        try:
            self.record(agreement)
        except IntegrityError:  # a command recorded meanwhile (and applied what was due): re-read next tick
            return 0
        self._reschedule(agreement)
        return 1

    # --- agreements: queries -------------------------------------------------------------------------

    def get_agreement(self, agreement_id: uuid.UUID) -> Agreement:
        agreement = self._find(agreement_id)
        if agreement is None:
            raise AgreementNotFoundError(f"no agreement {agreement_id}")
        return agreement

    def list_agreements(
        self, party: str | None = None, status: str | None = None, kind: str | None = None
    ) -> list[Agreement]:
        agreements = [self.get_agreement(i) for i in self.directory.agreement_ids(party)]
        return [
            a
            for a in agreements
            if (party is None or party in a.terms.parties)
            and (status is None or a.status == status)
            and (kind is None or a.terms.kind == kind)
        ]

    def history(self, agreement_id: uuid.UUID) -> list[Change]:
        """Every change of the agreement, oldest first, with the status and terms version after it."""
        self.get_agreement(agreement_id)
        return changes_of(self.repository.event_store.get(agreement_id))

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime | None = None) -> Coverage | None:
        """The agreement in force at `at` covering a referral from `from_org` to `to_org` for `service`.

        A service agreement (art. 108) under which `to_org` provides the service on behalf of `from_org` is
        preferred, then any other service agreement, then a collaboration agreement; then the latest start.
        """
        at = at or self.clock()
        found = []
        for agreement_id in self.directory.agreement_ids(from_org):
            agreement = self.get_agreement(agreement_id)
            terms = agreement.covering(from_org, to_org, service, at)
            if terms is not None:
                found.append(Coverage(agreement, terms))
        if not found:
            return None
        return min(found, key=lambda c: _preference(c, from_org, to_org, service))

    def volume_use(self, agreement_id: uuid.UUID) -> list[VolumeLine]:
        """Use of each service with a committed volume, per agreement year up to now (or the end)."""
        agreement = self.get_agreement(agreement_id)
        today = local_date(self.clock(), agreement.zone)
        last = min(today, agreement.terms.end) if agreement.terms.end else today
        lines = []
        start = agreement.terms.start
        period_start, period_end = agreement_year(start, start)
        while period_start <= last:
            for volume in agreement.terms.volumes:
                use = self._find_volume(volume_use_id(agreement.id, volume.service, period_start))
                used = use.used if use is not None else 0
                lines.append(VolumeLine(volume.service, period_start, period_end, used, volume.per_year))
            period_start, period_end = agreement_year(start, period_end + timedelta(days=1))
        return lines

    # --- volumes -------------------------------------------------------------------------------------

    def count_accepted_referral(self, referral: AcceptedReferral, tracking: Tracking | None = None) -> bool:
        """Counts an accepted referral against its agreement's volume once; returns whether it counted now.

        The agreement the referral names counts it if it covers the acceptance; otherwise (or without an agreement
        id) the agreement covering the referral when it was accepted is used; a referral no agreement covers counts
        against nothing.
        """
        guard_id = counted_referral_id(referral.referral_id)
        for _ in range(VOLUME_ATTEMPTS):
            if self._exists(guard_id):  # counted already (or, after a conflict, by another copy meanwhile)
                return False
            agreement = self._agreement_of(referral)
            if agreement is None:
                return False
            try:
                self.record(*self._counted(referral, agreement, guard_id), tracking=tracking)
            except IntegrityError:  # the volume moved meanwhile (another replica counted against it): read it again
                continue
            return True
        raise IntegrityError(f"volume use kept changing over {VOLUME_ATTEMPTS} attempts")

    def _counted(
        self, referral: AcceptedReferral, agreement: Agreement, guard_id: uuid.UUID
    ) -> tuple[VolumeUse, CountedReferral]:
        """The agreement's volume of the referral's year as it stands, with the referral used against it, and the guard
        recording that it was counted (recorded together)."""
        period_start, period_end = agreement.year_of(referral.occurred_at)
        use_id = volume_use_id(agreement.id, referral.to_service, period_start)
        use = self._find_volume(use_id) or VolumeUse(
            id=use_id,
            agreement_id=agreement.id,
            service=referral.to_service,
            period_start=period_start,
            period_end=period_end,
        )
        per_year = agreement.terms_at(referral.occurred_at).volume_for(referral.to_service)
        use.use(referral.referral_id, referral.occurred_at, per_year)
        guard = CountedReferral(
            id=guard_id,
            referral_id=referral.referral_id,
            agreement_id=agreement.id,
            service=referral.to_service,
            period_start=period_start,
        )
        return use, guard

    def _agreement_of(self, referral: AcceptedReferral) -> Agreement | None:
        """The agreement the referral counts against: the one it names if that one covers its acceptance (the
        receiver, service and instant: not after a redirect to another receiver, nor once terminated, suspended
        or past its end), otherwise the one covering it, if any (an unknown agreement id raises)."""
        if referral.agreement_id is not None:
            try:
                agreement_id = uuid.UUID(referral.agreement_id)
            except ValueError:
                raise AgreementNotFoundError("the agreement id is not an agreement's") from None
            named = self.get_agreement(agreement_id)
            if named.covering(referral.from_org, referral.to_org, referral.to_service, referral.occurred_at):
                return named
        found = self.coverage(referral.from_org, referral.to_org, referral.to_service, referral.occurred_at)
        return found.agreement if found else None

    # --- helpers -------------------------------------------------------------------------------------

    def _party_kinds(self, parties: tuple[str, ...]) -> dict[str, str]:
        """Kind of each registered party (unregistered parties are absent)."""
        entries = {p: self.directory.organisation(p) for p in parties}
        return {p: e.kind for p, e in entries.items() if e is not None}

    def _find(self, agreement_id: uuid.UUID) -> Agreement | None:
        try:
            agreement: Agreement = self.repository.get(agreement_id)
        except AggregateNotFoundError:
            return None
        return agreement if isinstance(agreement, Agreement) else None

    def _find_volume(self, use_id: uuid.UUID) -> VolumeUse | None:
        try:
            use: VolumeUse = self.repository.get(use_id)
        except AggregateNotFoundError:
            return None
        return use

    def _exists(self, aggregate_id: uuid.UUID) -> bool:
        return aggregate_id in self.repository


def named_proposal(agreement: Agreement, proposal_id: str | None, expected_revision: int | None) -> str | None:
    """The proposal a signature or a refusal names: `proposal_id`, else the one pending at the revision the caller read
    (`_change` checked the agreement is at `expected_revision`), else none."""
    if proposal_id is None and expected_revision is not None and agreement.proposal is not None:
        return agreement.proposal.id
    return proposal_id


def _preference(coverage: Coverage, from_org: str, to_org: str, service: str) -> tuple[bool, bool, int, str]:
    terms = coverage.terms.terms
    return (
        not terms.provided_on_behalf(from_org, to_org, service),
        terms.kind is not AgreementKind.SERVICE_108,
        -terms.start.toordinal(),
        str(coverage.agreement.id),
    )
