"""The rule tables: LSSSS arts. 17-27.3 (regime `LSSSS_17_27_3`) and the LRSSS (regime `LRSSS`).

Rows follow `domain/consent-rules.md` (route ids A-n and B-n) with its "Corrections and precisions". The rules are
data: `engine.evaluate` knows how to test each named condition, never which article needs which. A table's version
is its label plus a digest of its legal content, so any change to a row (or to the legal settings below) yields a
new version, and old decisions keep naming the table they used (`rule_history` keeps the tables first published).

Decided here where the texts leave room (each says so in the README's table):
- Who discloses: arts. 19.0.1, 21, 23, 24, 27.1 and 108 are powers or duties of an institution (CSSS, establishment,
  regional establishment); from anyone else (a community organisation under the private-sector Act, a
  professional) only a consent or a court order carries information.
- Anonymity closes the routes that rest on the person's own will or on serving them as an identified user (consent,
  the user's request, the LRSSS care flow, and from the tables of 2026-12-04 a service agreement under art. 108):
  nobody can consent for an anonymous caller, and the orientations say an anonymous caller is never referred with
  information. The statutory routes (danger, court order...) stay open.
- Cause of death is a category of its own (`CAUSE_OF_DEATH`); "psychosocial" (art. 23, a parent of a child who died
  under 14) is the reason for referral, assessments, intervention plans, risk assessments and psychosocial history.
- The LRSSS rows whose sections were not read (care flow, agreements, danger s. 74, mandates s. 77, court orders,
  complaint bodies, minors, representatives, deceased users) carry `NEEDS_LEGAL_REVIEW`, and a deployment can switch
  any route off (`CONSENT_DISABLED_ROUTES`).
- Representatives (art. 22, A-12; B-12, `NEEDS_LEGAL_REVIEW` in both regimes): an institution's duty to a tutor,
  curator, mandatary or person who may consent to care who asks for the record for themselves (purpose
  USER_REQUESTED_TRANSFER, as arts. 21, 23 and 24), while the person lives (the power ends with them; art. 23 then
  applies). The role alone never says what the power requires, so the request states the mandate and the categories
  it requires; only those go, never a cause of death nor a sensitive category. Anonymity closes it, as it closes
  consent: nobody can show they represent someone who stays anonymous.
- Deceased users (art. 23, A-13; B-13), from the tables of 2026-12-05: the cause of death goes only to the relatives
  (spouse, ascendants, descendants) and to the parent of a child who died under 14, never to heirs; a written
  refusal bars the rows of the relationships it names (relatives, heirs, parent, blood relatives), and only those.
  The text provides the refusal for the relatives' row: reading it for the others is the cautious side (default
  deny), and nothing the API accepts on a refusal is then left unread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from services.consent.domain import RegimeSettingError, UnknownRegimeVersionError
from services.consent.policy import (
    GENERAL,
    Bar,
    LegalSettings,
    ReasonCode,
    Route,
    RuleStatus,
    RuleTable,
    Scope,
    Source,
    local_date,
    to_json,
)
from services.consent.rule_history import CONSENT_CHECKS as FIRST_CONSENT_CHECKS
from services.consent.rule_history import DANGER_CATEGORIES, FIRST_LRSSS, FIRST_LSSSS, GRANTORS
from services.consent.rule_history import GENERAL as FIRST_GENERAL
from services.contract.codes import GrantorRole, InfoCategory, Obligation, OrgKind, Purpose, Regime, RequesterRole

LRSSS_IN_FORCE = date(2024, 7, 1)
"""The LRSSS replaced LSSSS arts. 17-28 on this date (CONSENT_REGIME=BY_DATE)."""

LABEL = "2026-12-05"
"""The current tables: those of 2026-11-30 with the corrections of the legal reviews of 2026-12-01 and 2026-12-02,
of the review of 2026-12-03, the representatives' route of art. 22 (A-12, B-12) added on 2026-12-03, the
corrections of the legal review of 2026-12-04 (B-11 for a minor under 14 only; anonymity closes art. 108) and those
of 2026-12-05 (art. 23: heirs never get the cause of death, a written refusal bars the rows it names; art. 108 ends
with the person, and with the agreement when it ends before the disclosure is recorded)."""

INSTITUTIONS = frozenset({OrgKind.CSSS, OrgKind.ESTABLISHMENT, OrgKind.REGIONAL_ESTABLISHMENT})
"""Établissements: the only disclosers of the routes that are an institution's power or duty."""
ANYONE: frozenset[OrgKind] = frozenset()

CONSENT_CHECKS = ("subject_alive", *FIRST_CONSENT_CHECKS)
"""What every consent must meet at the decision time; a consent given in life ends with the person."""

