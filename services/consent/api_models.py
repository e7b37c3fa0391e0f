"""Request and response models of the consent API (v1); codes are the contract's (CONTRACT.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from services.common.params import Day, LocalInstant, within_years
from services.consent.application import (
    ConsentTerms,
    DecisionRequest,
    RecordedDecision,
    RefusalTerms,
    RestrictionTerms,
)
from services.consent.explain import Lang, explain
from services.consent.policy import (
    QUEBEC,
    ComplaintBody,
    Context,
    DangerAssessment,
    Decision,
    DecisionInput,
    Facts,
    Mandate,
    MinorRequest,
    ReasonCode,
    Representation,
    RuleStatus,
    end_of_local_day,
    from_json,
    start_of_local_day,
)
from services.consent.rules import REPRESENTATIVE_REQUESTERS
from services.consent.views import ConsentState, RefusalState, RegisterRow, RestrictionState
from services.contract.codes import (
    ORG_ID_PATTERN,
    AtRisk,
    ConsentMethod,
    DangerAct,
    DangerRecipientRole,
    DangerRisk,
    GrantorRole,
    InfoCategory,
    Obligation,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
    RequesterRole,
    ServiceCode,
)
from services.contract.consent_events import DecisionFactsV1, DecisionInputV1, decision_parties
from services.contract.subject import SubjectId

REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _./:#-]{0,99}$"
"""References (court orders, mandates, authorisations) are numbers, not descriptions."""


def _moment(value: Any) -> Any:
    if not isinstance(value, str | date):
        raise ValueError("expected an ISO 8601 date or date-time")  # pydantic would read a number as a Unix time
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 date or date-time") from None
    return value


_within_the_calendar = within_years(QUEBEC, " (in Québec time)")
"""Every date or instant a request gives, in a body or a query (near year 1 or 9999 an instant may not be
convertible: it was a 500)."""


Moment = Annotated[datetime | date, BeforeValidator(_moment), AfterValidator(_within_the_calendar)]
"""An instant (ISO 8601; without an offset: Québec time) or a Québec calendar date."""

CalendarDay = Annotated[Day, AfterValidator(_within_the_calendar)]
"""A date given (`Day`) in the years `YEARS`."""

CalendarInstant = Annotated[LocalInstant, AfterValidator(_within_the_calendar)]
"""A query's instant (`LocalInstant`: without an offset, Québec time) in the years `YEARS`, as a body's: the list
routes' `from` and `to`."""


MAX_RECIPIENTS = 100
"""The organisations (and kinds) one consent or restriction may name. A consent's terms travel in its event and in
every later decision about the person to one of them: 90,000 fitted the body limit and made those events too large for
Kafka (dead-lettered: the audit never saw them). A territory counts a few dozen partners; beyond, name their kind."""

ALL_PURPOSES = len(Purpose)
ALL_CATEGORIES = len(InfoCategory)
ALL_REQUESTER_ROLES = len(RequesterRole)
"""A list of codes holds each at most once (repeated, it is read once): no more items than there are codes."""


def instant(value: datetime | date, *, end: bool = False) -> datetime:
    """A timezone-aware instant; a date is the start of that Québec day (or, for an end, the start of the next)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=QUEBEC)
    return end_of_local_day(value) if end else start_of_local_day(value)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recipient(_In):
    """A specific organisation (`org_id`) or every organisation of a kind (`org_kind`): exactly one."""

    org_id: str | None = Field(None, pattern=ORG_ID_PATTERN)
    org_kind: OrgKind | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Recipient:
        if (self.org_id is None) == (self.org_kind is None):
            raise ValueError("give exactly one of org_id and org_kind")
        return self

    @staticmethod
    def all_of(org_ids: Iterable[str], kinds: Iterable[str]) -> list[Recipient]:
        """The recipients a consent or restriction names: its organisations, then its kinds."""
        return [Recipient(org_id=o) for o in org_ids] + [Recipient(org_kind=OrgKind(k)) for k in kinds]

    @staticmethod
    def split(recipients: Iterable[Recipient]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The distinct organisations and the distinct kinds named, in order."""
        named = list(recipients)
        org_ids = dict.fromkeys(r.org_id for r in named if r.org_id)
        kinds = dict.fromkeys(r.org_kind.value for r in named if r.org_kind)
        return tuple(org_ids), tuple(kinds)


