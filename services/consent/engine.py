"""The decision engine (policy decision point): `evaluate(input, facts) -> Decision`, a pure function.

Default deny. A category is permitted only when a route of the regime's table releases it for a candidate
(the declared context, a consent on file, an agreement between the parties) meeting every condition the row
names; the first route in table order that releases a category is its basis. Whatever no route releases is
denied and listed, with the reasons the routes gave. Bars (anonymous person, restrictions) override everything.
The same input and facts always give the same decision: auditors re-run this function on recorded decisions.
A table is compiled on its first decision (`_Plan`: its conditions and tests looked up once, the routes a request
reaches kept for requests alike), which changes how fast it answers, never what.
"""

from __future__ import annotations

import dataclasses
import functools
from bisect import bisect_right
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Any

from services.consent.policy import (
    SENSITIVE,
    AgeBand,
    AgreementFact,
    Basis,
    ConsentFact,
    Decision,
    DecisionInput,
    Facts,
    OnBehalfFact,
    Reason,
    ReasonCode,
    Route,
    RuleTable,
    Scope,
    Source,
    end_of_local_day,
    local_date,
)
from services.consent.rules import table_for
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    ConsentMethod,
    InfoCategory,
    Obligation,
    Outcome,
)

Candidate = ConsentFact | AgreementFact | None
Unmet = tuple[ReasonCode, str | None]
Check = Callable[[RuleTable, Route, DecisionInput, Facts, Candidate], Unmet | None]
RequestTrigger = Callable[[DecisionInput], bool]

CATEGORY_ORDER = {c: i for i, c in enumerate(InfoCategory)}
OBLIGATION_ORDER = {o: i for i, o in enumerate(Obligation)}


# --- triggers: when a route is considered at all ----------------------------------------------------------------

REQUEST_TRIGGERS: dict[str, RequestTrigger] = {
    "danger_declared": lambda request: request.context.danger,
    "court_order_cited": lambda request: bool(request.context.court_order_ref),
    "user_request_made": lambda request: request.context.user_request,
    "complaint_body_cited": lambda request: request.context.complaint_body is not None,
    "mandate_contract_cited": lambda request: bool(request.context.mandate_contract_ref),
    "research_authorisation_cited": lambda request: bool(request.context.research_authorisation_ref),
    "danger_assessed": lambda request: request.context.danger_assessment is not None,
    "mandate_stated": lambda request: request.context.mandate is not None,
    "minor_request_made": lambda request: request.context.minor is not None,
    "deceased_stated": lambda request: request.context.subject_deceased_on is not None,
}
"""Triggers that read the request alone."""

ROUTE_TRIGGERS: dict[str, tuple[Callable[[DecisionInput], Enum | None], Callable[[Route], frozenset[Any]]]] = {
    "purpose_in_route": (lambda request: request.purpose, lambda route: route.purposes),
    "requester_in_route": (lambda request: request.context.requester_role, lambda route: route.requester_roles),
}
"""Triggers that hold when a code the request states is among the route's (its purposes, the roles it serves). Codes,
so that the routes a request reaches can be kept for each (`_Plan.reached`)."""

TRIGGERS = frozenset(REQUEST_TRIGGERS) | frozenset(ROUTE_TRIGGERS)


# --- conditions: what a candidate must meet (None: met; else the reason) ----------------------------------------


def _consent(candidate: Candidate) -> ConsentFact:
    assert isinstance(candidate, ConsentFact)
    return candidate


