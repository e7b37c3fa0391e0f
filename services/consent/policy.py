"""Value objects of the decision engine: what is asked, what is known, what is decided, and the rule tables' shape.

Everything here is immutable and JSON round-trips exactly (`to_json` / `from_json`), because a decision event must
carry its input and facts so that an auditor can re-run `engine.evaluate` years later and get the same answer.
Categories are codes, never contents; the person is a pseudonymous `subject_id`; no birth date leaves this module's
facts (only the age band the rules need).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum, StrEnum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo

from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
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

QUEBEC = ZoneInfo("America/Toronto")
"""Birthdays, validity dates and the regime change (2024-07-01) are Québec calendar dates."""

SENSITIVE: frozenset[InfoCategory] = frozenset({InfoCategory.YOUTH_PROTECTION, InfoCategory.THIRD_PARTY_SUPPLIED})
"""Never released on a general basis: only a consent that names them explicitly releases them."""

GENERAL: frozenset[InfoCategory] = frozenset(InfoCategory) - SENSITIVE

ADDED = {"added": True}
"""Field metadata of a rule element added after rule tables were first published: left out of a table's version
while it keeps its default, so that every table published before it keeps its version (and its decisions stay
re-evaluable). On a request's value objects (`Context`): left out of the request's digest while it keeps its default
(`digest_json`), so that a request made before it, retried with its Idempotency-Key, is still the same request."""


T = TypeVar("T")


def filled_at_once(cls: type[T]) -> type[T]:
    """A frozen dataclass given an `__init__` that writes its fields into the new instance's dict in one call.

    The `__init__` a frozen dataclass generates sets each field through `object.__setattr__`: four times the cost of
    a plain dataclass's, and the engine builds a decision, its bases and its reasons on every request. This one has
    the same parameters (names, order, defaults); the instance stays frozen, and every other method is the
    dataclass's own. Generated from the fields as the dataclass's own is, so a field added is never left out.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields):
        raise TypeError(f"{cls.__name__}: only positional fields with plain defaults are filled at once")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: a __post_init__ would not run")
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    parameters = ", ".join(f"{f.name}=_defaults[{f.name!r}]" if f.name in defaults else f.name for f in fields)
    assigned = ", ".join(f"{f.name}={f.name}" for f in fields)
    namespace: dict[str, Any] = {}
    exec(  # noqa: S102 -- source made above from the class's own field names, as dataclasses makes its __init__
        f"def __init__(self, {parameters}):\n    self.__dict__.update({assigned})\n", {"_defaults": defaults}, namespace
    )
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def local_date(moment: datetime) -> date:
    """The Québec calendar date of an instant."""
    return moment.astimezone(QUEBEC).date()


def start_of_local_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=QUEBEC)


def end_of_local_day(day: date) -> datetime:
    """The first instant after `day` (exclusive end of a validity given as a date)."""
    return start_of_local_day(day + timedelta(days=1))


class AgeBand(StrEnum):
    """The age band who-may-consent rules depend on (LSSSS art. 14 threshold; majority at 18)."""

    UNDER_14 = "UNDER_14"
    MINOR_14_TO_17 = "MINOR_14_TO_17"
    ADULT = "ADULT"


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def age_band(birth_date: date, moment: datetime) -> AgeBand:
    """Age band of a person born on `birth_date` at `moment` (Québec date)."""
    years = age_on(birth_date, local_date(moment))
    if years < 14:
        return AgeBand.UNDER_14
    if years < 18:
        return AgeBand.MINOR_14_TO_17
    return AgeBand.ADULT


class RuleStatus(StrEnum):
    VERIFIED = "VERIFIED"
    NEEDS_LEGAL_REVIEW = "NEEDS_LEGAL_REVIEW"


class ComplaintBody(StrEnum):
    """Bodies of LSSSS art. 19 para. 2 (complaints and quality)."""

    COMPLAINTS_COMMISSIONER = "COMPLAINTS_COMMISSIONER"
    MEDICAL_EXAMINER = "MEDICAL_EXAMINER"
    REVIEW_COMMITTEE = "REVIEW_COMMITTEE"
    CMDP = "CMDP"