class Grantor(_In):
    """Who gave the consent: the person (SELF) or who may consent on their behalf, within that role."""

    role: GrantorRole
    mandate_ref: str | None = Field(None, pattern=REFERENCE_PATTERN, description="Judgment or mandate reference")
    scope: list[Purpose] | None = Field(
        None,
        min_length=1,
        max_length=ALL_PURPOSES,
        description="Purposes the mandate covers (a mandatary's protection mandate, say); required from a "
        "representative (TUTOR, CURATOR, MANDATARY, CARE_SUBSTITUTE), who consents only within it",
    )


OrgId = Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]


class ConsentCreate(_In):
    """A consent for a person (pseudonymous `subject_id`)."""

    subject_id: SubjectId
    subject_birth_date: CalendarDay
    granted_by: Grantor
    method: ConsentMethod
    purposes: list[Purpose] = Field(min_length=1, max_length=ALL_PURPOSES)
    recipients: list[Recipient] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    categories: list[InfoCategory] = Field(min_length=1, max_length=ALL_CATEGORIES)
    valid_from: Moment
    valid_until: Moment | None = Field(None, description="Exclusive end; a date means: through that day")
    disclosers: list[OrgId] = Field(
        [],
        max_length=50,
        description="The organisations the person authorises to communicate the information (organisation ids). "
        "The organisation recording the consent always may; from the rule tables of 2026-12-03 another organisation "
        "may only when named here (a consent the recipient gathers for a discloser names that discloser)",
    )

    def terms(self) -> ConsentTerms:
        org_ids, kinds = Recipient.split(self.recipients)
        return ConsentTerms(
            subject_id=self.subject_id,
            subject_birth_date=self.subject_birth_date,
            grantor_role=self.granted_by.role.value,
            grantor_mandate_ref=self.granted_by.mandate_ref,
            grantor_scope=None if self.granted_by.scope is None else tuple(dict.fromkeys(self.granted_by.scope)),
            method=self.method.value,
            purposes=tuple(dict.fromkeys(p.value for p in self.purposes)),
            recipient_org_ids=org_ids,
            recipient_kinds=kinds,
            categories=tuple(dict.fromkeys(c.value for c in self.categories)),
            valid_from=instant(self.valid_from),
            valid_until=None if self.valid_until is None else instant(self.valid_until, end=True),
            discloser_org_ids=tuple(dict.fromkeys(self.disclosers)),
        )


class ConsentWithdraw(_In):
    at: Moment | None = Field(None, description="When the person withdrew it (default: now; never in the future)")
    reason: str | None = Field(None, max_length=500, description="Kept in the service; never published")


class ConsentPublic(BaseModel):
    """A consent and where it stands now."""

    id: str
    version: int
    status: Literal["PENDING", "ACTIVE", "EXPIRED", "WITHDRAWN"]
    subject_id: str
    subject_birth_date: Day
    granted_by: Grantor
    method: ConsentMethod
    purposes: list[Purpose]
    recipients: list[Recipient]
    categories: list[InfoCategory]
    valid_from: datetime
    valid_until: datetime | None
    withdrawn_at: datetime | None
    recorded_at: datetime
    recorded_by_org: str
    disclosers: list[str] = Field(
        [], description="The organisations the consent names as communicating it (besides `recorded_by_org`)"
    )

    @classmethod
    def of(cls, c: ConsentState, now: datetime) -> ConsentPublic:
        if c.withdrawn_at is not None and c.withdrawn_at <= now:
            status: Literal["PENDING", "ACTIVE", "EXPIRED", "WITHDRAWN"] = "WITHDRAWN"
        elif c.valid_until is not None and c.valid_until <= now:
            status = "EXPIRED"
        elif c.valid_from > now:
            status = "PENDING"
        else:
            status = "ACTIVE"
        return cls(
            id=c.consent_id,
            version=c.version,
            status=status,
            subject_id=c.subject_id,
            subject_birth_date=c.subject_birth_date,
            granted_by=Grantor(
                role=GrantorRole(c.grantor_role),
                mandate_ref=c.grantor_mandate_ref,
                scope=None if c.grantor_scope is None else [Purpose(p) for p in c.grantor_scope],
            ),
            method=ConsentMethod(c.method),
            purposes=[Purpose(p) for p in c.purposes],
            recipients=Recipient.all_of(c.recipient_org_ids, c.recipient_kinds),
            categories=[InfoCategory(x) for x in c.categories],
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            withdrawn_at=c.withdrawn_at,
            recorded_at=c.recorded_at,
            recorded_by_org=c.recorded_by_org,
            disclosers=list(c.discloser_org_ids),
        )