ALL_PURPOSES = frozenset(Purpose)
ASKED_BY_THE_PERSON_NAMED = frozenset({Purpose.USER_REQUESTED_TRANSFER})
"""Arts. 21, 23 and 24: the person the law names (the user, a parent, an heir...) asks for the record; no other
purpose rides on their request (there is no general referral exception)."""
LIVING = GENERAL - {InfoCategory.CAUSE_OF_DEATH}
"""What a living person's record may hold: no cause of death."""
PSYCHOSOCIAL = frozenset(
    {
        InfoCategory.REFERRAL_REASON,
        InfoCategory.ASSESSMENT,
        InfoCategory.INTERVENTION_PLAN,
        InfoCategory.RISK_ASSESSMENT,
        InfoCategory.PSYCHOSOCIAL_HISTORY,
    }
)
RELATIVES = frozenset({RequesterRole.SPOUSE, RequesterRole.ASCENDANT, RequesterRole.DESCENDANT})
DANGER_OBLIGATIONS = (Obligation.AUTHORISED_DISCLOSER_ONLY, Obligation.MINIMUM_NECESSARY, Obligation.NOTE_IN_RECORD)


# --- rows written once and used by both regimes -----------------------------------------------------------------


def _consent_route(
    id: str, article: str, purposes: frozenset[Purpose], requires: tuple[str, ...], title: tuple[str, str]
) -> Route:
    return Route(
        id=id,
        article=article,
        title_en=title[0],
        title_fr=title[1],
        source=Source.CONSENT,
        when=("purpose_in_route",),
        requires=requires,
        purposes=purposes,
        categories=Scope.FROM_CONSENT,
        obligations=(),
        status=RuleStatus.VERIFIED,
        releases_sensitive=True,
        no_candidate_reason=ReasonCode.NO_CONSENT,
        discloser_kinds=ANYONE,
    )


def _agreement_route(id: str, article: str) -> Route:
    return Route(
        id=id,
        article=article,
        title_en="service agreement: services provided on the discloser's behalf",
        title_fr="entente de service : services rendus pour le compte de l'établissement",
        source=Source.AGREEMENT,
        when=("purpose_in_route",),
        requires=(
            "agreement_is_service_108",
            "agreement_in_force",
            "agreement_on_behalf_of_discloser",
            "service_on_behalf",
        ),
        purposes=frozenset({Purpose.SERVICE_ON_BEHALF}),
        categories=Scope.FROM_AGREEMENT,
        obligations=(Obligation.MINIMUM_NECESSARY, Obligation.REGISTER_ENTRY),
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
        discloser_kinds=INSTITUTIONS,
    )


def _danger_route(
    id: str, article: str, status: RuleStatus, title: tuple[str, str], since: date | None, until: date | None
) -> Route:
    return Route(
        id=id,
        article=article,
        title_en=title[0],
        title_fr=title[1],
        source=Source.CONTEXT,
        when=("danger_assessed",),
        requires=("purpose_in_route", "danger_conditions_met"),
        purposes=frozenset({Purpose.EMERGENCY}),
        categories=DANGER_CATEGORIES,
        obligations=DANGER_OBLIGATIONS,
        status=status,
        discloser_kinds=INSTITUTIONS,
        in_force_from=since,
        in_force_until=until,
    )


def _mandate_route(id: str, article: str, status: RuleStatus, obligations: tuple[Obligation, ...]) -> Route:
    return Route(
        id=id,
        article=article,
        title_en="mandate or service contract, written, for a fixed term, not for care, with the required clauses",
        title_fr="mandat ou contrat de service écrit, à durée déterminée, autre que de soins, clauses requises",
        source=Source.CONTEXT,
        when=("mandate_stated",),
        requires=("purpose_in_route", "mandate_conditions_met"),
        purposes=frozenset({Purpose.MANDATE_CONTRACT}),
        categories=GENERAL,
        obligations=obligations,
        status=status,
        discloser_kinds=INSTITUTIONS,
    )


def _carried(route: Route, discloser_kinds: frozenset[OrgKind], **changes: Any) -> Route:
    """A row of the first tables, kept, with who may use it and today's general categories."""
    categories = GENERAL if route.categories == FIRST_GENERAL else route.categories
    return dataclasses.replace(route, categories=categories, discloser_kinds=discloser_kinds, **changes)


def _minor_route(id: str, article: str, status: RuleStatus) -> Route:
    return Route(
        id=id,
        article=article,
        title_en="holder of parental authority asking about a minor",
        title_fr="titulaire de l'autorité parentale qui demande le dossier d'un mineur",
        source=Source.CONTEXT,
        when=("minor_request_made",),
        requires=("subject_alive", "subject_is_minor", "minor_access_not_refused"),
        purposes=ALL_PURPOSES,
        categories=GENERAL,
        obligations=(Obligation.NOTE_IN_RECORD,),
        status=status,
        discloser_kinds=INSTITUTIONS,
    )