class ReasonCode(StrEnum):
    """Why something was denied (each has a plain-language text in `explain`)."""

    ANONYMOUS = "ANONYMOUS"
    NO_CONSENT = "NO_CONSENT"
    NO_ROUTE = "NO_ROUTE"
    CONSENT_NOT_YET_VALID = "CONSENT_NOT_YET_VALID"
    CONSENT_EXPIRED = "CONSENT_EXPIRED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    GRANTOR_NOT_ENTITLED_FOR_AGE = "GRANTOR_NOT_ENTITLED_FOR_AGE"
    GRANTOR_OUTSIDE_ROLE = "GRANTOR_OUTSIDE_ROLE"
    RECIPIENT_NOT_COVERED = "RECIPIENT_NOT_COVERED"
    PURPOSE_NOT_COVERED = "PURPOSE_NOT_COVERED"
    CATEGORY_NOT_COVERED = "CATEGORY_NOT_COVERED"
    SENSITIVE_CATEGORY_NOT_NAMED = "SENSITIVE_CATEGORY_NOT_NAMED"
    CONSENT_NOT_WRITTEN = "CONSENT_NOT_WRITTEN"
    CONSENT_WITHOUT_END = "CONSENT_WITHOUT_END"
    PURPOSE_NOT_ALLOWED_FOR_ROUTE = "PURPOSE_NOT_ALLOWED_FOR_ROUTE"
    RECIPIENT_KIND_UNKNOWN = "RECIPIENT_KIND_UNKNOWN"
    RECIPIENT_KIND_NOT_ELIGIBLE = "RECIPIENT_KIND_NOT_ELIGIBLE"
    COLLABORATION_AGREEMENT_ONLY = "COLLABORATION_AGREEMENT_ONLY"
    AGREEMENT_NOT_IN_FORCE = "AGREEMENT_NOT_IN_FORCE"
    UNDERTAKINGS_NOT_RECEIVED = "UNDERTAKINGS_NOT_RECEIVED"
    RESEARCH_AUTHORISATION_NOT_IN_FORCE = "RESEARCH_AUTHORISATION_NOT_IN_FORCE"
    SUBJECT_RESTRICTION = "SUBJECT_RESTRICTION"
    DISCLOSER_KIND_UNKNOWN = "DISCLOSER_KIND_UNKNOWN"
    DISCLOSER_KIND_NOT_ELIGIBLE = "DISCLOSER_KIND_NOT_ELIGIBLE"
    AGREEMENT_NOT_ON_BEHALF = "AGREEMENT_NOT_ON_BEHALF"
    SERVICE_NOT_ON_BEHALF = "SERVICE_NOT_ON_BEHALF"
    DANGER_CONDITION_NOT_MET = "DANGER_CONDITION_NOT_MET"
    MANDATE_CONDITION_NOT_MET = "MANDATE_CONDITION_NOT_MET"
    ANONYMOUS_NO_CONSENT = "ANONYMOUS_NO_CONSENT"
    SUBJECT_DECEASED = "SUBJECT_DECEASED"
    SUBJECT_NOT_DECEASED = "SUBJECT_NOT_DECEASED"
    WRITTEN_REFUSAL_ON_FILE = "WRITTEN_REFUSAL_ON_FILE"
    NOT_UNDER_14_AT_DEATH = "NOT_UNDER_14_AT_DEATH"
    SUBJECT_AGE_UNKNOWN = "SUBJECT_AGE_UNKNOWN"
    SUBJECT_NOT_MINOR = "SUBJECT_NOT_MINOR"
    SUBJECT_NOT_UNDER_14 = "SUBJECT_NOT_UNDER_14"
    MINOR_CONDITION_NOT_STATED = "MINOR_CONDITION_NOT_STATED"
    MINOR_ACCESS_REFUSED = "MINOR_ACCESS_REFUSED"
    CONSENT_GIVEN_UNDER_PREVIOUS_REGIME = "CONSENT_GIVEN_UNDER_PREVIOUS_REGIME"
    GRANTOR_MANDATE_NOT_STATED = "GRANTOR_MANDATE_NOT_STATED"
    REPRESENTATION_NOT_STATED = "REPRESENTATION_NOT_STATED"
    CONSENT_TOO_LONG = "CONSENT_TOO_LONG"