class ConsentList(BaseModel):
    items: list[ConsentPublic]
    next_cursor: str | None = None


class RestrictionCreate(_In):
    """The person restricts access (LRSSS s. 7) or refuses it (s. 8, e.g. to researchers): applied under the LRSSS."""

    subject_id: SubjectId
    recipients: list[Recipient] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS, description="Empty: every recipient"
    )
    purposes: list[Purpose] = Field(default_factory=list, max_length=ALL_PURPOSES, description="Empty: every purpose")
    categories: list[InfoCategory] = Field(
        default_factory=list, max_length=ALL_CATEGORIES, description="Empty: every category"
    )
    valid_from: Moment | None = None

    @model_validator(mode="after")
    def _targets_someone(self) -> RestrictionCreate:
        if not self.recipients and not self.purposes:
            raise ValueError("name the recipients or the purposes the restriction applies to")
        return self

    def terms(self) -> RestrictionTerms:
        org_ids, kinds = Recipient.split(self.recipients)
        return RestrictionTerms(
            subject_id=self.subject_id,
            recipient_org_ids=org_ids,
            recipient_kinds=kinds,
            purposes=tuple(dict.fromkeys(p.value for p in self.purposes)),
            categories=tuple(dict.fromkeys(c.value for c in self.categories)),
            valid_from=None if self.valid_from is None else instant(self.valid_from),
        )


class RestrictionLift(_In):
    at: Moment | None = None


class RestrictionPublic(BaseModel):
    id: str
    version: int
    subject_id: str
    recipients: list[Recipient]
    purposes: list[Purpose]
    categories: list[InfoCategory]
    valid_from: datetime
    lifted_at: datetime | None
    recorded_at: datetime
    recorded_by_org: str

    @classmethod
    def of(cls, r: RestrictionState) -> RestrictionPublic:
        return cls(
            id=r.restriction_id,
            version=r.version,
            subject_id=r.subject_id,
            recipients=Recipient.all_of(r.recipient_org_ids, r.recipient_kinds),
            purposes=[Purpose(p) for p in r.purposes],
            categories=[InfoCategory(c) for c in r.categories],
            valid_from=r.valid_from,
            lifted_at=r.lifted_at,
            recorded_at=r.recorded_at,
            recorded_by_org=r.recorded_by_org,
        )


class RestrictionList(BaseModel):
    items: list[RestrictionPublic]
    next_cursor: str | None = None


class DangerAssessmentIn(_In):
    """Art. 19.0.1 (LRSSS s. 74): every condition stated; one not stated (or `urgent` false) denies."""

    act: DangerAct | None = Field(None, description="The act of violence to prevent (suicide included)")
    risk: DangerRisk | None = Field(None, description="Serious risk of death or of serious injury")
    at_risk: AtRisk | None = Field(None, description="Who is at risk")
    urgent: StrictBool | None = Field(
        None, description="The situation inspires a sense of urgency (2001 text: imminent)"
    )
    recipient_role: DangerRecipientRole | None = Field(
        None, description="The recipient is exposed to the danger, their representative, or can help them"
    )
    authorised_by: str | None = Field(
        None, pattern=REFERENCE_PATTERN, description="Reference of the discloser's authorisation (directive, staff id)"
    )
    ref: str | None = Field(None, pattern=REFERENCE_PATTERN, description="Reference of the written assessment")