DECEASED_ROWS: tuple[
    tuple[str, frozenset[RequesterRole], tuple[str, ...], frozenset[InfoCategory], tuple[str, str]], ...
] = (
    (
        "relatives",
        RELATIVES,
        ("subject_deceased", "no_written_refusal"),
        frozenset({InfoCategory.CAUSE_OF_DEATH}),
        (
            "spouse, ascendant or descendant: the cause of death",
            "conjoint, ascendant ou descendant : la cause du décès",
        ),
    ),
    (
        "parent",
        frozenset({RequesterRole.PARENT}),
        ("subject_deceased", "died_under_14"),
        GENERAL - PSYCHOSOCIAL,
        (
            "parent of a child who died under 14: no psychosocial information",
            "parent d'un enfant décédé avant 14 ans : aucun renseignement psychosocial",
        ),
    ),
    (
        "heirs",
        frozenset({RequesterRole.HEIR}),
        ("subject_deceased",),
        GENERAL,
        ("heirs, to exercise their rights", "héritiers, pour exercer leurs droits"),
    ),
    (
        "genetic",
        frozenset({RequesterRole.BLOOD_RELATIVE}),
        ("subject_deceased",),
        frozenset({InfoCategory.HEALTH}),
        ("blood relatives: what a genetic or hereditary condition needs", "parents par le sang : maladie héréditaire"),
    ),
)
"""Art. 23 (and LRSSS s. 8): who may learn what of a deceased user's record."""


def _deceased_routes(prefix: str, article: str, status: RuleStatus) -> tuple[Route, ...]:
    return tuple(
        Route(
            id=f"{prefix}/{name}",
            article=article,
            title_en=title[0],
            title_fr=title[1],
            source=Source.CONTEXT,
            when=("deceased_stated", "requester_in_route"),
            requires=requires,
            purposes=ALL_PURPOSES,
            categories=categories,
            obligations=(Obligation.MINIMUM_NECESSARY, Obligation.NOTE_IN_RECORD),
            status=status,
            discloser_kinds=INSTITUTIONS,
            requester_roles=roles,
        )
        for name, roles, requires, categories, title in DECEASED_ROWS
    )


# --- the two regimes --------------------------------------------------------------------------------------------


def _lssss_2026_11_30(legal: LegalSettings) -> RuleTable:
    """The LSSSS table of 2026-11-30, kept exactly: decisions recorded under it re-evaluate with it."""
    return RuleTable(
        regime=Regime.LSSSS_17_27_3,
        label="2026-11-30",
        bars=(
            Bar(
                "ANON",
                "art. 19 (no one can consent for an anonymous person)",
                "anonymous",
                ReasonCode.ANONYMOUS_NO_CONSENT,
                closes=frozenset({"A-1", "A-2", "A-9"}),
            ),
        ),
        grantors=GRANTORS,
        superseded_on=LRSSS_IN_FORCE,
        routes=(
            _consent_route(
                "A-1",
                "LSSSS art. 19",
                ALL_PURPOSES - {Purpose.RESEARCH},
                CONSENT_CHECKS,
                (
                    "consent of the user or of the person who may consent on the user's behalf",
                    "consentement de l'usager ou de la personne qui peut consentir pour lui",
                ),
            ),
            _carried(FIRST_LSSSS.route("A-2"), INSTITUTIONS),
            _agreement_route("A-3", "LSSSS art. 108 para. 1 (art. 19 para. 7)"),
            _mandate_route(
                "A-5",
                "LSSSS arts. 27.1-27.2",
                RuleStatus.VERIFIED,
                (Obligation.REGISTER_ENTRY, Obligation.MINIMUM_NECESSARY, Obligation.CONFIDENTIALITY_UNDERTAKINGS),
            ),
            _danger_route(
                "A-6/2001",
                "LSSSS art. 19.0.1 (2001 text)",
                RuleStatus.NEEDS_LEGAL_REVIEW,
                (
                    "preventing an act of violence, including suicide (imminent danger of death or serious injury)",
                    "prévenir un acte de violence, dont un suicide (danger imminent de mort ou de blessures graves)",
                ),
                None,
                legal.danger_amendment,
            ),
            _danger_route(
                "A-6",
                "LSSSS art. 19.0.1 (2017 text)",
                RuleStatus.VERIFIED,
                (
                    "preventing an act of violence, including suicide (serious risk of death or serious injury, "
                    "with a sense of urgency)",
                    "prévenir un acte de violence, dont un suicide (risque sérieux de mort ou de blessures graves, "
                    "sentiment d'urgence)",
                ),
                legal.danger_amendment,
                None,
            ),
            _carried(FIRST_LSSSS.route("A-7"), ANYONE),
            _carried(FIRST_LSSSS.route("A-8"), INSTITUTIONS),
            _consent_route(
                "A-9",
                "LSSSS art. 19.1",
                frozenset({Purpose.RESEARCH}),
                (*CONSENT_CHECKS, "consent_written", "consent_has_end"),
                (
                    "research with written consent for specific purposes and a limited time",
                    "recherche avec consentement écrit, à des fins précises et pour une durée limitée",
                ),
            ),
            _carried(FIRST_LSSSS.route("A-10"), INSTITUTIONS),
            _minor_route("A-11", "LSSSS art. 21", RuleStatus.VERIFIED),
            *_deceased_routes("A-13", "LSSSS art. 23", RuleStatus.VERIFIED),
        ),
    )