# --- what is asked ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DangerAssessment:
    """What the discloser states to prevent an act of violence, including suicide (art. 19.0.1, LRSSS s. 74).

    Every condition is stated explicitly; None (or `urgent` false) is a condition not met."""

    act: DangerAct | None = None
    risk: DangerRisk | None = None
    at_risk: AtRisk | None = None
    urgent: bool | None = None
    recipient_role: DangerRecipientRole | None = None
    authorised_by: str | None = None
    """Reference of the authorisation (the executive director's directive, the authorised person's staff id)."""
    ref: str | None = None
    """Reference of the written assessment, when there is one."""


@dataclass(frozen=True)
class Mandate:
    """A mandate or service contract (art. 27.1, LRSSS s. 77), as the discloser states it."""

    ref: str | None = None
    written: bool | None = None
    term_end: date | None = None
    for_care: bool | None = None
    clauses_present: bool | None = None
    undertakings_received: bool | None = None


@dataclass(frozen=True)
class MinorRequest:
    """A holder of parental authority asks about a minor (art. 21): what the institution found."""

    youth_protection_intervention: bool | None = None
    objects: bool | None = None
    harm_likely: bool | None = None


@dataclass(frozen=True)
class Representation:
    """A representative asks for the user's record (art. 22): the mandate they act under and what exercising their
    power requires (an empty `categories` or no `mandate_ref`: not stated)."""

    mandate_ref: str | None = None
    """Reference of the judgment, the homologated mandate or what makes the person the one who may consent to care."""
    categories: tuple[InfoCategory, ...] = ()


@dataclass(frozen=True)
class Context:
    """Circumstances a discloser declares (they trigger the routes that do not rest on consent).

    `danger`, `mandate_contract_ref` and `undertakings_received` are how decisions recorded under the first rule
    tables stated a danger or a mandate; the current tables read `danger_assessment` and `mandate` instead."""

    danger: bool = False
    court_order_ref: str | None = None
    user_request: bool = False
    anonymous: bool = False
    complaint_body: ComplaintBody | None = None
    mandate_contract_ref: str | None = None
    undertakings_received: bool = False
    research_authorisation_ref: str | None = None
    research_authorisation_until: datetime | None = None
    danger_assessment: DangerAssessment | None = None
    mandate: Mandate | None = None
    subject_deceased_on: date | None = None
    requester_role: RequesterRole | None = None
    minor: MinorRequest | None = None
    representation: Representation | None = field(default=None, metadata=ADDED)
    """Added with the tables of 2026-12-03: left out of a request's digest while unset, so that a request made
    before it, retried with its Idempotency-Key, is still the same request."""


DANGER_AMENDMENT = date(2017, 5, 30)
"""VERIFY: the day the 2017 text of art. 19.0.1 ("serious risk ... sense of urgency") replaced the 2001 text
("imminent danger"); taken as the assent of 2017, c. 10. A setting (`CONSENT_DANGER_AMENDMENT_DATE`)."""


@dataclass(frozen=True)
class LegalSettings:
    """What a deployment may set about the law (each changes the tables' versions)."""

    danger_amendment: date = DANGER_AMENDMENT
    disabled_routes: frozenset[str] = frozenset()
    lrsss_consent_max_months: int = 24
    """The longest an LRSSS consent (B-1) may run from when it is given, from the tables of 2026-12-03
    (`CONSENT_LRSSS_CONSENT_MAX_MONTHS`). LRSSS s. 6 sets no figure ("only as long as needed"): two years covers a
    service episode with the waiting lists of the orientations' longest services, and refuses an open end written as
    a far date; a deployment may set less."""


@dataclass(frozen=True)
class DecisionInput:
    """May these categories of `subject_id`'s record go from discloser to recipient for this purpose, at `at`?"""

    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    purpose: Purpose
    categories: tuple[InfoCategory, ...]
    at: datetime
    regime: Regime
    regime_version: str
    context: Context = field(default_factory=Context)
    recipient_service: ServiceCode | None = None
    """The recipient's service the information is for (the art. 108 route checks it against the agreement)."""
    disclosed_at: datetime | None = None
    """A disclosure: when this service recorded it (its clock; the decision's `decided_at`), which may be a few
    minutes after `at`. The information leaves then, so from the tables of 2026-12-03 a consent must still hold at
    that moment too, and from those of 2026-12-05 a service agreement. None for a decision, which discloses nothing,
    and in decisions recorded before it was kept."""
    legal: LegalSettings | None = field(default=None, metadata=ADDED)
    """The legal settings of the deployment that decided, when not the defaults: its tables' versions depend on
    them, so a decision recorded before the deployment changed them re-evaluates under its own (it was a 409)."""