class MandateIn(_In):
    """Art. 27.1 (LRSSS s. 77): written, for a fixed term, not for care, with the clauses; any missing denies."""

    ref: str | None = Field(None, pattern=REFERENCE_PATTERN, description="Reference of the mandate or contract")
    written: StrictBool | None = None
    term_end: CalendarDay | None = Field(None, description="Last day of the fixed term")
    for_care: StrictBool | None = Field(None, description="Whether it is for the provision of care (then no route)")
    clauses_present: StrictBool | None = Field(None, description="The confidentiality and security clauses are in it")
    undertakings_received: StrictBool | None = Field(None, description="Signed undertakings received before sending")


class MinorIn(_In):
    """A holder of parental authority asks about a minor (art. 21): what the institution found."""

    youth_protection_intervention: StrictBool | None = Field(
        None, description="Under 14: the minor was the subject of a youth-protection intervention or decision"
    )
    objects: StrictBool | None = Field(None, description="14 or older: the minor, consulted, objects")
    harm_likely: StrictBool | None = Field(
        None, description="Disclosure causes or could cause harm to the minor's health"
    )


class RepresentationIn(_In):
    """A tutor, curator, mandatary or person who may consent to care asks for the record (art. 22): they receive only
    what exercising their power requires, so the request states the mandate and what it requires."""

    mandate_ref: str = Field(
        pattern=REFERENCE_PATTERN,
        description="Reference of the judgment (tutorship, curatorship), the homologated protection mandate, or what "
        "makes the requester the person who may consent to care",
    )
    categories: list[InfoCategory] = Field(
        min_length=1,
        max_length=ALL_CATEGORIES,
        description="What exercising the power requires: only these may be sent",
    )


def _not_a_representative(roles: list[RequesterRole]) -> list[RequesterRole]:
    """A written refusal (art. 23) concerns who may learn of a death; a representative's power ends with the person,
    so a refusal naming one would be on file and never apply."""
    named = [r.value for r in roles if r in REPRESENTATIVE_REQUESTERS]
    if named:
        raise ValueError(f"art. 23 names relatives, heirs and a parent, not representatives ({', '.join(named)})")
    return roles


class RefusalCreate(_In):
    """The person refused in writing, while alive, that those asking in these roles after their death receive
    information from their record (art. 23): from the rule tables of 2026-12-05 it bars the rows of the roles it names
    (relatives: the cause of death; heirs; a parent; blood relatives), before only the relatives'."""

    subject_id: SubjectId
    requester_roles: Annotated[list[RequesterRole], AfterValidator(_not_a_representative)] = Field(
        min_length=1, max_length=ALL_REQUESTER_ROLES
    )
    given_on: Moment = Field(description="When the person signed the refusal")
    document_ref: str | None = Field(None, pattern=REFERENCE_PATTERN, description="Where the signed refusal is filed")

    def terms(self) -> RefusalTerms:
        return RefusalTerms(
            subject_id=self.subject_id,
            requester_roles=tuple(dict.fromkeys(r.value for r in self.requester_roles)),
            given_at=instant(self.given_on),
            document_ref=self.document_ref,
        )


class RefusalWithdraw(_In):
    at: Moment | None = Field(None, description="When the person withdrew it (default: now)")


class RefusalPublic(BaseModel):
    id: str
    version: int
    subject_id: str
    requester_roles: list[RequesterRole]
    given_at: datetime
    document_ref: str | None
    withdrawn_at: datetime | None
    recorded_at: datetime
    recorded_by_org: str

    @classmethod
    def of(cls, r: RefusalState) -> RefusalPublic:
        return cls(
            id=r.refusal_id,
            version=r.version,
            subject_id=r.subject_id,
            requester_roles=[RequesterRole(x) for x in r.requester_roles],
            given_at=r.given_at,
            document_ref=r.document_ref,
            withdrawn_at=r.withdrawn_at,
            recorded_at=r.recorded_at,
            recorded_by_org=r.recorded_by_org,
        )


class RefusalList(BaseModel):
    items: list[RefusalPublic]
    next_cursor: str | None = None