def _lrsss_2026_11_30(legal: LegalSettings) -> RuleTable:
    """The LRSSS table of 2026-11-30, kept exactly: decisions recorded under it re-evaluate with it."""
    review = RuleStatus.NEEDS_LEGAL_REVIEW
    return RuleTable(
        regime=Regime.LRSSS,
        label="2026-11-30",
        bars=(
            Bar("ANON", "LRSSS s. 5", "anonymous", ReasonCode.ANONYMOUS_NO_CONSENT, closes=frozenset({"B-1", "B-2"})),
            FIRST_LRSSS.bars[1],  # B-3/B-4: the person's restrictions and refusals
        ),
        grantors=GRANTORS,
        always_obligations=(Obligation.REGISTER_ENTRY,),  # B-7 (s. 265): every communication is registered
        in_force_from=LRSSS_IN_FORCE,
        routes=(
            _consent_route(
                "B-1",
                "LRSSS ss. 5-6",
                ALL_PURPOSES,
                (*CONSENT_CHECKS, "consent_has_end", "consent_given_under_regime"),
                ("express consent, purpose by purpose, for the time needed", "consentement manifeste, fin par fin"),
            ),
            _carried(
                FIRST_LRSSS.route("B-2"),
                INSTITUTIONS,
                requires=("subject_alive", *FIRST_LRSSS.route("B-2").requires),
            ),
            _agreement_route("B-10", "LRSSS (services on the organisation's behalf; section to verify)"),
            _danger_route(
                "B-5",
                "LRSSS s. 74",
                review,
                (
                    "serious risk of death or serious injury, with a sense of urgency",
                    "risque sérieux de mort ou de blessures graves, avec un sentiment d'urgence",
                ),
                None,
                None,
            ),
            _mandate_route(
                "B-6", "LRSSS s. 77", review, (Obligation.MINIMUM_NECESSARY, Obligation.CONFIDENTIALITY_UNDERTAKINGS)
            ),
            _carried(FIRST_LRSSS.route("B-8"), ANYONE),
            _carried(FIRST_LRSSS.route("B-9"), INSTITUTIONS),
            _minor_route("B-11", "LRSSS (parent of a minor; section to verify)", review),
            *_deceased_routes("B-13", "LRSSS s. 8 (deceased persons; to verify)", review),
        ),
    )


# --- the corrections of 2026-12-01 (legal review): the tables of 2026-11-30 with these rows changed ---------------


def _asked_by_a_parent(route: Route) -> Route:
    """Art. 21 (A-11, B-11): the holder of parental authority asks for the minor's record. The 2026-11-30 row
    never checked who asks nor why, and released the cause of death: any institution could send a minor's record
    to anyone, for any purpose, on a bare `context.minor`."""
    return dataclasses.replace(
        route,
        when=(*route.when, "requester_in_route"),
        requires=("purpose_in_route", *route.requires),
        purposes=ASKED_BY_THE_PERSON_NAMED,
        categories=LIVING,
        requester_roles=frozenset({RequesterRole.PARENT}),
    )


def _asked_by_a_relative(route: Route) -> Route:
    """Art. 23 (A-13, B-13): heirs, relatives, a parent ask for what the law gives them, not for research or a
    referral (the 2026-11-30 rows allowed every purpose, and never tested it)."""
    return dataclasses.replace(
        route, requires=("purpose_in_route", *route.requires), purposes=ASKED_BY_THE_PERSON_NAMED
    )


def _asked_by_the_living_user(route: Route) -> Route:
    """Art. 24 (A-2): the user's own request ends with the user, and never releases a cause of death (after death
    only art. 23 does, with its written-refusal check)."""
    return dataclasses.replace(route, requires=("subject_alive", *route.requires), categories=LIVING)