def _agreement(candidate: Candidate) -> AgreementFact:
    assert isinstance(candidate, AgreementFact)
    return candidate


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _purpose_in_route(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    return None if request.purpose in route.purposes else (ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE, request.purpose)


def _recipient_kind_known(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    return None if facts.recipient_kind is not None else (ReasonCode.RECIPIENT_KIND_UNKNOWN, None)


def _recipient_kind_in_route(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    if facts.recipient_kind in route.recipient_kinds:
        return None
    return ReasonCode.RECIPIENT_KIND_NOT_ELIGIBLE, facts.recipient_kind


def _undertakings_received(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    return None if request.context.undertakings_received else (ReasonCode.UNDERTAKINGS_NOT_RECEIVED, None)


def _research_authorisation_in_force(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    until = request.context.research_authorisation_until
    if until is not None and request.at < until:
        return None
    return ReasonCode.RESEARCH_AUTHORISATION_NOT_IN_FORCE, _iso(until)


def _consent_not_withdrawn(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    withdrawn_at = _consent(c).withdrawn_at
    if withdrawn_at is None or request.at < withdrawn_at:
        return None
    return ReasonCode.CONSENT_WITHDRAWN, _iso(withdrawn_at)


def _consent_started(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    valid_from = _consent(c).valid_from
    return None if valid_from <= request.at else (ReasonCode.CONSENT_NOT_YET_VALID, _iso(valid_from))


def _consent_not_expired(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    valid_until = _consent(c).valid_until
    if valid_until is None or request.at < valid_until:
        return None
    return ReasonCode.CONSENT_EXPIRED, _iso(valid_until)


def _grantor_entitled_for_age(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Entitled both when the consent took effect and at the decision time (a parent's consent lapses at 14)."""
    consent = _consent(c)
    rule = table.grantor(consent.grantor_role)
    for band in (consent.age_band_at_start, consent.age_band_at_decision):
        if rule is None or band not in rule.age_bands:
            return ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE, f"{consent.grantor_role}:{band}"
    return None


def _grantor_entitled_when_given(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Entitled when the consent was given too: a 13-year-old's own consent does not become valid at 14 because
    it was dated to start on the birthday (band unknown: not shown to be entitled)."""
    consent = _consent(c)
    rule = table.grantor(consent.grantor_role)
    band = consent.age_band_when_given
    if rule is None or band is None or band not in rule.age_bands:
        return ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE, f"{consent.grantor_role}:{band or 'UNKNOWN'}"
    return None


def _grantor_mandate_stated(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """A representative consents only within their mandate: without the purposes it covers, nothing."""
    consent = _consent(c)
    rule = table.grantor(consent.grantor_role)
    if rule is not None and rule.within_stated_mandate and consent.grantor_scope is None:
        return ReasonCode.GRANTOR_MANDATE_NOT_STATED, consent.grantor_role
    return None


def _grantor_within_role(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    consent = _consent(c)
    rule = table.grantor(consent.grantor_role)
    role_scope = rule.purposes if rule is not None else frozenset()
    if role_scope is not None and request.purpose not in role_scope:
        return ReasonCode.GRANTOR_OUTSIDE_ROLE, f"{consent.grantor_role}:{request.purpose}"
    if consent.grantor_scope is not None and request.purpose not in consent.grantor_scope:
        return ReasonCode.GRANTOR_OUTSIDE_ROLE, f"{consent.grantor_role}:{request.purpose}"
    return None


def _consent_covers_recipient(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    if _consent(c).covers(request.recipient_org_id, facts.recipient_kind):
        return None
    return ReasonCode.RECIPIENT_NOT_COVERED, None


def _consent_covers_purpose(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    return None if request.purpose in _consent(c).purposes else (ReasonCode.PURPOSE_NOT_COVERED, request.purpose)


def _consent_written(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    method = _consent(c).method
    if method in (ConsentMethod.WRITTEN, ConsentMethod.ELECTRONIC):
        return None
    return ReasonCode.CONSENT_NOT_WRITTEN, method


def _consent_has_end(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    return None if _consent(c).valid_until is not None else (ReasonCode.CONSENT_WITHOUT_END, None)


def _when_disclosed(request: DecisionInput) -> DecisionInput | None:
    """The request as of the moment its disclosure is recorded (`disclosed_at`), up to a few minutes after the `at` it
    names: the information leaves then, so what carries it is judged again at that moment. None for a decision, which
    discloses nothing and is judged at `at` alone."""
    return None if request.disclosed_at is None else dataclasses.replace(request, at=request.disclosed_at)


def _consent_in_force_when_disclosed(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """A consent withdrawn or ended between the disclosure's `at` and its recording no longer carries it
    ("withdrawal stops every later disclosure")."""
    disclosed = _when_disclosed(request)
    if disclosed is None:
        return None
    return _consent_not_withdrawn(table, route, disclosed, facts, c) or _consent_not_expired(
        table, route, disclosed, facts, c
    )


def _consent_held_for_discloser(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """A consent authorises communication from someone: the organisation that recorded it, or one it names among
    its disclosers. Another organisation naming itself discloser gets nothing from it."""
    consent = _consent(c)
    if request.discloser_org_id == consent.recorded_by_org or request.discloser_org_id in consent.discloser_org_ids:
        return None
    return ReasonCode.NO_CONSENT, None


def _add_months(day: date, months: int) -> date:
    """The same day `months` later (the last day of the month when it has no such day: 29 Feb -> 28 Feb)."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


@functools.lru_cache(maxsize=4096)
def _months_later(day: date, months: int) -> datetime:
    """The end of the Québec day `months` after `day` (kept for the days seen lately: a zone conversion costs)."""
    return end_of_local_day(_add_months(day, months))


def _consent_within_max_duration(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Valid only for the time needed (LRSSS s. 6): an end centuries away is no end. The consent may last at most
    `route.consent_max_months` from when it was given (through that Québec day)."""
    consent, months = _consent(c), route.consent_max_months
    if months is None or consent.valid_until is None:
        return None
    latest = _months_later(local_date(consent.given_at or consent.valid_from), months)
    if consent.valid_until <= latest:
        return None
    return ReasonCode.CONSENT_TOO_LONG, _iso(latest)


def _agreement_is_service_108(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    kind = _agreement(c).kind
    return None if kind == AgreementKind.SERVICE_108 else (ReasonCode.COLLABORATION_AGREEMENT_ONLY, kind)


def _agreement_in_force(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    agreement = _agreement(c)
    if agreement.status != AgreementStatus.ACTIVE:
        return ReasonCode.AGREEMENT_NOT_IN_FORCE, agreement.status
    day = local_date(request.at)
    if day < agreement.start or (agreement.end is not None and day > agreement.end):
        return ReasonCode.AGREEMENT_NOT_IN_FORCE, "OUTSIDE_TERM"
    return None


def _agreement_in_force_when_disclosed(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """An agreement terminated, suspended or past its term between the disclosure's `at` and its recording no longer
    carries it: judged on its state at that moment (`Facts.agreements_when_disclosed`; not there, it is not shown to
    be in force), as a consent is (`_consent_in_force_when_disclosed`)."""
    disclosed = _when_disclosed(request)
    if disclosed is None:
        return None
    agreement_id = _agreement(c).agreement_id
    then = next((a for a in facts.agreements_when_disclosed if a.agreement_id == agreement_id), None)
    if then is None:
        return ReasonCode.AGREEMENT_NOT_IN_FORCE, None
    return _agreement_in_force(table, route, disclosed, facts, then)


def _missing(conditions: tuple[tuple[str, bool], ...]) -> str | None:
    """The names of the conditions not met, comma-separated (None when all are)."""
    missing = [name for name, met in conditions if not met]
    return ",".join(missing) if missing else None


def _danger_conditions_met(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Each condition of arts. 19.0.1 / s. 74 is stated: the act, the risk, who is at risk, the urgency, a
    recipient exposed to the danger, their representative or a person who can help, and the authorisation."""
    a = request.context.danger_assessment
    assert a is not None
    missing = _missing(
        (
            ("act", a.act is not None),
            ("risk", a.risk is not None),
            ("at_risk", a.at_risk is not None),
            ("urgent", a.urgent is True),
            ("recipient_role", a.recipient_role is not None),
            ("authorised_by", bool(a.authorised_by)),
        )
    )
    return None if missing is None else (ReasonCode.DANGER_CONDITION_NOT_MET, missing)


def _mandate_conditions_met(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Written, for a fixed term that has not ended, not for the provision of care, with the confidentiality
    clauses, and the signed undertakings received before anything is sent."""
    m = request.context.mandate
    assert m is not None
    missing = _missing(
        (
            ("written", m.written is True),
            ("term_end", m.term_end is not None),
            ("term_end_passed", m.term_end is None or local_date(request.at) <= m.term_end),
            ("for_care", m.for_care is False),
            ("clauses_present", m.clauses_present is True),
            ("undertakings_received", m.undertakings_received is True),
        )
    )
    return None if missing is None else (ReasonCode.MANDATE_CONDITION_NOT_MET, missing)


def _on_behalf_entry(agreement: AgreementFact, org_id: str) -> OnBehalfFact | None:
    return next((e for e in agreement.on_behalf if e.of_org == org_id), None)


def _agreement_on_behalf_of_discloser(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """The agreement says the other parties provide services on the discloser's behalf (108 para. 1)."""
    agreement = _agreement(c)
    if _on_behalf_entry(agreement, request.discloser_org_id) is not None:
        return None
    if _on_behalf_entry(agreement, request.recipient_org_id) is not None:
        return ReasonCode.AGREEMENT_NOT_ON_BEHALF, "OTHER_DIRECTION"
    return ReasonCode.AGREEMENT_NOT_ON_BEHALF, "NOT_DECLARED"


def _service_on_behalf(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """The recipient's service the information is for is one the agreement names as provided on that behalf."""
    entry = _on_behalf_entry(_agreement(c), request.discloser_org_id)
    assert entry is not None
    if request.recipient_service is not None and request.recipient_service in entry.services:
        return None
    return ReasonCode.SERVICE_NOT_ON_BEHALF, request.recipient_service or "NONE"


def _subject_alive(table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate) -> Unmet | None:
    deceased_on = request.context.subject_deceased_on
    if deceased_on is None or local_date(request.at) < deceased_on:
        return None
    return ReasonCode.SUBJECT_DECEASED, deceased_on.isoformat()


def _subject_deceased(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    return None if _subject_alive(table, route, request, facts, c) else (ReasonCode.SUBJECT_NOT_DECEASED, None)


def _no_written_refusal(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """The person did not refuse in writing, while alive, that someone asking in this role be informed."""
    deceased_on = request.context.subject_deceased_on
    assert deceased_on is not None
    death = end_of_local_day(deceased_on)
    for refusal in sorted(facts.refusals, key=lambda r: r.refusal_id):
        in_force = refusal.given_at < death and (refusal.withdrawn_at is None or refusal.withdrawn_at >= death)
        if in_force and request.context.requester_role in refusal.requester_roles:
            return ReasonCode.WRITTEN_REFUSAL_ON_FILE, refusal.refusal_id
    return None


def _died_under_14(table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate) -> Unmet | None:
    band = facts.subject_age_band_at_death
    if band is None:
        return ReasonCode.SUBJECT_AGE_UNKNOWN, None
    return None if band == AgeBand.UNDER_14 else (ReasonCode.NOT_UNDER_14_AT_DEATH, band)


def _subject_is_minor(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    band = facts.subject_age_band
    if band is None:
        return ReasonCode.SUBJECT_AGE_UNKNOWN, None
    return None if band != AgeBand.ADULT else (ReasonCode.SUBJECT_NOT_MINOR, band)


def _subject_under_14(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """LRSSS s. 23: a parent's access is to the record of a minor under 14; from 14 the minor decides. Checked after
    `subject_is_minor` (the band is then known and not adult)."""
    band = facts.subject_age_band
    return None if band == AgeBand.UNDER_14 else (ReasonCode.SUBJECT_NOT_UNDER_14, band)


def _minor_access_not_refused(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Art. 21: refused under 14 after a youth-protection intervention when harm is likely (the DPJ consulted);
    refused at 14 or older when the minor objects and harm is likely. The facts that decide must be stated."""
    m = request.context.minor
    assert m is not None
    ground, code = (
        ("youth_protection_intervention", "UNDER_14_YOUTH_PROTECTION_HARM")
        if facts.subject_age_band == AgeBand.UNDER_14
        else ("objects", "MINOR_OBJECTS_HARM")
    )
    stated = getattr(m, ground)
    if stated is None:
        return ReasonCode.MINOR_CONDITION_NOT_STATED, ground
    if stated is False:
        return None
    if m.harm_likely is None:
        return ReasonCode.MINOR_CONDITION_NOT_STATED, "harm_likely"
    return (ReasonCode.MINOR_ACCESS_REFUSED, code) if m.harm_likely else None


def _representation_stated(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """Art. 22: a representative receives only what exercising their power requires, so the request states the
    mandate it rests on and the categories that power requires (none stated: nothing, and said so)."""
    r = request.context.representation
    if r is None:
        return ReasonCode.REPRESENTATION_NOT_STATED, "representation"
    missing = _missing((("mandate_ref", bool(r.mandate_ref)), ("categories", bool(r.categories))))
    return None if missing is None else (ReasonCode.REPRESENTATION_NOT_STATED, missing)


def _consent_given_under_regime(
    table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """A consent given before the regime came into force is not carried into it."""
    given_at = _consent(c).given_at
    if given_at is not None and (table.in_force_from is None or local_date(given_at) >= table.in_force_from):
        return None
    return ReasonCode.CONSENT_GIVEN_UNDER_PREVIOUS_REGIME, _iso(given_at)


CONDITIONS: dict[str, Check] = {
    "purpose_in_route": _purpose_in_route,
    "recipient_kind_known": _recipient_kind_known,
    "recipient_kind_in_route": _recipient_kind_in_route,
    "undertakings_received": _undertakings_received,
    "research_authorisation_in_force": _research_authorisation_in_force,
    "consent_not_withdrawn": _consent_not_withdrawn,
    "consent_started": _consent_started,
    "consent_not_expired": _consent_not_expired,
    "grantor_entitled_for_age": _grantor_entitled_for_age,
    "grantor_entitled_when_given": _grantor_entitled_when_given,
    "grantor_mandate_stated": _grantor_mandate_stated,
    "grantor_within_role": _grantor_within_role,
    "consent_covers_recipient": _consent_covers_recipient,
    "consent_covers_purpose": _consent_covers_purpose,
    "consent_written": _consent_written,
    "consent_has_end": _consent_has_end,
    "agreement_is_service_108": _agreement_is_service_108,
    "agreement_in_force": _agreement_in_force,
    "agreement_on_behalf_of_discloser": _agreement_on_behalf_of_discloser,
    "service_on_behalf": _service_on_behalf,
    "danger_conditions_met": _danger_conditions_met,
    "mandate_conditions_met": _mandate_conditions_met,
    "subject_alive": _subject_alive,
    "subject_deceased": _subject_deceased,
    "no_written_refusal": _no_written_refusal,
    "died_under_14": _died_under_14,
    "subject_is_minor": _subject_is_minor,
    "subject_under_14": _subject_under_14,
    "minor_access_not_refused": _minor_access_not_refused,
    "consent_given_under_regime": _consent_given_under_regime,
    "representation_stated": _representation_stated,
    "consent_in_force_when_disclosed": _consent_in_force_when_disclosed,
    "agreement_in_force_when_disclosed": _agreement_in_force_when_disclosed,
    "consent_held_for_discloser": _consent_held_for_discloser,
    "consent_within_max_duration": _consent_within_max_duration,
}


# --- scopes a request states: what narrows a route's categories (`Route.narrowed_by`) ---------------------------


def _represented(request: DecisionInput) -> frozenset[InfoCategory]:
    representation = request.context.representation
    return frozenset() if representation is None else frozenset(representation.categories)


STATED_SCOPES: dict[str, Callable[[DecisionInput], frozenset[InfoCategory]]] = {"representation": _represented}


# --- bars: denials that override every route --------------------------------------------------------------------

Barred = list[tuple[frozenset[InfoCategory], str | None]]


def _anonymous(request: DecisionInput, facts: Facts) -> Barred:
    return [(frozenset(request.categories), None)] if request.context.anonymous else []


def _restricted(request: DecisionInput, facts: Facts) -> Barred:
    barred: Barred = []
    for r in sorted(facts.restrictions, key=lambda r: r.restriction_id):
        in_force = r.valid_from <= request.at and (r.lifted_at is None or request.at < r.lifted_at)
        recipient = r.concerns(request.recipient_org_id, facts.recipient_kind)
        purpose = not r.purposes or request.purpose in r.purposes
        categories = frozenset(request.categories) & (frozenset(r.categories) or frozenset(InfoCategory))
        if in_force and recipient and purpose and categories:
            barred.append((categories, r.restriction_id))
    return barred


def _restricted_until_disclosed(request: DecisionInput, facts: Facts) -> Barred:
    """A restriction in force at `at` or when the disclosure is recorded (`disclosed_at`): the person's restriction
    made in between binds the disclosure too."""
    if not facts.restrictions:
        return []
    barred = _restricted(request, facts)
    disclosed = _when_disclosed(request)
    if disclosed is not None:
        barred += _restricted(disclosed, facts)
    merged: dict[str | None, frozenset[InfoCategory]] = {}
    for categories, restriction_id in barred:
        merged[restriction_id] = merged.get(restriction_id, frozenset()) | categories
    return [(merged[key], key) for key in sorted(merged, key=lambda key: key or "")]


BAR_TESTS: dict[str, Callable[[DecisionInput, Facts], Barred]] = {
    "anonymous": _anonymous,
    "restricted": _restricted,
    "restricted_until_disclosed": _restricted_until_disclosed,
}


# --- evaluation -------------------------------------------------------------------------------------------------


def _ordered(
    categories: frozenset[InfoCategory] | set[InfoCategory] | tuple[InfoCategory, ...],
) -> tuple[InfoCategory, ...]:
    return tuple(sorted(set(categories), key=CATEGORY_ORDER.__getitem__))


def _candidates(step: _Step, table: RuleTable, request: DecisionInput, facts: Facts) -> list[Candidate]:
    route = step.route
    if route.source == Source.CONSENT:
        consents = sorted(facts.consents, key=lambda c: (c.valid_from, c.consent_id))
        if step.selects:
            return [c for c in consents if _unmet(step.selects, table, route, request, facts, c) is None]
        return [*consents]
    if route.source == Source.AGREEMENT:
        return [*sorted(facts.agreements, key=lambda a: a.agreement_id)]
    return [None]


def _scope(route: Route, candidate: Candidate, request: DecisionInput) -> frozenset[InfoCategory]:
    if route.categories == Scope.FROM_CONSENT:
        scope = frozenset(_consent(candidate).categories)
    elif route.categories == Scope.FROM_AGREEMENT:
        scope = frozenset(_agreement(candidate).information_sharing)
    else:
        assert isinstance(route.categories, frozenset)
        scope = route.categories
    if route.narrowed_by is not None:
        scope &= STATED_SCOPES[route.narrowed_by](request)
    return scope if route.releases_sensitive else scope - SENSITIVE


def _ids(candidate: Candidate) -> tuple[str | None, str | None]:
    consent_id = candidate.consent_id if isinstance(candidate, ConsentFact) else None
    agreement_id = candidate.agreement_id if isinstance(candidate, AgreementFact) else None
    return consent_id, agreement_id


def _holds(trigger: str, route: Route, request: DecisionInput) -> bool:
    if trigger in REQUEST_TRIGGERS:
        return REQUEST_TRIGGERS[trigger](request)
    value, among = ROUTE_TRIGGERS[trigger]
    return value(request) in among(route)


def _considered(route: Route, request: DecisionInput, day: date) -> bool:
    """The route's text is in force at the disclosure date and its triggers hold (else it says nothing)."""
    if (route.in_force_from is not None and day < route.in_force_from) or (
        route.in_force_until is not None and day >= route.in_force_until
    ):
        return False
    return all(_holds(trigger, route, request) for trigger in route.when)


def _unmet(
    checks: tuple[Check, ...], table: RuleTable, route: Route, request: DecisionInput, facts: Facts, c: Candidate
) -> Unmet | None:
    """The first of `checks` the candidate does not meet (a plain loop: the hot path of a decision)."""
    for check in checks:
        unmet = check(table, route, request, facts, c)
        if unmet:
            return unmet
    return None


@dataclasses.dataclass(frozen=True)
class _Step:
    """A route with its conditions looked up once (a decision looks none up by name)."""

    order: int
    """The route's place in the table (a decision's bases are listed in that order)."""
    route: Route
    requires: tuple[Check, ...]
    selects: tuple[Check, ...]


class _Plan:
    """A rule table compiled once: its bars' tests, its routes' conditions, and which routes a request reaches."""

    def __init__(self, table: RuleTable) -> None:
        self.table = table
        self.bars = tuple((bar, BAR_TESTS[bar.test]) for bar in table.bars)
        self.steps = tuple(
            _Step(i, route, tuple(CONDITIONS[n] for n in route.requires), tuple(CONDITIONS[n] for n in route.selects))
            for i, route in enumerate(table.routes)
        )
        self.dates = sorted({d for r in table.routes for d in (r.in_force_from, r.in_force_until) if d is not None})
        named = sorted({trigger for route in table.routes for trigger in route.when})
        self.request_triggers = tuple(REQUEST_TRIGGERS[t] for t in named if t in REQUEST_TRIGGERS)
        self.route_values = tuple(ROUTE_TRIGGERS[t][0] for t in named if t in ROUTE_TRIGGERS)
        self.reached_by: dict[tuple[int | bool | Enum | None, ...], tuple[_Step, ...]] = {}

    def reached(self, request: DecisionInput, day: date) -> tuple[_Step, ...]:
        """The steps whose routes are considered (`_considered`), in table order. Worked out once for all requests
        alike in what decides it: the period between two of the routes' dates, the value of each request trigger,
        and each value a route trigger looks for among the route's."""
        key = (
            bisect_right(self.dates, day),
            *[trigger(request) for trigger in self.request_triggers],
            *[value(request) for value in self.route_values],
        )
        steps = self.reached_by.get(key)
        if steps is None:
            steps = self.reached_by[key] = tuple(s for s in self.steps if _considered(s.route, request, day))
        return steps


_PLANS: dict[int, _Plan] = {}


def _plan(table: RuleTable) -> _Plan:
    """The table's plan, compiled on its first decision (tables are immutable and kept by `rules.TABLES`)."""
    plan = _PLANS.get(id(table))
    if plan is None or plan.table is not table:
        plan = _PLANS[id(table)] = _Plan(table)
    return plan


def _discloser_unfit(route: Route, facts: Facts) -> Unmet | None:
    """Who may use the route: checked first, whatever the candidate."""
    if not route.discloser_kinds:
        return None
    if facts.discloser_kind is None:
        return ReasonCode.DISCLOSER_KIND_UNKNOWN, None
    if facts.discloser_kind not in route.discloser_kinds:
        return ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE, facts.discloser_kind
    return None


Grant = tuple[int, str | None, str | None]
"""What released a category: the route's place in the table, and the consent or agreement it rests on."""

Said = tuple[ReasonCode, str | None, tuple[InfoCategory, ...], str | None, str | None, str | None]
"""A reason's fields, made a `Reason` only when the decision denies something (a permit lists none)."""


def evaluate(request: DecisionInput, facts: Facts) -> Decision:
    """Decides `request` under the rule table it names, from `facts` alone (pure and deterministic)."""
    table = table_for(request.regime, request.regime_version, request.legal)
    plan = _plan(table)
    requested = _ordered(request.categories)
    day = local_date(request.at)
    said: list[Said] = []
    barred: set[InfoCategory] = set()
    closed: dict[str, set[InfoCategory]] = {}
    closing_bars: list[Said] = []
    for bar, test in plan.bars:
        for categories, detail in test(request, facts):
            reason = (bar.reason, bar.id, _ordered(categories), None, None, detail)
            if bar.closes is None:
                said.append(reason)
                barred |= categories
                continue
            closing_bars.append(reason)
            for route_id in bar.closes:
                closed.setdefault(route_id, set()).update(categories)

    grants: dict[InfoCategory, Grant] = {}
    open_categories = [c for c in requested if c not in barred]
    for step in plan.reached(request, day) if open_categories else ():
        route = step.route
        route_open = (
            [c for c in open_categories if c not in closed[route.id]] if route.id in closed else open_categories
        )
        if not route_open:
            continue
        unfit = _discloser_unfit(route, facts)
        if unfit is not None:
            said.append((unfit[0], route.id, (), None, None, unfit[1]))
            continue
        candidates = _candidates(step, table, request, facts)
        if not candidates and route.no_candidate_reason is not None:
            said.append((route.no_candidate_reason, route.id, (), None, None, None))
        for candidate in candidates:
            consent_id, agreement_id = _ids(candidate)
            unmet = _unmet(step.requires, table, route, request, facts, candidate)
            if unmet is not None:
                said.append((unmet[0], route.id, (), consent_id, agreement_id, unmet[1]))
                continue
            scope = _scope(route, candidate, request)
            grant = (step.order, consent_id, agreement_id)
            outside = []
            for category in route_open:  # in the request's order, so are `outside` and the reasons' categories
                if category in scope:
                    grants.setdefault(category, grant)
                else:
                    outside.append(category)
            sensitive = tuple(c for c in outside if c in SENSITIVE)
            if sensitive:
                said.append(
                    (ReasonCode.SENSITIVE_CATEGORY_NOT_NAMED, route.id, sensitive, consent_id, agreement_id, None)
                )
            others = tuple(c for c in outside if c not in SENSITIVE)
            if others:
                said.append((ReasonCode.CATEGORY_NOT_COVERED, route.id, others, consent_id, agreement_id, None))

    permitted = tuple(c for c in requested if c in grants)
    denied = tuple(c for c in requested if c not in grants)
    obligations: set[Obligation] = set()
    if permitted:
        obligations.update(table.always_obligations)
        for order in {order for order, _, _ in grants.values()}:
            obligations.update(table.routes[order].obligations)
    outcome = Outcome.PERMIT if not denied else Outcome.PERMIT_PARTIAL if permitted else Outcome.DENY
    return Decision(
        outcome=outcome,
        permitted_categories=permitted,
        denied_categories=denied,
        basis=_basis(table, permitted, grants, facts) if permitted else (),
        obligations=tuple(sorted(obligations, key=OBLIGATION_ORDER.__getitem__)),
        regime=table.regime,
        regime_version=request.regime_version,
        reasons=_reasons([*_still_closing(closing_bars, denied), *said]) if denied else (),
        regime_superseded=table.superseded_on is not None and day >= table.superseded_on,
    )


def _reasons(said: list[Said]) -> tuple[Reason, ...]:
    """The reasons of a decision that denies something (none said: no route released it)."""
    return tuple(Reason(*fields) for fields in said) if said else (Reason(ReasonCode.NO_ROUTE),)


def _still_closing(bars: list[Said], denied: tuple[InfoCategory, ...]) -> list[Said]:
    """A bar that closes some routes explains only the categories that stayed denied."""
    kept: list[Said] = []
    for code, bar_id, categories, consent_id, agreement_id, detail in bars:
        still = tuple(c for c in categories if c in denied)
        if still:
            kept.append((code, bar_id, still, consent_id, agreement_id, detail))
    return kept


def _basis(
    table: RuleTable, permitted: tuple[InfoCategory, ...], grants: dict[InfoCategory, Grant], facts: Facts
) -> tuple[Basis, ...]:
    """One basis a route and candidate, with the categories they released (in the request's order); listed in
    table order, then by consent and agreement id."""
    grouped: dict[Grant, list[InfoCategory]] = {}
    for category in permitted:
        grouped.setdefault(grants[category], []).append(category)
    return tuple(
        Basis(
            regime=table.regime,
            route=table.routes[order].id,
            article=table.routes[order].article,
            status=table.routes[order].status,
            categories=tuple(categories),
            consent_id=consent_id,
            agreement_id=agreement_id,
            discloser_kind=facts.discloser_kind,
        )
        for (order, consent_id, agreement_id), categories in sorted(
            grouped.items(), key=lambda item: (item[0][0], item[0][1] or "", item[0][2] or "")
        )
    )