# --- what is known at that time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentFact:
    """A consent on file for the subject, as known when deciding (age bands instead of the birth date)."""

    consent_id: str
    grantor_role: GrantorRole
    grantor_scope: tuple[Purpose, ...] | None
    """Purposes the grantor's mandate covers (None: none stated; the tables before 2026-12-02 read it as the role's
    whole scope, the current ones let a representative's consent permit nothing)."""
    age_band_at_start: AgeBand
    age_band_at_decision: AgeBand
    method: ConsentMethod
    purposes: tuple[Purpose, ...]
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[OrgKind, ...]
    categories: tuple[InfoCategory, ...]
    valid_from: datetime
    valid_until: datetime | None
    withdrawn_at: datetime | None
    given_at: datetime | None = None
    """When the consent was given: the earlier of its start and its recording (None in decisions recorded before
    this was known; the LRSSS consent route then treats it as given under the previous regime)."""
    age_band_when_given: AgeBand | None = None
    """The person's age band when the consent was given (at `given_at`; None in decisions recorded before this was
    known, and the current tables then find the grantor not entitled)."""
    recorded_by_org: str | None = None
    """The organisation that recorded (holds) the consent (None in decisions recorded before 2026-12-03)."""
    discloser_org_ids: tuple[str, ...] = ()
    """The organisations the consent authorises to communicate (`disclosers`; empty: none named, and from the
    tables of 2026-12-03 it then counts only for the organisation that recorded it)."""

    def covers(self, recipient_org_id: str, recipient_kind: OrgKind | None) -> bool:
        """Whether it names this recipient, itself or by its kind."""
        return recipient_org_id in self.recipient_org_ids or (
            recipient_kind is not None and recipient_kind in self.recipient_kinds
        )

    def between(self, discloser_org_id: str, recipient_org_id: str) -> ConsentFact:
        """What a decision between these parties keeps of it: of the organisations it names, only the parties. The
        engine asks only whether it names them (it answers the same), and the person's ties to the others are not the
        decision's: kept whole, a consent naming a hundred organisations travelled in every decision's facts."""
        return dataclasses.replace(
            self,
            recipient_org_ids=_only(recipient_org_id, self.recipient_org_ids),
            discloser_org_ids=_only(discloser_org_id, self.discloser_org_ids),
        )


@dataclass(frozen=True)
class OnBehalfFact:
    """Under a service agreement, services the other parties provide on behalf of the institution `of_org`."""

    of_org: str
    services: tuple[ServiceCode, ...]


@dataclass(frozen=True)
class AgreementFact:
    """An agreement between discloser and recipient in the state it was in at the decision time."""

    agreement_id: str
    kind: AgreementKind
    status: AgreementStatus
    parties: tuple[str, ...]
    start: date
    end: date | None
    information_sharing: tuple[InfoCategory, ...]
    state_since: datetime
    on_behalf: tuple[OnBehalfFact, ...] = ()


