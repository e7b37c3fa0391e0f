"""Consents: the only write path of the consent service (consents, restrictions, decisions, the register, and the
organisations and agreements observed from the agreements context)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Tracking
from pydantic import BaseModel, ConfigDict

from services.common.clock import Clock, system_clock
from services.common.eventstore import DateAsISO, TrackedApplication
from services.common.projections import Projector, StateCodec
from services.consent.domain import (
    AgreementObserved,
    Consent,
    ConsentError,
    ConsentIdempotencyConflictError,
    ConsentNotFoundError,
    ConsentTermsInvalidError,
    ConsentVersionConflictError,
    DecisionNotFoundError,
    DecisionRecord,
    OrganisationObserved,
    RecordLimitReachedError,
    Refusal,
    RefusalNotFoundError,
    RegisterEntry,
    Restriction,
    RestrictionNotFoundError,
    keyed_id,
    observation_id,
    register_entry_id_for,
)
from services.consent.engine import evaluate
from services.consent.policy import (
    ADDED,
    Context,
    Decision,
    DecisionInput,
    Facts,
    LegalSettings,
    RuleTable,
    Source,
    age_band,
    digest_json,
    from_json,
    local_date,
    to_json,
)
from services.consent.rules import (
    REPRESENTATIVE_REQUESTERS,
    TABLES,
    regime_for,
    register_editions,
    table_for,
)
from services.consent.views import (
    ConsentState,
    ConsentView,
    ReadModel,
    RefusalState,
    RegisterQuery,
    RegisterRow,
    RegisterView,
    RestrictionState,
    aware,
    decision_tally,
)
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    GrantorRole,
    InfoCategory,
    OrgKind,
    Purpose,
    RequesterRole,
    ServiceCode,
)

CLOCK_SKEW = timedelta(seconds=30)
"""How far ahead of this service's clock a caller's `at` may be (clocks of other hosts drift)."""
DISCLOSURE_LAG = timedelta(minutes=5)
"""How far behind this service's clock a disclosure's `at` may be (a caller's clock, the network, a retry). A
disclosure releases information now: decided as of an earlier moment, it would pass a withdrawal or a regime change
recorded since. Only a decision (`decide`), which releases nothing, may be asked as of any past moment."""
DECISION = "DECISION"
DISCLOSURE = "DISCLOSURE"
RECORDS_PER_PERSON = 100
"""The consents, restrictions and refusals one organisation keeps on file for one person, whatever their state
(`CONSENT_MAX_RECORDS_PER_PERSON`). A decision about the person reads those its two parties hold, and its event
carries those that concern them: without a bound, a few hundred consents made each decision slower and, at about a
hundred of the largest, its event larger than Kafka takes. Withdrawn, lifted and expired records count: a decision
still reads them (they explain a refusal, and support a decision asked as of a moment when they held). The bound is
each holder's: one shared by every organisation let any of them fill it, blocking the person's own establishment,
and count through its 409 the records the others hold. An organisation renewing a consent with the person every two
years for sixty years files 30."""
RECORDS_PER_PERSON_MAX = 150
"""The most a deployment may let one organisation keep on file for one person: at that many of the largest records
held by each of a decision's parties, its event stays under half of Kafka's default record limit
(tests/consent/test_records_per_person.py)."""


class OrganisationRegistered(BaseModel):
    """What the engine needs of `OrganisationRegisteredV1` (anti-corruption: other fields are ignored, so a new
    optional field upstream changes nothing here)."""

    model_config = ConfigDict(extra="ignore")

    org_id: str
    kind: OrgKind
    occurred_at: datetime


class OnBehalfTerms(BaseModel):
    model_config = ConfigDict(extra="ignore")

    of_org: str
    services: list[ServiceCode]


class AgreementState(BaseModel):
    """What the engine needs of `AgreementStateV1`."""

    model_config = ConfigDict(extra="ignore")

    agreement_id: str
    kind: AgreementKind
    status: AgreementStatus
    parties: list[str]
    start: date
    end: date | None = None
    information_sharing: list[InfoCategory] | None = None
    on_behalf: list[OnBehalfTerms] = []
    occurred_at: datetime


def _digest(value: Any) -> str:
    canonical = json.dumps(digest_json(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who asks: a user (`sub`) of an organisation."""

    sub: str
    org: str


@dataclass(frozen=True)
class ConsentTerms:
    """A consent as recorded by an intake worker; validated at the edge, checked for coherence here."""

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
    discloser_org_ids: tuple[str, ...] = field(default=(), metadata=ADDED)
    """The organisations the consent authorises to communicate besides the one recording it."""


@dataclass(frozen=True)
class RestrictionTerms:
    subject_id: str
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[str, ...]
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    valid_from: datetime | None


@dataclass(frozen=True)
class RefusalTerms:
    subject_id: str
    requester_roles: tuple[str, ...]
    given_at: datetime
    document_ref: str | None


@dataclass(frozen=True)
class DecisionRequest:
    """What a partner asks (`at` None: now). The birth date gives the engine the person's age band (it is not
    recorded); the justification goes to the decision and the register entry, never to the engine or a topic."""

    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    purpose: Purpose
    categories: tuple[InfoCategory, ...]
    at: datetime | None = None
    context: Context = field(default_factory=Context)
    recipient_service: ServiceCode | None = None
    subject_birth_date: date | None = None
    justification: str | None = None

    def check(self, today: date) -> None:
        """Refuses what the current rules cannot read: a bare danger flag, a mandate named without its terms,
        purpose SERVICE_ON_BEHALF without the service, a minor's request not from a parent, a representation stated by
        someone else than a representative, dates to come."""
        c = self.context
        if c.danger and c.danger_assessment is None:
            raise ConsentTermsInvalidError("context.danger_assessment", "state the danger assessment, not only a flag")
        for name in ("mandate_contract_ref", "undertakings_received"):
            if getattr(c, name) and c.mandate is None:
                raise ConsentTermsInvalidError(f"context.{name}", "state the mandate in context.mandate")
        if self.purpose == Purpose.SERVICE_ON_BEHALF and self.recipient_service is None:
            raise ConsentTermsInvalidError("recipient_service", "required for purpose SERVICE_ON_BEHALF")
        if c.minor is not None and c.requester_role != RequesterRole.PARENT:
            raise ConsentTermsInvalidError(
                "context.requester_role", "a request about a minor comes from a parent: state requester_role PARENT"
            )
        if c.representation is not None and c.requester_role not in REPRESENTATIVE_REQUESTERS:
            raise ConsentTermsInvalidError(
                "context.requester_role",
                "a representation is stated by a representative: state requester_role TUTOR, CURATOR, MANDATARY or "
                "CARE_SUBSTITUTE",
            )
        for name, day in (
            ("subject_birth_date", self.subject_birth_date),
            ("context.subject_deceased_on", c.subject_deceased_on),
        ):
            if day is not None and day > today:
                raise ConsentTermsInvalidError(name, "is in the future")
        if self.subject_birth_date and c.subject_deceased_on and c.subject_deceased_on < self.subject_birth_date:
            raise ConsentTermsInvalidError("context.subject_deceased_on", "is before the birth date")


@dataclass(frozen=True)
class _Prepared:
    """A decision made and what recording it writes, in one transaction (None: it was recorded before)."""

    answer: RecordedDecision
    new: tuple[Any, ...] | None
    idempotency_key: str | None


@dataclass(frozen=True)
class RecordedDecision:
    decision_id: uuid.UUID
    kind: str
    input: DecisionInput
    facts: Facts
    decision: Decision
    decided_at: datetime
    requested_by_org: str
    register_entry_id: uuid.UUID | None
    request_digest: str
    justification: str | None = None

    @classmethod
    def of(cls, record: DecisionRecord) -> RecordedDecision:
        return cls(
            decision_id=record.id,
            kind=record.kind,
            input=from_json(DecisionInput, record.input),
            facts=from_json(Facts, record.facts),
            decision=from_json(Decision, record.result),
            decided_at=record.decided_at,
            requested_by_org=record.requested_by_org,
            register_entry_id=record.register_entry_id,
            request_digest=record.request_digest,
            justification=record.justification,
        )

    def concerns(self, org_id: str) -> bool:
        return org_id in (self.requested_by_org, self.input.discloser_org_id, self.input.recipient_org_id)


class Consents(TrackedApplication):
    """Records consents, decides disclosures under the configured regime, keeps the disclosure register."""

    name = "consents"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        regime_setting: str = "BY_DATE",
        legal: LegalSettings | None = None,
        records_per_person: int = RECORDS_PER_PERSON,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.records_per_person = records_per_person
        self.regime_setting = regime_setting
        regime_for(regime_setting, clock())  # fail fast on a bad setting
        self.versions = register_editions(legal or LegalSettings())
        self.legal = None if legal == LegalSettings() else legal
        """Kept on each decision when not the defaults (`DecisionInput.legal`)."""
        codec = StateCodec(self)
        facts, entries = Projector(self, ConsentView(codec)), Projector(self, RegisterView(codec))
        self.tally = Projector(self, decision_tally())
        """Decisions by outcome and legal route, counted from the store (a metric)."""
        self.projectors = (facts, entries, self.tally)
        self.view = ReadModel(facts, entries, codec)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- consents -----------------------------------------------------------------------------------------------

    def record_consent(
        self, terms: ConsentTerms, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[ConsentState, bool]:
        """Returns the consent and whether this call recorded it (False: an idempotent retry, answered as the first
        time was: the terms are checked only for a new consent, so a consent recorded under earlier rules replays)."""

        def consent(consent_id: uuid.UUID, digest: str, now: datetime) -> Consent:
            Consent.check_terms(
                terms.subject_birth_date,
                local_date(now),
                terms.valid_from,
                local_date(terms.valid_from),
                terms.valid_until,
            )
            self._check_grantor(terms)
            return Consent(
                id=consent_id,
                subject_id=terms.subject_id,
                subject_birth_date=terms.subject_birth_date,
                grantor_role=terms.grantor_role,
                grantor_mandate_ref=terms.grantor_mandate_ref,
                grantor_scope=None if terms.grantor_scope is None else list(terms.grantor_scope),
                method=terms.method,
                purposes=list(terms.purposes),
                recipient_org_ids=list(terms.recipient_org_ids),
                recipient_kinds=list(terms.recipient_kinds),
                categories=list(terms.categories),
                valid_from=terms.valid_from,
                valid_until=terms.valid_until,
                recorded_by=actor.sub,
                recorded_by_org=actor.org,
                recorded_at=now,
                request_digest=digest,
                discloser_org_ids=list(terms.discloser_org_ids),
            )

        consent_id, created = self._record_once("consent", terms, actor, idempotency_key, consent)
        return self.get_consent(consent_id), created

    def _check_grantor(self, terms: ConsentTerms) -> None:
        """Refuses what the rules in force when the consent is given would never count: a grantor not entitled at
        the person's age when it is given or when it starts (a 13-year-old's own consent, a parent's once the person
        is 14), a representative's consent that does not state the purposes their mandate covers."""
        given_at = min(terms.valid_from, self.clock())
        regime = regime_for(self.regime_setting, given_at)
        rule = table_for(regime, self.versions[regime]).grantor(GrantorRole(terms.grantor_role))
        for when, moment in (("when it is given", given_at), ("when it starts", terms.valid_from)):
            band = age_band(terms.subject_birth_date, moment)
            if rule is None or band not in rule.age_bands:
                raise ConsentTermsInvalidError(
                    "granted_by.role", f"{terms.grantor_role} may not consent for a person in age band {band} ({when})"
                )
        if rule is not None and rule.within_stated_mandate and terms.grantor_scope is None:
            raise ConsentTermsInvalidError(
                "granted_by.scope", "a representative consents only within their mandate: state the purposes it covers"
            )

    def withdraw_consent(
        self,
        consent_id: uuid.UUID,
        actor: Actor,
        at: datetime | None = None,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> ConsentState:
        """Withdraws a consent from `at` (default: now): no disclosure from then on rests on it."""

        def withdraw(consent: Consent) -> None:
            if expected_version is not None and expected_version != consent.version:
                raise ConsentVersionConflictError(f"the consent is at version {consent.version}")
            now = self.clock()
            consent.withdraw(at or now, reason, actor.sub, actor.org, now)

        self._change(consent_id, ConsentNotFoundError("no such consent"), withdraw)
        return self.get_consent(consent_id)

    def get_consent(self, consent_id: uuid.UUID) -> ConsentState:
        state = self.view.consent(str(consent_id))
        if state is None:
            raise ConsentNotFoundError("no such consent")
        return state

    def list_consents(self, subject_id: str) -> list[ConsentState]:
        return self.view.consents_of(subject_id)

    # --- restrictions (LRSSS ss. 7-8) ---------------------------------------------------------------------------

    def record_restriction(
        self, terms: RestrictionTerms, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[RestrictionState, bool]:

        def restriction(restriction_id: uuid.UUID, digest: str, now: datetime) -> Restriction:
            return Restriction(
                id=restriction_id,
                subject_id=terms.subject_id,
                recipient_org_ids=list(terms.recipient_org_ids),
                recipient_kinds=list(terms.recipient_kinds),
                purposes=list(terms.purposes),
                categories=list(terms.categories),
                valid_from=terms.valid_from or now,
                recorded_by=actor.sub,
                recorded_by_org=actor.org,
                recorded_at=now,
                request_digest=digest,
            )

        restriction_id, created = self._record_once("restriction", terms, actor, idempotency_key, restriction)
        return self.get_restriction(restriction_id), created

    def lift_restriction(self, restriction_id: uuid.UUID, actor: Actor, at: datetime | None = None) -> RestrictionState:
        def lift(restriction: Restriction) -> None:
            now = self.clock()
            restriction.lift(at or now, actor.sub, now)

        self._change(restriction_id, RestrictionNotFoundError("no such restriction"), lift)
        return self.get_restriction(restriction_id)

    def get_restriction(self, restriction_id: uuid.UUID) -> RestrictionState:
        state = self.view.restriction(str(restriction_id))
        if state is None:
            raise RestrictionNotFoundError("no such restriction")
        return state

    def list_restrictions(self, subject_id: str) -> list[RestrictionState]:
        return self.view.restrictions_of(subject_id)

    # --- written refusals (art. 23, LRSSS s. 8) ------------------------------------------------------------------

    def record_refusal(
        self, terms: RefusalTerms, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[RefusalState, bool]:
        if terms.given_at > self.clock() + CLOCK_SKEW:
            raise ConsentTermsInvalidError("given_on", "is in the future")

        def refusal(refusal_id: uuid.UUID, digest: str, now: datetime) -> Refusal:
            return Refusal(
                id=refusal_id,
                subject_id=terms.subject_id,
                requester_roles=list(terms.requester_roles),
                given_at=terms.given_at,
                document_ref=terms.document_ref,
                recorded_by=actor.sub,
                recorded_by_org=actor.org,
                recorded_at=now,
                request_digest=digest,
            )

        refusal_id, created = self._record_once("refusal", terms, actor, idempotency_key, refusal)
        return self.get_refusal(refusal_id), created

    def withdraw_refusal(self, refusal_id: uuid.UUID, actor: Actor, at: datetime | None = None) -> RefusalState:
        def withdraw(refusal: Refusal) -> None:
            now = self.clock()
            refusal.withdraw(at or now, actor.sub, now)

        self._change(refusal_id, RefusalNotFoundError("no such refusal"), withdraw)
        return self.get_refusal(refusal_id)

    def get_refusal(self, refusal_id: uuid.UUID) -> RefusalState:
        state = self.view.refusal(str(refusal_id))
        if state is None:
            raise RefusalNotFoundError("no such refusal")
        return state

    def list_refusals(self, subject_id: str) -> list[RefusalState]:
        return self.view.refusals_of(subject_id)

    # --- decisions and disclosures ------------------------------------------------------------------------------

    def decide(
        self, request: DecisionRequest, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[RecordedDecision, bool]:
        """Decides and records the decision (published on `rls.consent.decisions.v1`); discloses nothing. Returns
        it and whether this call recorded it (False: the answer to an earlier request with the same key)."""
        return self._written(self._prepare(DECISION, request, actor, idempotency_key))

    def disclose(
        self, request: DecisionRequest, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[RecordedDecision, bool]:
        """Decides and, when anything is permitted, enters the disclosure in the register in the same transaction."""
        return self._written(self._prepare(DISCLOSURE, request, actor, idempotency_key))

    async def decide_async(
        self, request: DecisionRequest, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[RecordedDecision, bool]:
        """`decide` on an event loop: decided there, written by the group commit while the loop goes on."""
        return await self._written_async(self._prepare(DECISION, request, actor, idempotency_key))

    async def disclose_async(
        self, request: DecisionRequest, actor: Actor, idempotency_key: str | None = None
    ) -> tuple[RecordedDecision, bool]:
        """`disclose` on an event loop (as `decide_async`)."""
        return await self._written_async(self._prepare(DISCLOSURE, request, actor, idempotency_key))

    def _written(self, prepared: _Prepared) -> tuple[RecordedDecision, bool]:
        if prepared.new is None:
            return prepared.answer, False
        try:
            self.record(*prepared.new)
        except IntegrityError as conflict:
            return self._raced(prepared, conflict)
        return prepared.answer, True

    async def _written_async(self, prepared: _Prepared) -> tuple[RecordedDecision, bool]:
        if prepared.new is None:
            return prepared.answer, False
        try:
            await self.record_async(*prepared.new)
        except IntegrityError as conflict:
            return self._raced(prepared, conflict)
        return prepared.answer, True

    def _raced(self, prepared: _Prepared, conflict: IntegrityError) -> tuple[RecordedDecision, bool]:
        """A concurrent retry with the same key recorded its request first: answered as it was answered."""
        answer = prepared.answer
        self._lost_race(answer.decision_id, answer.request_digest, prepared.idempotency_key, "request", conflict)
        return self.get_decision(answer.decision_id), False

    def _prepare(self, kind: str, request: DecisionRequest, actor: Actor, idempotency_key: str | None) -> _Prepared:
        """The decision and what recording it writes (nothing: the answer recorded before with this key)."""
        decision_id = keyed_id(kind.lower(), actor.org, idempotency_key)
        digest = _digest(request)
        if self._recorded_before(decision_id, digest, idempotency_key, "request"):
            return _Prepared(self.get_decision(decision_id), None, idempotency_key)
        now = self.clock()
        request.check(local_date(now))
        at = request.at or now
        if kind == DISCLOSURE and at > now + CLOCK_SKEW:
            raise ConsentTermsInvalidError("at", "a disclosure cannot be dated in the future")
        if kind == DISCLOSURE and at < now - DISCLOSURE_LAG:
            lag = f"{DISCLOSURE_LAG.total_seconds() / 60:g} minutes"
            raise ConsentTermsInvalidError(
                "at",
                f"a disclosure happens now: it cannot be dated more than {lag} before it is asked "
                "(a decision, which discloses nothing, may be asked as of a past moment)",
            )
        regime = regime_for(self.regime_setting, at)
        decision_input = DecisionInput(
            subject_id=request.subject_id,
            discloser_org_id=request.discloser_org_id,
            recipient_org_id=request.recipient_org_id,
            purpose=request.purpose,
            categories=tuple(dict.fromkeys(request.categories)),
            at=at,
            regime=regime,
            regime_version=self.versions[regime],
            context=request.context,
            recipient_service=request.recipient_service,
            disclosed_at=now if kind == DISCLOSURE else None,
            legal=self.legal,
        )
        preview = previews(kind, request.discloser_org_id, actor)
        facts = self.view.facts_for(decision_input, request.subject_birth_date, preview)
        decision = evaluate(decision_input, facts)
        entry = None
        if kind == DISCLOSURE and decision.permitted_categories:
            entry = RegisterEntry(
                id=register_entry_id_for(decision_id),
                decision_id=decision_id,
                at=at,
                subject_id=request.subject_id,
                discloser_org_id=request.discloser_org_id,
                recipient_org_id=request.recipient_org_id,
                categories=[c.value for c in decision.permitted_categories],
                purpose=request.purpose.value,
                bases=to_json(decision.basis),
                obligations=[o.value for o in decision.obligations],
                regime=decision.regime.value,
                recorded_at=now,
                justification=request.justification,
                reference=reference_of(decision, decision_input),
                disclosed_by=actor.sub,
                regime_superseded=decision.regime_superseded,
                conditions=stated_conditions(decision_input.context),
            )
        record = DecisionRecord(
            id=decision_id,
            kind=kind,
            input=to_json(decision_input),
            facts=to_json(facts),
            result=to_json(decision),
            decided_at=now,
            requested_by=actor.sub,
            requested_by_org=actor.org,
            request_digest=digest,
            register_entry_id=entry.id if entry else None,
            justification=request.justification,
        )
        recorded = RecordedDecision(
            decision_id=decision_id,
            kind=kind,
            input=decision_input,
            facts=facts,
            decision=decision,
            decided_at=now,
            requested_by_org=actor.org,
            register_entry_id=record.register_entry_id,
            request_digest=digest,
            justification=request.justification,
        )
        return _Prepared(recorded, (record, *([entry] if entry else [])), idempotency_key)

    def get_decision(self, decision_id: uuid.UUID) -> RecordedDecision:
        record = self._find(decision_id)
        if not isinstance(record, DecisionRecord):  # nothing, or a consent, restriction, refusal or register entry
            raise DecisionNotFoundError("no such decision")
        return RecordedDecision.of(record)

    def reevaluate(self, decision_id: uuid.UUID) -> tuple[RecordedDecision, Decision]:
        """The recorded decision and the engine's answer today to the same input and facts (they must be equal)."""
        recorded = self.get_decision(decision_id)
        return recorded, evaluate(recorded.input, recorded.facts)

    @staticmethod
    def evaluate(decision_input: DecisionInput, facts: Facts) -> Decision:
        """The engine alone, on a recorded input and facts (what auditors re-run); records nothing."""
        return evaluate(decision_input, facts)

    def rule_tables(self) -> list[tuple[str, RuleTable, bool]]:
        """Every rule table this build can apply or re-apply, with its version and whether this service applies
        it to new decisions."""
        return [(version, table, self.versions[regime] == version) for (regime, version), table in TABLES.items()]

    def register_entries(self, query: RegisterQuery) -> tuple[list[RegisterRow], int | None]:
        return self.view.register(query)

    def holders(self, record_ids: Sequence[str]) -> dict[str, str]:
        """The organisation holding each of these consents, restrictions or refusals (what a decision's readers may
        see of them depends on it)."""
        return self.view.holders(record_ids)

    # --- what the agreements context tells us -------------------------------------------------------------------

    def observe_organisation(self, upstream_event_id: str, org: OrganisationRegistered, tracking: Tracking) -> None:
        """Records an organisation's kind once in effect (who may disclose under which article depends on it)."""
        observation = OrganisationObserved(
            id=observation_id(upstream_event_id),
            upstream_event_id=upstream_event_id,
            org_id=org.org_id,
            kind=org.kind.value,
            occurred_at=aware(org.occurred_at),
        )
        self._observe(observation, tracking)

    def observe_agreement(
        self, upstream_event_id: str, upstream_type: str, state: AgreementState, tracking: Tracking
    ) -> None:
        """Records an agreement's state once in effect (its timeline answers "what was in force at a date")."""
        observation = AgreementObserved(
            id=observation_id(upstream_event_id),
            upstream_event_id=upstream_event_id,
            upstream_type=upstream_type,
            agreement_id=state.agreement_id,
            kind=state.kind.value,
            status=state.status.value,
            parties=list(state.parties),
            start=state.start,
            end=state.end,
            information_sharing=[c.value for c in state.information_sharing or []],
            occurred_at=aware(state.occurred_at),
            on_behalf=[o.model_dump(mode="json") for o in state.on_behalf],
        )
        self._observe(observation, tracking)

    def _observe(self, observation: OrganisationObserved | AgreementObserved, tracking: Tracking) -> None:
        try:
            self.record(observation, tracking=tracking)
        except IntegrityError:  # the same upstream event again (another copy, another offset)
            self.mark_processed(tracking)

    # --- Idempotency-Key: one aggregate per key, its request's digest tells a retry from a reuse --------------

    def _record_once(
        self,
        what: str,
        terms: Any,
        actor: Actor,
        key: str | None,
        build: Callable[[uuid.UUID, str, datetime], Any],
    ) -> tuple[uuid.UUID, bool]:
        """Records what `build(id, digest, now)` makes, once per Idempotency-Key; (its id, whether this call did). A
        retry is answered as the first time was, even once the person's records are at their bound."""
        aggregate_id = keyed_id(what, actor.org, key)
        digest = _digest(terms)
        if self._recorded_before(aggregate_id, digest, key, what):
            return aggregate_id, False
        new = build(aggregate_id, digest, self.clock())
        self._check_room(terms.subject_id, actor.org)
        return aggregate_id, self._record_first(aggregate_id, digest, key, what, new)

    def _check_room(self, subject_id: str, holder: str) -> None:
        """Refuses a record beyond the bound of what `holder` keeps about the person (`records_per_person`); what
        other organisations hold neither counts nor shows. Concurrent records may pass it by as many as are written
        at once: the bound keeps decisions' events far below Kafka's limit, not at it."""
        if self.view.records_on_file(subject_id, holder) >= self.records_per_person:
            raise RecordLimitReachedError(
                f"your organisation has {self.records_per_person} consents, restrictions and refusals on file for "
                "the person, withdrawn and expired ones included: the most this service keeps for one organisation"
            )

    def _recorded_before(self, aggregate_id: uuid.UUID, digest: str, key: str | None, what: str) -> bool:
        """Whether a request with this key was recorded; the key with another request is a conflict."""
        if key is None:
            return False
        existing = self._find(aggregate_id)
        if existing is None:
            return False
        if existing.request_digest != digest:
            raise ConsentIdempotencyConflictError(f"this Idempotency-Key was used for a different {what}")
        return True

    def _record_first(self, aggregate_id: uuid.UUID, digest: str, key: str | None, what: str, *new: Any) -> bool:
        """Records `new`; False when a concurrent retry with the same key recorded its request first."""
        try:
            self.record(*new)
        except IntegrityError as conflict:
            self._lost_race(aggregate_id, digest, key, what, conflict)
            return False
        return True

    def _lost_race(
        self, aggregate_id: uuid.UUID, digest: str, key: str | None, what: str, conflict: IntegrityError
    ) -> None:
        """Returns when a concurrent retry with the same key recorded its request first; raises `conflict` else."""
        if not self._recorded_before(aggregate_id, digest, key, what):
            raise conflict

    def _change(self, aggregate_id: uuid.UUID, missing: ConsentError, change: Callable[[Any], None]) -> None:
        """Loads, changes and records an aggregate; after a concurrent change, again on the new state (which may
        refuse it: a consent withdrawn meanwhile reports that it was already withdrawn)."""
        aggregate = self._find(aggregate_id)
        if aggregate is None:
            raise missing
        change(aggregate)
        try:
            self.record(aggregate)
        except IntegrityError:
            self._change(aggregate_id, missing, change)

    def _find(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


def previews(kind: str, discloser_org_id: str, actor: Actor) -> bool:
    """Whether a decision is a preview: asked for itself by an organisation other than the discloser (the recipient's
    workers, an auditor), it reads none of the discloser's records, which that organisation may not read; it tells
    what the consents the recipient holds allow, not the discloser's answer. The discloser's own decisions and every
    disclosure (its own, or the one a platform service makes for it on a recipient's worker's request: `actor` is
    that worker) read all the facts."""
    return kind == DECISION and actor.org != discloser_org_id


def stated_conditions(context: Context) -> dict[str, Any]:
    """The circumstances the discloser stated (what differs from the defaults), kept on the register entry."""
    stated = to_json(context)
    return {k: v for k, v in stated.items() if v not in (None, False, "")}


CONTEXT_REFERENCES: tuple[tuple[str, Callable[[Context], str | None]], ...] = (
    ("mandate", lambda c: c.mandate.ref if c.mandate else None),
    ("order", lambda c: c.court_order_ref),
    ("danger-assessment", lambda c: c.danger_assessment.ref if c.danger_assessment else None),
    ("research-authorisation", lambda c: c.research_authorisation_ref),
    ("representation", lambda c: c.representation.mandate_ref if c.representation else None),
)


def reference_of(decision: Decision, request: DecisionInput) -> str | None:
    """What the disclosure rests on, for the register (27.2, LRSSS s. 265): the consents and agreements of its
    bases, and the mandate, order, danger assessment or authorisation the discloser cited."""
    table = table_for(decision.regime, decision.regime_version)
    references: list[str] = []
    for basis in decision.basis:
        if basis.consent_id:
            references.append(f"consent:{basis.consent_id}")
        elif basis.agreement_id:
            references.append(f"agreement:{basis.agreement_id}")
        elif table.route(basis.route).source == Source.CONTEXT:
            references += [f"{name}:{ref}" for name, cited in CONTEXT_REFERENCES if (ref := cited(request.context))]
    return "; ".join(dict.fromkeys(references)) or None