CORRECTIONS_2026_12_01: dict[str, Callable[[Route], Route]] = {
    "A-2": _asked_by_the_living_user,
    "A-3": lambda route: dataclasses.replace(route, article="LSSSS art. 108 para. 5 (art. 19 para. 7)"),
    "A-11": _asked_by_a_parent,
    "B-11": _asked_by_a_parent,
    "A-13": _asked_by_a_relative,
    "B-13": _asked_by_a_relative,
}
"""By route id, or by the prefix before "/" (the rows of art. 23)."""


def _corrected(table: RuleTable) -> RuleTable:
    def correct(route: Route) -> Route:
        fix = CORRECTIONS_2026_12_01.get(route.id) or CORRECTIONS_2026_12_01.get(route.id.split("/")[0])
        return fix(route) if fix is not None else route

    return dataclasses.replace(table, label="2026-12-01", routes=tuple(correct(r) for r in table.routes))


def _lssss_2026_12_01(legal: LegalSettings) -> RuleTable:
    return _corrected(_lssss_2026_11_30(legal))


def _lrsss_2026_12_01(legal: LegalSettings) -> RuleTable:
    return _corrected(_lrsss_2026_11_30(legal))


# --- the corrections of 2026-12-02 (legal review): who may consent, when and within what --------------------------

REPRESENTATIVES = frozenset(
    {GrantorRole.TUTOR, GrantorRole.CURATOR, GrantorRole.MANDATARY, GrantorRole.CARE_SUBSTITUTE}
)
"""Who consents on the person's behalf under a judgment, a mandate or the law: "only within that mandate"
(consent-rules.md, "Who may consent"; A-12). The role alone never says what the mandate covers, so the consent must."""

GRANTORS_WITHIN_MANDATE = tuple(
    dataclasses.replace(rule, within_stated_mandate=rule.role in REPRESENTATIVES) for rule in GRANTORS
)

GRANTOR_CHECKS = ("grantor_entitled_when_given", "grantor_mandate_stated")
"""Checked right after `grantor_entitled_for_age` by every consent route. The 2026-12-01 rows checked the age band
only at the consent's start and at the decision: a 13-year-old's own consent dated to start on their 14th birthday
passed. And a representative's consent that stated no mandate counted for the role's whole scope."""


def _grantors_reviewed(table: RuleTable) -> RuleTable:
    def review(route: Route) -> Route:
        if route.source != Source.CONSENT:
            return route
        requires: list[str] = []
        for name in route.requires:
            requires += [name, *GRANTOR_CHECKS] if name == "grantor_entitled_for_age" else [name]
        return dataclasses.replace(route, requires=tuple(requires))

    routes = tuple(review(r) for r in table.routes)
    return dataclasses.replace(table, label="2026-12-02", grantors=GRANTORS_WITHIN_MANDATE, routes=routes)


def _lssss_2026_12_02(legal: LegalSettings) -> RuleTable:
    return _grantors_reviewed(_lssss_2026_12_01(legal))


def _lrsss_2026_12_02(legal: LegalSettings) -> RuleTable:
    return _grantors_reviewed(_lrsss_2026_12_01(legal))


# --- 2026-12-03: the representatives of art. 22 (A-12, B-12) --------------------------------------------------------

REPRESENTATIVE_REQUESTERS = frozenset(
    {RequesterRole.TUTOR, RequesterRole.CURATOR, RequesterRole.MANDATARY, RequesterRole.CARE_SUBSTITUTE}
)
"""The representatives of `REPRESENTATIVES` when they ask for the record themselves (art. 22)."""


def _representative_route(id: str, article: str) -> Route:
    """Art. 22: the tutor, curator, mandatary or person who may consent to care asks for the user's record and
    receives it "dans la mesure où cette communication est nécessaire pour l'exercice de ce pouvoir": the request
    states the mandate and the categories exercising it requires, and only those of a living person's record go.
    NEEDS_LEGAL_REVIEW in both regimes: art. 22 is a "partial" row of consent-rules.md (its text not read in full),
    and the LRSSS section that replaced it is not identified."""
    return Route(
        id=id,
        article=article,
        title_en="tutor, curator, mandatary or person who may consent to care: what exercising their power requires",
        title_fr="tuteur, curateur, mandataire ou personne qui peut consentir aux soins : ce qu'exige l'exercice de "
        "leur pouvoir",
        source=Source.CONTEXT,
        when=("requester_in_route",),
        requires=("purpose_in_route", "subject_alive", "representation_stated"),
        purposes=ASKED_BY_THE_PERSON_NAMED,
        categories=LIVING,
        obligations=(Obligation.MINIMUM_NECESSARY, Obligation.NOTE_IN_RECORD),
        status=RuleStatus.NEEDS_LEGAL_REVIEW,
        discloser_kinds=INSTITUTIONS,
        requester_roles=REPRESENTATIVE_REQUESTERS,
        narrowed_by="representation",
    )