@dataclass(frozen=True)
class RestrictionFact:
    """A restriction or refusal by the person (LRSSS ss. 7-8): described information denied to some recipients."""

    restriction_id: str
    recipient_org_ids: tuple[str, ...]
    recipient_kinds: tuple[OrgKind, ...]
    purposes: tuple[Purpose, ...]
    categories: tuple[InfoCategory, ...]
    valid_from: datetime
    lifted_at: datetime | None
    bars_unknown_kind: bool = False
    """One naming kinds of recipient also restricts a recipient whose kind is unknown (B-3; default is deny). False
    in decisions recorded before this was decided (2026-12-02): they re-evaluate as they were decided."""

    def concerns(self, recipient_org_id: str, recipient_kind: OrgKind | None) -> bool:
        """Whether it restricts disclosures to this recipient (one naming no recipient restricts them all)."""
        if not self.recipient_org_ids and not self.recipient_kinds:
            return True
        if recipient_kind is None and self.recipient_kinds and self.bars_unknown_kind:
            return True  # the recipient may be of a restricted kind: nothing says it is not
        return recipient_org_id in self.recipient_org_ids or recipient_kind in self.recipient_kinds

    def toward(self, recipient_org_id: str, recipient_kind: OrgKind | None) -> RestrictionFact | None:
        """What a decision for this recipient keeps of it: nothing when it does not concern the recipient, else of the
        organisations it names only the recipient (as `ConsentFact.between`; the kinds it names stay, so it concerns
        the recipient as it did, and never comes to name nobody, which would restrict everyone)."""
        if not self.concerns(recipient_org_id, recipient_kind):
            return None
        return dataclasses.replace(self, recipient_org_ids=_only(recipient_org_id, self.recipient_org_ids))


def _only(org_id: str, named: tuple[str, ...]) -> tuple[str, ...]:
    """`org_id` if `named` holds it, else nothing."""
    return (org_id,) if org_id in named else ()


@dataclass(frozen=True)
class RefusalFact:
    """The person's written refusal that those asking in these roles after their death receive information from
    their record (art. 23, LRSSS s. 8): it bars the art. 23 rows that read it (`no_written_refusal`)."""

    refusal_id: str
    requester_roles: tuple[RequesterRole, ...]
    given_at: datetime
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class Facts:
    recipient_kind: OrgKind | None
    consents: tuple[ConsentFact, ...] = ()
    agreements: tuple[AgreementFact, ...] = ()
    restrictions: tuple[RestrictionFact, ...] = ()
    discloser_kind: OrgKind | None = None
    """The discloser's kind in the directory at the decision time (who may use a route depends on it). In a disclosure
    recorded from 2026-12-05, as `recipient_kind`: the kind it had both then and when the disclosure was recorded (one
    that changed in between is not known)."""
    subject_age_band: AgeBand | None = None
    """The person's age band at the decision time, when a birth date is known (given or on a consent)."""
    subject_age_band_at_death: AgeBand | None = None
    refusals: tuple[RefusalFact, ...] = ()
    subject_age_from: str | None = None
    """Where both age bands come from: `AGE_FROM_REQUEST` (the birth date given with the request), else the id of the
    consent on file whose birth date gave them (it may name another recipient, so not be among `consents`). None
    when no band is known, and in decisions recorded before this was kept (2026-12-02: a consent held by the discloser
    or the recipient, or the request). A reader who may not read that consent does not see the bands."""
    agreements_when_disclosed: tuple[AgreementFact, ...] = ()
    """A disclosure: the agreements between the parties in the state they were in when it was recorded
    (`DecisionInput.disclosed_at`), which the tables from 2026-12-05 judge too (`agreements`: at its `at`). Empty for
    a decision, and in decisions recorded before 2026-12-05 (their tables do not read it)."""


AGE_FROM_REQUEST = "REQUEST"
"""`Facts.subject_age_from` when the request gave the person's birth date."""


# --- what is decided --------------------------------------------------------------------------------------------


@filled_at_once
@dataclass(frozen=True)
class Basis:
    regime: Regime
    route: str
    article: str
    status: RuleStatus
    categories: tuple[InfoCategory, ...]
    consent_id: str | None = None
    agreement_id: str | None = None
    discloser_kind: OrgKind | None = None


@filled_at_once
@dataclass(frozen=True)
class Reason:
    """One reason a route did not release (some of) the request; `categories` empty means the whole request."""

    code: ReasonCode
    route: str | None = None
    categories: tuple[InfoCategory, ...] = ()
    consent_id: str | None = None
    agreement_id: str | None = None
    detail: str | None = None
    """A code or date that makes the reason precise (an agreement status, say); never free text."""


@filled_at_once
@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    permitted_categories: tuple[InfoCategory, ...]
    denied_categories: tuple[InfoCategory, ...]
    basis: tuple[Basis, ...]
    obligations: tuple[Obligation, ...]
    regime: Regime
    regime_version: str
    reasons: tuple[Reason, ...]
    regime_superseded: bool = False
    """The regime applied had been replaced at the disclosure date (a deployment pinned to a repealed law)."""


