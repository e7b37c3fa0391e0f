"""Referrals: the only write path of the referral service."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.common.clock import Clock, system_clock
from services.common.eventstore import TrackedApplication
from services.common.heap import collector_paused
from services.common.projections import Projector, StateCodec
from services.contract.codes import DEFAULT_REASON_CODES, Purpose
from services.contract.delay_standards import DEFAULT_BOUNDS, Compliance, Policy, compute_clocks
from services.contract.delay_standards import Clock as DelayClock
from services.contract.duration_standards import DurationPolicy
from services.referral.domain import (
    Covering,
    DependencyUnavailableError,
    DisclosureForbiddenError,
    DisclosureRejectedError,
    IdempotentRequest,
    InformationDeniedError,
    Meeting,
    PlanChange,
    Referral,
    ReferralAgreementError,
    ReferralEndedError,
    ReferralIdempotencyConflictError,
    ReferralNotFoundError,
    ReferralReasonError,
    ReferralTargetError,
    ReferralVersionConflictError,
    Step,
    SubjectErasedError,
    referral_id_for,
)
from services.referral.ports import (
    Coverage,
    Directory,
    DisclosureDecision,
    DisclosureGate,
    DisclosureRequest,
    Gateways,
    InformationVault,
)
from services.referral.views import Listing, ReferralIndex, ReferralView

CHANGE_ATTEMPTS = 3
"""How many times a command without If-Match is applied when concurrent writes keep moving the referral."""


class NoVault:
    """The vault of an application that keeps no record information (an auditor reading the store): it refuses to
    store any, and has none to read."""

    def store(self, referral_id: str, subject_id: str, information: Mapping[str, str]) -> None:
        if information:
            raise ValueError("this application keeps no record information (it was built without a vault)")

    def categories(self, referral_id: str) -> list[str]:
        return []

    def readable(self, referral_id: str) -> list[str]:
        return []

    def read(self, referral_id: str, categories: list[str]) -> dict[str, str]:
        return {}

    def erase_subject(self, subject_id: str) -> bool:
        return False


@dataclass(frozen=True)
class Submission:
    """What a worker submits; validated at the edge, trusted here."""

    subject_id: str
    from_org: str
    from_service: str
    to_org: str
    to_service: str
    channel: str
    urgency: str
    reason_code: str
    accompaniment: str
    agreement_id: str | None

    def digest(self, information: dict[str, str]) -> str:
        """Fingerprint telling a retried request from a different one reusing its key."""
        canonical = json.dumps([self.__dict__, information], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Asked:
    """One decision of the consent service on a release, and the purpose it was asked for."""

    purpose: Purpose
    decision: DisclosureDecision


@dataclass(frozen=True)
class Undecided:
    """Categories the consent service gave no decision on: asking it for them failed after another decision of the
    same read had permitted some (released, since it registered them). Nothing was released for them."""

    purpose: Purpose
    categories: list[str]
    explanation: str


@dataclass(frozen=True)
class Release:
    """Record information released to the receiving organisation, on which decisions (in the order asked; none: the
    referral holds none of the categories asked for, so nothing was asked of the consent service), the categories not
    released (denied by a decision, or undecided), and those the consent service did not decide on, if any."""

    decisions: tuple[Asked, ...]
    information: dict[str, str]
    denied_categories: list[str]
    undecided: Undecided | None = None


def coverage_for(directory: Directory, from_org: str, to_org: str, to_service: str, at: datetime) -> Coverage:
    """The agreement covering a referral from `from_org` to `to_org`'s `to_service` at `at`, on submission and on
    each redirection alike; the target must offer the service."""
    if not directory.offers(to_org, to_service):
        raise ReferralTargetError("to_service: the target organisation does not offer this service")
    return directory.coverage(from_org, to_org, to_service, at)


NO_DECISION = (DependencyUnavailableError, DisclosureForbiddenError, DisclosureRejectedError)
"""How asking the consent service fails to bring a decision: it did not answer, or refused the requester or the
request."""


def _bases(coverage: Coverage, categories: list[str]) -> list[tuple[Purpose, list[str]]]:
    """Each category on one basis, to be decided once: when the receiver provides the service on the referring
    institution's behalf under a service agreement (art. 108), the categories its clause carries for
    SERVICE_ON_BEHALF; every other category for REFERRAL (the person's consent to the referral). A basis without a
    category is not asked. A clause the agreements service did not name (one older than `clause_categories`) is
    taken to carry every category asked: all are decided on the clause as the consent service knows it (what it does
    not carry is denied), never by a consent that would pass over a bar on the clause."""
    named = coverage.clause_categories if coverage.on_behalf else ()
    clause = set(categories if named is None else named)
    split = (
        (Purpose.SERVICE_ON_BEHALF, [category for category in categories if category in clause]),
        (Purpose.REFERRAL, [category for category in categories if category not in clause]),
    )
    return [(purpose, asked) for purpose, asked in split if asked]


def _decide(
    gate: DisclosureGate,
    referral: Referral,
    bases: list[tuple[Purpose, list[str]]],
    at: datetime,
    lang: str | None,
) -> tuple[tuple[Asked, ...], set[str], Undecided | None]:
    """The consent service's decision on each basis in turn (each one that permits is a disclosure it registers), the
    categories they permitted (of those asked on their basis), and the basis it gave no decision on. A failure before
    anything was permitted is the read's; after, what was permitted stands, and nothing more is asked."""
    decisions: list[Asked] = []
    permitted: set[str] = set()
    for purpose, categories in bases:
        request = DisclosureRequest(
            referral.subject_id,
            referral.from_org,
            referral.to_org,
            purpose.value,
            categories,
            at,
            lang,
            recipient_service=referral.to_service,
        )
        try:
            decision = gate.disclose(request)
        except NO_DECISION as error:
            if not permitted:
                raise
            why = (
                f"The consent service gave no decision on these categories for {purpose.value} ({error}): nothing "
                "was released for them; a later read asks for them again."
            )
            return tuple(decisions), permitted, Undecided(purpose, categories, why)
        decisions.append(Asked(purpose, decision))
        permitted.update(category for category in categories if category in decision.permitted_categories)
    return tuple(decisions), permitted, None


class Referrals(TrackedApplication):
    """Submits referrals, moves them through their lifecycle, runs their clocks, releases their information."""

    name = "referrals"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        policy: Policy | None = None,
        vault: InformationVault | None = None,
        reason_codes: Collection[str] = DEFAULT_REASON_CODES,
        durations: DurationPolicy | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.policy = policy or Policy(DEFAULT_BOUNDS)
        self.durations = durations or DurationPolicy()
        """The duration standards' limits (`duration-exceeded`), as the standards board's."""
        self.vault: InformationVault = vault or NoVault()
        self.reason_codes = frozenset(reason_codes)
        """The configurable taxonomy of problems a referral's `reason_code` is taken from."""
        view = ReferralView(self.policy, StateCodec(self))
        projector = Projector(self, view)
        self.projectors = (projector,)
        self.index = ReferralIndex(projector, view)

    def submit(
        self,
        submission: Submission,
        submitted_by: str,
        idempotency_key: str | None,
        directory: Directory,
        information: dict[str, str] | None = None,
    ) -> tuple[Referral, bool]:
        """Returns the referral and whether this call created it (False: an idempotent retry).

        The information is stored once the referral is recorded, so that only the request that recorded it stores
        any (a concurrent one reusing the key with another person's information gets 409 and stores nothing);
        a retry finding none stored completes a submission interrupted between the two writes (after an erasure
        the ciphertexts remain, so a retry never brings erased information back)."""
        if submission.reason_code not in self.reason_codes:
            raise ReferralReasonError("reason_code: unknown reason code")
        information = information or {}
        referral_id = referral_id_for(submission.from_org, idempotency_key)
        digest = submission.digest(information)
        existing = self._find(referral_id)
        if existing is not None:
            if existing.request_digest != digest:
                raise ReferralIdempotencyConflictError("this Idempotency-Key was used for a different referral")
            if not self.vault.categories(str(referral_id)):
                self.vault.store(str(referral_id), submission.subject_id, information)
            return existing, False
        now = self.clock()
        coverage = coverage_for(directory, submission.from_org, submission.to_org, submission.to_service, now)
        if submission.agreement_id and submission.agreement_id != coverage.agreement_id:
            raise ReferralAgreementError("agreement_id: this agreement does not cover the referral now")
        fields = {**submission.__dict__, "agreement_id": coverage.agreement_id}
        referral = Referral(
            id=referral_id,
            submitted_by=submitted_by,
            submitted_at=now,
            request_digest=digest,
            agreement_kind=coverage.kind,
            **fields,
        )
        try:
            self.record(referral)
        except IntegrityError:  # a concurrent retry with the same key won the race
            return self.submit(submission, submitted_by, idempotency_key, directory, information)
        self.vault.store(str(referral_id), submission.subject_id, information)
        return referral, True

    def perform(
        self,
        referral_id: uuid.UUID,
        command: str,
        step: Step,
        expected_version: int | None,
        cover: Callable[[Referral], Covering] | None = None,
    ) -> Referral:
        """One lifecycle command; `expected_version` (If-Match) guards against concurrent changes. A redirection goes
        through `redirect`, which passes the lookup of the agreement covering the new receiver (`cover`), called
        only once the referral allowed the step."""

        def command_on(referral: Referral) -> None:
            covering = (lambda: cover(referral)) if cover is not None else None
            referral.perform(command, step, self.clock(), covering)

        referral, _ = self._change(referral_id, expected_version, None, command_on)
        return referral

    def record_meeting(
        self, referral_id: uuid.UUID, meeting: Meeting, expected_version: int | None, request: IdempotentRequest | None
    ) -> tuple[Referral, bool]:
        """Records a meeting (and `duration-exceeded` when it goes past the limit); False: an idempotent retry."""
        return self._change(
            referral_id,
            expected_version,
            request,
            lambda r: r.record_meeting(meeting, request, self.clock(), self.durations),
        )

    def change_plan(
        self,
        referral_id: uuid.UUID,
        change: PlanChange,
        expected_version: int | None,
        request: IdempotentRequest | None,
    ) -> tuple[Referral, bool]:
        """Sets or revises the intervention plan; False: an idempotent retry."""
        return self._change(
            referral_id, expected_version, request, lambda r: r.change_plan(change, request, self.clock())
        )

    def _change(
        self,
        referral_id: uuid.UUID,
        expected_version: int | None,
        request: IdempotentRequest | None,
        command: Callable[[Referral], None],
    ) -> tuple[Referral, bool]:
        """Applies a command to the referral at `expected_version` (If-Match) unless `request` was applied already.
        Without If-Match, a clock tick's flag recorded meanwhile is no conflict of the client's: the command is applied
        again to the referral as it now stands, a few times at most. Any other write meanwhile (a step, a meeting) is
        a conflict: applied again, the same meeting sent twice without an Idempotency-Key was recorded twice."""
        read: int | None = None
        for _ in range(CHANGE_ATTEMPTS):
            referral = self.get_referral(referral_id)
            if referral.replayed(request):  # a concurrent retry with the same key won the race
                return referral, False
            if expected_version is not None and expected_version != referral.version:
                raise ReferralVersionConflictError(
                    f"the referral is at version {referral.version}, not {expected_version}"
                )
            if read is not None and not self._only_flagged_since(referral_id, read):
                break
            read = referral.version
            command(referral)
            try:
                self.record(referral)
            except IntegrityError:
                continue
            return referral, True
        raise ReferralVersionConflictError("the referral changed meanwhile; read it again")

    def _only_flagged_since(self, referral_id: uuid.UUID, version: int) -> bool:
        """Whether every event recorded on the referral after `version` is a clock's flag."""
        later = self.repository.event_store.get(referral_id, gt=version)
        return all(isinstance(e, Referral.DelayFlagged) for e in later)

    def redirect(
        self, referral_id: uuid.UUID, step: Step, expected_version: int | None, directory: Directory
    ) -> Referral:
        """Redirects to another organisation's service, which must offer it, under the agreement covering the new
        receiver when the redirection happens (none: an orientation), looked up as on submission. The agreements
        service is asked only about a redirection the referral allows (If-Match, who, status, target, time)."""
        to_org, to_service = step.to_org, step.to_service
        assert to_org is not None and to_service is not None

        def cover(referral: Referral) -> Covering:
            coverage = coverage_for(directory, referral.from_org, to_org, to_service, step.at)
            return Covering(agreement_id=coverage.agreement_id, agreement_kind=coverage.kind)

        return self.perform(referral_id, "redirect", step, expected_version, cover)

    def get_referral(self, referral_id: uuid.UUID) -> Referral:
        referral = self._find(referral_id)
        if referral is None:
            raise ReferralNotFoundError("no such referral")
        return referral

    def list_referrals(self, listing: Listing | None = None) -> list[Referral]:
        """Referrals in submission order (default: all of them)."""
        return [referral for _, referral in self.index.page(listing or Listing())]

    def clocks(self, referral: Referral) -> list[DelayClock]:
        return compute_clocks(referral.history, referral.channel, referral.urgency, self.policy, self.clock())

    def compliance(
        self, org: str | None, service: str | None, start: datetime | None, end: datetime | None
    ) -> list[Compliance]:
        """Delay-standard compliance of the clocks started in [start, end) for a responsible org and service."""
        return self.index.compliance(org, service, start, end, self.clock())

    def tick(self) -> int:
        """Records every at-risk and breach threshold crossed by now, with its true time; returns how many.
        Reads only the clocks with a threshold passed and not flagged yet (the view's index on it), and records
        their flags in one transaction, each at the version of its referral the view was computed at: a referral
        that moved meanwhile (a concurrent step or tick) fails the version check, and is then flagged on its own."""
        now = self.clock()
        with collector_paused():  # a thousand flags' objects, freed as the write ends (`collector_paused`)
            due = self.index.due(now)
            if not due:
                return 0
            recorded_at = Referral.DelayFlagged.create_timestamp()
            events = (e for d in due for e in Referral.delay_flags(d.referral_id, d.version, d.flags, recorded_at))
            try:
                self.record(*events)
            except IntegrityError:
                return sum(self._flag(d.referral_id, now) for d in due)
            return sum(len(d.flags) for d in due)

    def look_ahead(self, until: datetime) -> int:
        """Gets the ticks until `until` ready while nothing is due, off the write path: reads the seals their flags
        will chain to, with the index pages their inserts will visit (`look_ahead` of the store), so that a tick
        holds the events table's lock only to write. A referral that moves meanwhile is flagged as ever (its newer
        version chains to its newer seal, asked in the write). Returns how many seals were read."""
        return self.read_seals_ahead([(referral_id, version + 1) for referral_id, version in self.index.due_by(until)])

    def _flag(self, referral_id: uuid.UUID, now: datetime) -> int:
        """Flags one referral as it stands now (read from its events)."""
        referral = self.get_referral(referral_id)
        before = len(referral.flags)
        due = [
            (clock, kind, at)
            for clock in self.clocks(referral)
            for kind, at in clock.due_flags(now)
            if (clock.standard.value, kind, clock.started_at) not in referral.flags
        ]
        for clock, kind, at in sorted(due, key=lambda item: item[2]):
            referral.flag_delay(
                {
                    "standard": clock.standard.value,
                    "kind": kind,
                    "started_at": clock.started_at,
                    "due_at": clock.due_at,
                    "at": at,
                    "bound_s": int(clock.bound.total_seconds()),
                    "responsible_org": clock.responsible_org,
                    "service": clock.service,
                }
            )
        try:
            self.record(referral)
        except IntegrityError:  # the referral moved meanwhile; the next tick sees it again
            return 0
        return len(referral.flags) - before

    def release_information(
        self, referral: Referral, categories: list[str] | None, gateways: Gateways, lang: str | None = None
    ) -> Release:
        """Asks the consent service, then decrypts only what it permitted. Each category is decided once, on one
        basis: when, now, the receiver provides its service on the referring institution's behalf under a service
        agreement (art. 108), the categories the agreement's clause carries are asked for SERVICE_ON_BEHALF, and the
        others for a disclosure by consent (REFERRAL: the person's consent to the referral); any other referral asks
        for REFERRAL only. A category the on-behalf decision denies (the person's restriction, a sensitive category)
        is not asked again for another purpose. The release is the union of what the decisions permitted; nothing
        permitted: a refusal explained by each decision, naming the last.

        The consent service registers every disclosure it permits, so it is asked only for what would be disclosed:
        only while the referral is live (minimum necessary), and only the categories asked for (default: all) that
        the vault holds and can still read. None held: an empty release, nothing asked; held but erased: the
        erasure (SubjectErasedError), nothing asked. What it permitted is registered, so it is released: when asking
        for the second basis fails after the first permitted something, the release names the second basis'
        categories undecided (`Release.undecided`) instead of failing; a failure before anything was permitted is
        the read's."""
        if not referral.live:
            raise ReferralEndedError(referral.status)
        stored = self.vault.categories(str(referral.id))
        held = [category for category in dict.fromkeys(categories or stored) if category in stored]
        if not held:
            return Release((), {}, [])
        readable = set(self.vault.readable(str(referral.id)))
        requested = [category for category in held if category in readable]
        if not requested:
            raise SubjectErasedError("the person's information was erased")
        now = self.clock()
        coverage = gateways.directory.coverage(referral.from_org, referral.to_org, referral.to_service, now)
        bases = _bases(coverage, requested)
        decisions, permitted, undecided = _decide(gateways.disclosures, referral, bases, now, lang)
        released = [category for category in requested if category in permitted]
        denied = [category for category in requested if category not in permitted]
        if not released:
            explanation = " ".join(dict.fromkeys(a.decision.explanation for a in decisions if a.decision.explanation))
            raise InformationDeniedError(explanation, decisions[-1].decision.decision_id, denied)
        return Release(decisions, self.vault.read(str(referral.id), released), denied, undecided)

    def _find(self, referral_id: uuid.UUID) -> Referral | None:
        try:
            referral: Referral = self.repository.get(referral_id)
        except AggregateNotFoundError:
            return None
        return referral