def _representatives_added(table: RuleTable, route: Route, after: str) -> RuleTable:
    """`route` in its place (after `after`), and closed to an anonymous person as a consent is: nobody can show
    they represent someone who stays anonymous."""
    routes: list[Route] = []
    for r in table.routes:
        routes += [r, route] if r.id == after else [r]
    return dataclasses.replace(
        table, label="2026-12-03", routes=tuple(routes), bars=_closed_to_anonymous(table.bars, {route.id})
    )


def _closed_to_anonymous(bars: tuple[Bar, ...], route_ids: set[str]) -> tuple[Bar, ...]:
    """`bars` with the anonymity bar closing `route_ids` too."""
    return tuple(
        dataclasses.replace(b, closes=b.closes | route_ids) if b.test == "anonymous" and b.closes is not None else b
        for b in bars
    )


# --- the corrections of 2026-12-03 (review): who discloses on a consent, and until when ---------------------------

CONSENT_IN_FORCE_WHEN_DISCLOSED = "consent_in_force_when_disclosed"
CONSENT_HELD_FOR_DISCLOSER = "consent_held_for_discloser"
CONSENT_WITHIN_MAX_DURATION = "consent_within_max_duration"


def _disclosures_reviewed(table: RuleTable, legal: LegalSettings) -> RuleTable:
    """The review of 2026-12-03, on the tables of 2026-12-02:
    - a consent authorises communication *from* someone: the organisation that recorded it or one it names among
      its disclosers. The 2026-12-02 rows let any organisation naming itself discloser use a consent the recipient
      recorded (and learn from the answer that the person is the recipient's client). A consent that does not
      authorise the discloser is not a candidate at all (`selects`): the answer is the one given had it not existed;
    - a disclosure is recorded up to a few minutes after the `at` it names: the consent must still hold when it is
      recorded (`disclosed_at`), and a restriction in force at either moment bars it (a withdrawal or restriction in
      between stopped it);
    - an LRSSS consent (B-1) lasts at most `legal.lrsss_consent_max_months` from when it was given ("valid only as
      long as needed": a consent valid until 9998 is open-ended in all but name)."""

    def review(route: Route) -> Route:
        if route.source != Source.CONSENT:
            return route
        requires = [*route.requires]
        at = requires.index("consent_not_expired") + 1
        requires[at:at] = [CONSENT_IN_FORCE_WHEN_DISCLOSED]
        max_months = None
        if route.id == "B-1":
            at = requires.index("consent_given_under_regime") + 1  # that reason first: it says more
            requires[at:at] = [CONSENT_WITHIN_MAX_DURATION]
            max_months = legal.lrsss_consent_max_months
        return dataclasses.replace(
            route, requires=tuple(requires), selects=(CONSENT_HELD_FOR_DISCLOSER,), consent_max_months=max_months
        )

    def bar(b: Bar) -> Bar:
        return dataclasses.replace(b, test="restricted_until_disclosed") if b.test == "restricted" else b

    return dataclasses.replace(
        table, label="2026-12-03", routes=tuple(review(r) for r in table.routes), bars=tuple(bar(b) for b in table.bars)
    )


def _lssss_2026_12_03(legal: LegalSettings) -> RuleTable:
    a12 = _representative_route("A-12", "LSSSS art. 22")
    return _disclosures_reviewed(_representatives_added(_lssss_2026_12_02(legal), a12, after="A-11"), legal)


def _lrsss_2026_12_03(legal: LegalSettings) -> RuleTable:
    b12 = _representative_route(
        "B-12", "LRSSS (representatives: tutor, curator, mandatary, consent to care; section to verify)"
    )
    return _disclosures_reviewed(_representatives_added(_lrsss_2026_12_02(legal), b12, after="B-11"), legal)


# --- the corrections of 2026-12-04 (legal review): a parent and a minor of 14; anonymity and art. 108 --------------


def _asked_by_the_parent_of_a_child_under_14(route: Route) -> Route:
    """LRSSS s. 23 (B-11): the holder of parental authority has access to the record of a minor under 14 only. From
    14 the minor decides ("under 14 -> parent/tutor; 14+ -> the minor", consent-rules.md B-1): a parent receives a
    14-17-year-old's record only on the minor's own consent (B-1). The 2026-12-03 row, carried from LSSSS art. 21,
    gave it to the parent unless the minor objected and harm was likely."""
    requires = [*route.requires]
    at = requires.index("subject_is_minor") + 1  # an adult stays SUBJECT_NOT_MINOR, an unknown age SUBJECT_AGE_UNKNOWN
    requires[at:at] = ["subject_under_14"]
    return dataclasses.replace(
        route,
        article="LRSSS s. 23 (minor under 14; to verify)",
        title_en="holder of parental authority asking about a minor under 14",
        title_fr="titulaire de l'autorité parentale qui demande le dossier d'un mineur de moins de 14 ans",
        requires=tuple(requires),
    )