# --- the shape of a rule table ----------------------------------------------------------------------------------


class Source(StrEnum):
    """What a route rests on: the declared context, a consent on file, or an agreement between the parties."""

    CONTEXT = "CONTEXT"
    CONSENT = "CONSENT"
    AGREEMENT = "AGREEMENT"


class Scope(StrEnum):
    """Categories a route can release when they are not a fixed list."""

    FROM_CONSENT = "FROM_CONSENT"
    FROM_AGREEMENT = "FROM_AGREEMENT"


@dataclass(frozen=True)
class Route:
    """One legal route (a row of consent-rules.md).

    `when`: triggers (condition names); a route whose trigger does not hold is not considered and says nothing.
    `requires`: conditions each candidate (the context, a consent, an agreement) must meet, in order; the first unmet
    one is the reason reported. `categories`: a fixed set or a scope read from the candidate. Sensitive categories
    are released only when `releases_sensitive` and the candidate names them.
    """

    id: str
    article: str
    title_en: str
    title_fr: str
    source: Source
    when: tuple[str, ...]
    requires: tuple[str, ...]
    purposes: frozenset[Purpose]
    categories: frozenset[InfoCategory] | Scope
    obligations: tuple[Obligation, ...]
    status: RuleStatus
    recipient_kinds: frozenset[OrgKind] = frozenset()
    releases_sensitive: bool = False
    no_candidate_reason: ReasonCode | None = None
    discloser_kinds: frozenset[OrgKind] = field(default=frozenset(), metadata=ADDED)
    """Who may use the route (empty: anyone); checked before the route's other conditions."""
    in_force_from: date | None = field(default=None, metadata=ADDED)
    in_force_until: date | None = field(default=None, metadata=ADDED)
    """The text applies to disclosures dated from `in_force_from` and before `in_force_until` (Québec dates)."""
    requester_roles: frozenset[RequesterRole] = field(default=frozenset(), metadata=ADDED)
    """For routes of a person asking in a role (`requester_in_route`): the roles it serves."""
    narrowed_by: str | None = field(default=None, metadata=ADDED)
    """A scope the request states (`engine.STATED_SCOPES`): the route releases only its `categories` that the
    request names there (art. 22: only what exercising the representative's power requires)."""
    selects: tuple[str, ...] = field(default=(), metadata=ADDED)
    """Conditions that say which candidates are the route's at all: one that does not meet them is passed over
    without a reason (the answer is the one given had it not existed: a consent that does not authorise this
    discloser is not the discloser's to learn of)."""
    consent_max_months: int | None = field(default=None, metadata=ADDED)
    """The longest a consent of this route may last, from when it was given (`consent_within_max_duration`)."""


@dataclass(frozen=True)
class Bar:
    """Denies, whatever the routes say: everything (anonymous person) or what a restriction describes."""

    id: str
    article: str
    test: str
    reason: ReasonCode
    closes: frozenset[str] | None = field(default=None, metadata=ADDED)
    """The routes the bar closes (None: every route)."""


@dataclass(frozen=True)
class GrantorRule:
    """Who may consent: a role, for which age bands of the person, within which purposes (None: all)."""

    role: GrantorRole
    age_bands: frozenset[AgeBand]
    purposes: frozenset[Purpose] | None = None
    within_stated_mandate: bool = field(default=False, metadata=ADDED)
    """A representative (tutor, curator, mandatary, the person who may consent to care): their consent counts only
    for the purposes the consent states their mandate covers (`grantor_scope`); none stated, it permits nothing."""


@dataclass(frozen=True)
class RuleTable:
    regime: Regime
    label: str
    routes: tuple[Route, ...]
    bars: tuple[Bar, ...]
    grantors: tuple[GrantorRule, ...]
    always_obligations: tuple[Obligation, ...] = ()
    in_force_from: date | None = field(default=None, metadata=ADDED)
    superseded_on: date | None = field(default=None, metadata=ADDED)
    """From this date the regime is repealed: a decision dated on or after it says `regime_superseded`."""

    def route(self, route_id: str) -> Route:
        for route in self.routes:
            if route.id == route_id:
                return route
        raise KeyError(route_id)

    def grantor(self, role: GrantorRole) -> GrantorRule | None:
        for rule in self.grantors:
            if rule.role == role:
                return rule
        return None