class DecisionContextIn(_In):
    """Circumstances the discloser declares; each triggers a route that does not rest on consent."""

    danger: StrictBool = Field(False, description="Obsolete: state `danger_assessment` (true alone is refused)")
    danger_assessment: DangerAssessmentIn | None = None
    court_order_ref: str | None = Field(None, pattern=REFERENCE_PATTERN, description="Court or coroner order")
    user_request: StrictBool = Field(False, description="The person asked for the transfer (art. 24)")
    anonymous: StrictBool = Field(
        False, description="The person stays anonymous: no consent can be given for them (statutory routes stay open)"
    )
    complaint_body: ComplaintBody | None = Field(None, description="Requesting complaints or quality body")
    mandate: MandateIn | None = None
    mandate_contract_ref: str | None = Field(
        None, pattern=REFERENCE_PATTERN, description="Obsolete: state `mandate` (alone it is refused)"
    )
    undertakings_received: StrictBool = Field(False, description="Obsolete: `mandate.undertakings_received`")
    research_authorisation_ref: str | None = Field(
        None, pattern=REFERENCE_PATTERN, description="DPS authorisation (19.2)"
    )
    research_authorisation_until: Moment | None = None
    subject_deceased_on: CalendarDay | None = Field(None, description="The person's date of death, when known")
    requester_role: RequesterRole | None = Field(
        None,
        description="A person asks in this role (a relative, an heir, a parent, a representative; arts. 21, 22 and 23)",
    )
    minor: MinorIn | None = Field(None, description="A holder of parental authority asks about a minor (art. 21)")
    representation: RepresentationIn | None = Field(
        None, description="A representative asks (art. 22, with a representative's `requester_role`)"
    )
    reasons: str | None = Field(
        None, max_length=500, description="Why the information is disclosed: kept in the register, no clinical content"
    )

    def context(self) -> Context:
        until = self.research_authorisation_until
        return Context(
            danger=self.danger,
            court_order_ref=self.court_order_ref,
            user_request=self.user_request,
            anonymous=self.anonymous,
            complaint_body=self.complaint_body,
            mandate_contract_ref=self.mandate_contract_ref,
            undertakings_received=self.undertakings_received,
            research_authorisation_ref=self.research_authorisation_ref,
            research_authorisation_until=None if until is None else instant(until, end=True),
            danger_assessment=None
            if self.danger_assessment is None
            else DangerAssessment(**self.danger_assessment.model_dump()),
            mandate=None if self.mandate is None else Mandate(**self.mandate.model_dump()),
            subject_deceased_on=self.subject_deceased_on,
            requester_role=self.requester_role,
            minor=None if self.minor is None else MinorRequest(**self.minor.model_dump()),
            representation=None
            if self.representation is None
            else Representation(
                mandate_ref=self.representation.mandate_ref,
                categories=tuple(dict.fromkeys(self.representation.categories)),
            ),
        )


class DecisionCreate(_In):
    """May these categories of the person's record go from the discloser to the recipient, for this purpose?"""

    subject_id: SubjectId
    discloser_org_id: str = Field(pattern=ORG_ID_PATTERN)
    recipient_org_id: str = Field(pattern=ORG_ID_PATTERN)
    purpose: Purpose
    categories: list[InfoCategory] = Field(min_length=1, max_length=ALL_CATEGORIES)
    at: Moment | None = Field(
        None,
        description="When the disclosure happens (default: now). A disclosure is now: at most 5 minutes back, never "
        "ahead; a decision (which discloses nothing) may be asked as of a past moment",
    )
    recipient_service: ServiceCode | None = Field(
        None, description="The recipient's service the information is for (required for SERVICE_ON_BEHALF)"
    )
    subject_birth_date: CalendarDay | None = Field(
        None, description="The person's birth date when no consent on file gives it (only the age band is kept)"
    )
    context: DecisionContextIn = Field(default_factory=DecisionContextIn)
    lang: Literal["fr", "en"] | None = Field(None, description="Language of the explanation (else Accept-Language)")

    def request(self) -> DecisionRequest:
        return DecisionRequest(
            subject_id=self.subject_id,
            discloser_org_id=self.discloser_org_id,
            recipient_org_id=self.recipient_org_id,
            purpose=self.purpose,
            categories=tuple(dict.fromkeys(self.categories)),
            at=None if self.at is None else instant(self.at),
            context=self.context.context(),
            recipient_service=self.recipient_service,
            subject_birth_date=self.subject_birth_date,
            justification=self.context.reasons,
        )