def _minors_and_anonymity_reviewed(table: RuleTable) -> RuleTable:
    """The legal review of 2026-12-04, on the tables of 2026-12-03:
    - B-11 serves a parent only for a minor under 14 (`_asked_by_the_parent_of_a_child_under_14`); A-11 (LSSSS art.
      21, which gives a parent access from 14 unless the minor objects and harm is likely) is unchanged;
    - an anonymous caller is never referred with information (standards.md, Info-Social): the anonymity bar closes
      the service-agreement routes of art. 108 (A-3, B-10) as it closes the LRSSS care flow (B-2). The 2026-12-03
      rows sent an anonymous caller's identification to a partner providing services on the discloser's behalf, and
      registered it as a lawful disclosure."""
    routes = tuple(_asked_by_the_parent_of_a_child_under_14(r) if r.id == "B-11" else r for r in table.routes)
    on_behalf = {r.id for r in table.routes if r.source == Source.AGREEMENT}
    return dataclasses.replace(
        table, label="2026-12-04", routes=routes, bars=_closed_to_anonymous(table.bars, on_behalf)
    )


def _lssss_2026_12_04(legal: LegalSettings) -> RuleTable:
    return _minors_and_anonymity_reviewed(_lssss_2026_12_03(legal))


def _lrsss_2026_12_04(legal: LegalSettings) -> RuleTable:
    return _minors_and_anonymity_reviewed(_lrsss_2026_12_03(legal))


# --- the corrections of 2026-12-05 (legal review): art. 23 heirs and written refusals; art. 108 until when ----------

AGREEMENT_IN_FORCE_WHEN_DISCLOSED = "agreement_in_force_when_disclosed"


def _barred_by_a_written_refusal(route: Route) -> Route:
    """Art. 23 (A-13, B-13): the refusal a person wrote while alive names the relationships it refuses (the API has
    always taken HEIR, PARENT and BLOOD_RELATIVE beside the relatives): it bars the rows of those relationships. Only
    the relatives' row read it before, so a refusal naming an heir or a parent was on file and never applied."""
    if "no_written_refusal" in route.requires:
        return route
    return dataclasses.replace(route, requires=(*route.requires, "no_written_refusal"))


def _asked_by_heirs(route: Route) -> Route:
    """Art. 23 (A-13/heirs, B-13/heirs): heirs receive what exercising their rights as heirs requires, the record as it
    stood in life; the cause of death is the relatives' (spouse, ascendants, descendants), with the deceased's written
    refusal checked (consent-rules.md note 6). The 2026-12-04 row released it to anyone asking as an heir, so a
    spouse refused it in writing received it by asking as HEIR."""
    return _barred_by_a_written_refusal(dataclasses.replace(route, categories=LIVING))


def _on_behalf_while_alive_and_in_force(route: Route) -> Route:
    """Art. 108 (A-3, B-10): services provided on the institution's behalf are provided to a living user, so the route
    ends with the person, as consent, the user's request and the care flow do (the 2026-12-04 rows kept sending a
    deceased person's record to the partner); and the agreement must still be in force when the disclosure is recorded
    (`disclosed_at`), as a consent must (a termination in the minutes between the disclosure's `at` and its recording
    stopped nothing)."""
    requires = [*route.requires]
    at = requires.index("agreement_in_force") + 1
    requires[at:at] = [AGREEMENT_IN_FORCE_WHEN_DISCLOSED]
    return dataclasses.replace(route, requires=("subject_alive", *requires))


def _deceased_and_on_behalf_reviewed(table: RuleTable) -> RuleTable:
    """The legal review of 2026-12-05, on the tables of 2026-12-04: the art. 23 rows (`_asked_by_heirs`,
    `_barred_by_a_written_refusal`) and the art. 108 rows (`_on_behalf_while_alive_and_in_force`)."""

    def review(route: Route) -> Route:
        if route.source == Source.AGREEMENT:
            return _on_behalf_while_alive_and_in_force(route)
        article, _, row = route.id.partition("/")
        if article not in ("A-13", "B-13"):
            return route
        return _asked_by_heirs(route) if row == "heirs" else _barred_by_a_written_refusal(route)

    return dataclasses.replace(table, label=LABEL, routes=tuple(review(r) for r in table.routes))


def _lssss(legal: LegalSettings) -> RuleTable:
    return _deceased_and_on_behalf_reviewed(_lssss_2026_12_04(legal))


def _lrsss(legal: LegalSettings) -> RuleTable:
    return _deceased_and_on_behalf_reviewed(_lrsss_2026_12_04(legal))