# --- JSON: exact round trip of the value objects ----------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A JSON-compatible copy (enums as codes, dates as ISO 8601, tuples and sets as sorted-or-ordered lists)."""
    convert = _CONVERTERS.get(type(value))
    if convert is None:
        convert = _CONVERTERS[type(value)] = _converter(type(value))
    return convert(value)


def _converter(cls: type) -> Callable[[Any], Any]:
    """How `to_json` converts a value of `cls` (chosen once per type: every decision converts its input, facts and
    result, hundreds of values each)."""
    if cls is type(None) or issubclass(cls, bool | int | float):
        return _same
    if issubclass(cls, Enum):
        return _enum_value
    if issubclass(cls, str):
        return _same
    if issubclass(cls, datetime | date):
        return _isoformat
    if issubclass(cls, tuple | list):
        return _list
    if issubclass(cls, frozenset | set):
        return _sorted
    names = _field_names(cls)
    return lambda value: {name: to_json(getattr(value, name)) for name in names}


def digest_json(value: Any) -> Any:
    """`to_json(value)` without the fields marked `ADDED` that keep their default, in `value` and the value objects
    of its fields (what a request's digest covers)."""
    data = to_json(value)
    if _holds_fields(type(value)):
        _drop_unset_additions(value, data)
    return data


def _drop_unset_additions(value: Any, data: Any) -> None:
    """Drops from `data` (`to_json(value)`, `value` a dataclass instance) the fields marked `ADDED` that keep their
    default, descending only into the fields that hold a value object (every request's digest walks them)."""
    cls = type(value)
    for f in _added_fields(cls):
        if getattr(value, f.name) == f.default:
            del data[f.name]
    for name in _field_names(cls):
        field_value = getattr(value, name)
        if _holds_fields(type(field_value)) and name in data:
            _drop_unset_additions(field_value, data[name])


_DATACLASSES: dict[type, bool] = {}


def _holds_fields(cls: type) -> bool:
    """Whether `cls` is a dataclass (its instances are value objects with fields; a class object's type is not)."""
    known = _DATACLASSES.get(cls)
    if known is None:
        known = _DATACLASSES[cls] = dataclasses.is_dataclass(cls)
    return known


_ADDED_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def _added_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    added = _ADDED_FIELDS.get(cls)
    if added is None:
        added = _ADDED_FIELDS[cls] = tuple(f for f in dataclasses.fields(cls) if f.metadata.get("added"))
    return added


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Enum) -> Any:
    return value.value


def _isoformat(value: date) -> str:
    return value.isoformat()


def _list(value: Iterable[Any]) -> list[Any]:
    return [to_json(v) for v in value]


def _sorted(value: Iterable[Any]) -> list[Any]:
    return sorted(to_json(v) for v in value)


_CONVERTERS: dict[type, Callable[[Any], Any]] = {}
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"cannot convert {cls.__name__} to JSON")
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def from_json(cls: type[T], data: Any) -> T:
    """The inverse of `to_json` for the dataclasses of this module."""
    return _decode(cls, data)  # type: ignore[no-any-return]


def _field_types(cls: type) -> dict[str, Any]:
    types_ = _FIELD_TYPES.get(cls)
    if types_ is None:
        names = set(_field_names(cls))
        types_ = _FIELD_TYPES[cls] = {name: hint for name, hint in get_type_hints(cls).items() if name in names}
    return types_


def _decode(tp: Any, data: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return _decode(options[0], data)
    if origin is tuple:
        return tuple(_decode(get_args(tp)[0], v) for v in data)
    if origin is frozenset:
        return frozenset(_decode(get_args(tp)[0], v) for v in data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _field_types(tp)
        constructor: Any = tp
        return constructor(**{k: _decode(hints[k], v) for k, v in data.items() if k in hints})
    if tp is datetime:
        return datetime.fromisoformat(data)
    if tp is date:
        return date.fromisoformat(data)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    return data