class BasisPublic(BaseModel):
    regime: Regime
    route: str
    article: str
    consent_id: str | None = None
    agreement_id: str | None = None
    status: RuleStatus
    categories: list[InfoCategory]
    discloser_kind: OrgKind | None = Field(None, description="The discloser's kind in the directory at that time")


class ReasonPublic(BaseModel):
    code: ReasonCode
    route: str | None = None
    categories: list[InfoCategory]
    consent_id: str | None = None
    agreement_id: str | None = None
    detail: str | None = None


class DecisionPublic(BaseModel):
    """A decision: outcome, categories, legal basis, obligations, and why, in plain language."""

    decision_id: str
    outcome: Outcome
    permitted_categories: list[InfoCategory]
    denied_categories: list[InfoCategory]
    basis: list[BasisPublic]
    obligations: list[Obligation]
    regime: Regime
    regime_version: str
    regime_superseded: bool = Field(description="The regime applied was repealed at the disclosure date")
    explanation: str
    reasons: list[ReasonPublic]
    at: datetime
    decided_at: datetime
    register_entry_id: str | None = None

    @classmethod
    def of(cls, recorded: RecordedDecision, lang: Lang) -> DecisionPublic:
        d = recorded.decision
        return cls(
            regime_superseded=d.regime_superseded,
            decision_id=str(recorded.decision_id),
            outcome=d.outcome,
            permitted_categories=list(d.permitted_categories),
            denied_categories=list(d.denied_categories),
            basis=[BasisPublic.model_validate(b, from_attributes=True) for b in d.basis],
            obligations=list(d.obligations),
            regime=d.regime,
            regime_version=d.regime_version,
            explanation=explain(d, lang),
            reasons=[ReasonPublic.model_validate(r, from_attributes=True) for r in d.reasons],
            at=recorded.input.at,
            decided_at=recorded.decided_at,
            register_entry_id=str(recorded.register_entry_id) if recorded.register_entry_id else None,
        )