EDITIONS: dict[str, tuple[Callable[[LegalSettings], RuleTable], ...]] = {
    "2026-11-30": (_lssss_2026_11_30, _lrsss_2026_11_30),
    "2026-12-01": (_lssss_2026_12_01, _lrsss_2026_12_01),
    "2026-12-02": (_lssss_2026_12_02, _lrsss_2026_12_02),
    "2026-12-03": (_lssss_2026_12_03, _lrsss_2026_12_03),
    "2026-12-04": (_lssss_2026_12_04, _lrsss_2026_12_04),
    LABEL: (_lssss, _lrsss),
}
"""The tables built from the legal settings, by label, oldest first (the last is current). The first tables
(2026-11-25) are not here: they predate the settings, and `rule_history` keeps them word for word."""


def build_tables(legal: LegalSettings | None = None, label: str = LABEL) -> dict[Regime, RuleTable]:
    """The tables a deployment applies (or applied, for an older `label`), without the routes it switched off."""
    legal = legal or LegalSettings()
    tables = {}
    for table in (build(legal) for build in EDITIONS[label]):
        routes = tuple(r for r in table.routes if r.id not in legal.disabled_routes)
        tables[table.regime] = dataclasses.replace(table, routes=routes)
    return tables


def route_ids() -> set[str]:
    """Every route id of the current tables (what `CONSENT_DISABLED_ROUTES` may name)."""
    return {route.id for table in build_tables().values() for route in table.routes}


def _legal_content(value: Any) -> Any:
    """What a table's version covers: every legal element, not the titles, and not a field added after the first
    tables while it keeps its default (so the first tables keep their versions)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        content = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.name in ("title_en", "title_fr") or (f.metadata.get("added") and item == f.default):
                continue
            content[f.name] = _legal_content(item)
        return content
    if isinstance(value, tuple | list):
        return [_legal_content(v) for v in value]
    return to_json(value)


def version_of(table: RuleTable) -> str:
    """`<label>+<digest>`: the digest covers every legal element of the table (not the titles)."""
    content = {
        "regime": table.regime.value,
        "bars": _legal_content(table.bars),
        "grantors": _legal_content(table.grantors),
        "always": to_json(table.always_obligations),
        "routes": _legal_content(table.routes),
    }
    for name in ("in_force_from", "superseded_on"):
        if getattr(table, name) is not None:
            content[name] = to_json(getattr(table, name))
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return f"{table.label}+{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


TABLES: dict[tuple[Regime, str], RuleTable] = {}
"""Every table this process can apply or re-apply: the first tables, and the current ones of each legal setting
in use (`register`)."""


def register(tables: Iterable[RuleTable]) -> dict[Regime, str]:
    """Makes tables known to the engine; returns their versions by regime."""
    versions = {}
    for table in tables:
        version = version_of(table)
        TABLES[(table.regime, version)] = table
        versions[table.regime] = version
    return versions


def register_editions(legal: LegalSettings | None = None) -> dict[Regime, str]:
    """Makes every edition of the tables under `legal` known (what a deployment with these settings decided
    before stays re-evaluable); returns the current versions by regime."""
    versions: dict[Regime, str] = {}
    for label in EDITIONS:
        versions = register(build_tables(legal, label).values())
    return versions


register((FIRST_LSSSS, FIRST_LRSSS))
CURRENT = build_tables()
CURRENT_VERSION: dict[Regime, str] = register_editions()
"""The tables of the default legal settings."""

REGIME_SETTINGS = ("LSSSS_17_27_3", "LRSSS", "BY_DATE")


def table_for(regime: Regime, version: str, legal: LegalSettings | None = None) -> RuleTable:
    """The table `version` names; `legal`: the settings of the deployment that applied it, when not the defaults (a
    decision recorded before a deployment changed its settings re-evaluates under the tables of its own)."""
    if (regime, version) not in TABLES and legal is not None:
        for label in EDITIONS:  # kept only when they are the tables asked for: other settings leave nothing behind
            register(t for t in build_tables(legal, label).values() if (t.regime, version_of(t)) == (regime, version))
    try:
        return TABLES[(regime, version)]
    except KeyError:
        raise UnknownRegimeVersionError(f"no rule table {regime.value} {version}") from None


def regime_for(setting: str, at: datetime) -> Regime:
    """The regime a deployment applies at `at`: pinned, or by the date of the disclosure (BY_DATE)."""
    if setting == "BY_DATE":
        return Regime.LSSSS_17_27_3 if local_date(at) < LRSSS_IN_FORCE else Regime.LRSSS
    if setting not in REGIME_SETTINGS:
        raise RegimeSettingError(f"unknown regime setting {setting!r}")
    return Regime(setting)