def _naive_moments(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], datetime]]:
    """Where `value` (a model, a list or a moment, at `loc`) holds a date-time without a UTC offset."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _naive_moments(getattr(value, name), (*loc, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _naive_moments(item, (*loc, index))


class EvaluationCreate(_In):
    """A recorded decision's input and facts, as `ca.qc.rls.consent.decided.v1` carries them (every instant with its
    UTC offset, at least one category asked), and its requester."""

    input: DecisionInputV1
    facts: DecisionFactsV1
    requested_by_org: str | None = Field(
        None, max_length=200, description="The event's `requested_by_org`: that organisation's auditors may re-run it"
    )

    @model_validator(mode="after")
    def _as_recorded(self) -> EvaluationCreate:
        """As a decision event carries them: every instant with its UTC offset (one without cannot be compared with
        the others: it was a 500), the decision's instant in the years `YEARS` in Québec time, as every decision
        was asked (the engine reads its Québec day and the days around it: it was a 500), and at least one category
        (none was answered PERMIT, with nothing permitted). The contract's models accept all three, so that every
        stored event decodes; this request does not."""
        errors: list[InitErrorDetails] = [
            {"type": "timezone_aware", "loc": loc, "input": moment} for loc, moment in _naive_moments(self, ())
        ]
        at = self.input.at
        if at.utcoffset() is not None:
            try:
                _within_the_calendar(at)
            except ValueError as beyond:
                errors.append({"type": "value_error", "loc": ("input", "at"), "input": at, "ctx": {"error": beyond}})
        if not self.input.categories:
            errors.append(
                {
                    "type": "too_short",
                    "loc": ("input", "categories"),
                    "input": self.input.categories,
                    "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0},
                }
            )
        if errors:  # each error at its own place (input.at, facts.consents.0.valid_from), as a field's own would be
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def parties(self) -> dict[str, str | None]:
        """The organisations the decision concerns (the contract's parties of a decision)."""
        return decision_parties(self.input.discloser_org_id, self.input.recipient_org_id, self.requested_by_org)

    def parts(self) -> tuple[DecisionInput, Facts]:
        return (
            from_json(DecisionInput, self.input.model_dump(mode="json")),
            from_json(Facts, self.facts.model_dump(mode="json")),
        )


class EvaluationPublic(BaseModel):
    """What the engine of this build answers to an input and facts (nothing is recorded)."""

    outcome: Outcome
    permitted_categories: list[InfoCategory]
    denied_categories: list[InfoCategory]
    basis: list[BasisPublic]
    obligations: list[Obligation]
    regime: Regime
    regime_version: str
    regime_superseded: bool
    reasons: list[ReasonPublic]
    explanation: str

    @classmethod
    def of(cls, d: Decision, lang: Lang) -> EvaluationPublic:
        return cls(
            regime_superseded=d.regime_superseded,
            outcome=d.outcome,
            permitted_categories=list(d.permitted_categories),
            denied_categories=list(d.denied_categories),
            basis=[BasisPublic.model_validate(b, from_attributes=True) for b in d.basis],
            obligations=list(d.obligations),
            regime=d.regime,
            regime_version=d.regime_version,
            reasons=[ReasonPublic.model_validate(r, from_attributes=True) for r in d.reasons],
            explanation=explain(d, lang),
        )


class RuleTablePublic(BaseModel):
    """A rule table as data: its routes (id, article, conditions, categories, obligations, status), bars, grantors."""

    regime: Regime
    version: str
    applied: bool = Field(description="Applied to new decisions (the others re-evaluate the decisions made under them)")
    table: dict[str, Any]


class RecordedDecisionPublic(DecisionPublic):
    """A past decision with what it was decided from (for auditors and the organisations concerned)."""

    kind: Literal["DECISION", "DISCLOSURE"]
    input: dict[str, Any]
    facts: dict[str, Any]
    justification: str | None = Field(None, description="The reasons the discloser gave (`context.reasons`)")


class ReevaluationPublic(BaseModel):
    """The recorded decision against the engine's answer today to the same input and facts."""

    decision_id: str
    regime: Regime
    regime_version: str
    same: bool
    recorded_outcome: Outcome
    reevaluated_outcome: Outcome
    reevaluated_permitted_categories: list[InfoCategory]


class RegisterEntryPublic(BaseModel):
    """Who received what, when, why and under which article (the first basis; `bases` lists them all)."""

    register_entry_id: str
    at: datetime
    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    categories: list[InfoCategory]
    purpose: Purpose
    route: str
    article: str
    decision_id: str
    bases: list[BasisPublic]
    obligations: list[Obligation]
    regime: Regime
    regime_superseded: bool
    reasons: str | None = Field(description="The justification the discloser gave")
    reference: str | None = Field(description="What it rests on: consents, agreements, mandate, order, assessment")
    disclosed_by: str | None = Field(description="The worker who disclosed (`sub` of their token)")
    conditions: dict[str, Any] = Field(description="The circumstances stated (danger assessment, mandate, ...)")

    @classmethod
    def of(cls, row: RegisterRow) -> RegisterEntryPublic:
        return cls(
            register_entry_id=row.register_entry_id,
            at=row.at,
            subject_id=row.subject_id,
            discloser_org_id=row.discloser_org_id,
            recipient_org_id=row.recipient_org_id,
            categories=[InfoCategory(c) for c in row.categories],
            purpose=Purpose(row.purpose),
            route=row.bases[0]["route"],
            article=row.bases[0]["article"],
            decision_id=row.decision_id,
            bases=[BasisPublic.model_validate(b) for b in row.bases],
            obligations=[Obligation(o) for o in row.obligations],
            regime=Regime(row.regime),
            regime_superseded=row.regime_superseded,
            reasons=row.justification,
            reference=row.reference,
            disclosed_by=row.disclosed_by,
            conditions=row.conditions,
        )


class RegisterPage(BaseModel):
    items: list[RegisterEntryPublic]
    next_cursor: str | None = None
