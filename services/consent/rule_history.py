"""The rule tables first published (label 2026-11-25), kept word for word so that the decisions recorded under them
are re-evaluated exactly as they were decided (`POST /v1/decisions/{id}/reevaluate`, the audit recheck).

Never edit these tables: a change is a new table in `rules.py`. Their category sets are written out because the
list of categories grew since (`CAUSE_OF_DEATH`), and a set computed from today's codes would change their content
and their version. What these tables got wrong, and the current tables correct (consent-rules.md, "Corrections
and precisions"): routes open to any discloser, art. 108 without its direction or services, danger on a bare flag,
anonymity closing every route, no deceased users, no minors' art. 21, open-ended consents under the LRSSS.
"""

from __future__ import annotations

from services.consent.policy import (
    AgeBand,
    Bar,
    GrantorRule,
    ReasonCode,
    Route,
    RuleStatus,
    RuleTable,
    Scope,
    Source,
)
from services.contract.codes import GrantorRole, InfoCategory, Obligation, OrgKind, Purpose, Regime

GENERAL = frozenset(
    {
        InfoCategory.IDENTIFICATION,
        InfoCategory.CONTACT,
        InfoCategory.REFERRAL_REASON,
        InfoCategory.ASSESSMENT,
        InfoCategory.INTERVENTION_PLAN,
        InfoCategory.RISK_ASSESSMENT,
        InfoCategory.HEALTH,
        InfoCategory.PSYCHOSOCIAL_HISTORY,
    }
)
"""Every category but the sensitive ones, as the codes stood in 2026-11-25."""

CONSENT_CHECKS = (
    "consent_not_withdrawn",
    "consent_started",
    "consent_not_expired",
    "grantor_entitled_for_age",
    "grantor_within_role",
    "consent_covers_recipient",
    "consent_covers_purpose",
)
"""What every consent must meet at the decision time (first unmet: the reason)."""

ALL_PURPOSES = frozenset(Purpose)  # unchanged since: the nine purposes of the contract
CARE_PURPOSES = frozenset({Purpose.REFERRAL, Purpose.SERVICE_ON_BEHALF, Purpose.JOINT_FOLLOW_UP, Purpose.EMERGENCY})
ESTABLISHMENTS_AND_PROFESSIONALS = frozenset(
    {OrgKind.CSSS, OrgKind.ESTABLISHMENT, OrgKind.REGIONAL_ESTABLISHMENT, OrgKind.PROFESSIONAL}
)
DANGER_CATEGORIES = frozenset({InfoCategory.IDENTIFICATION, InfoCategory.CONTACT, InfoCategory.RISK_ASSESSMENT})

GRANTORS = (
    GrantorRule(GrantorRole.SELF, frozenset({AgeBand.MINOR_14_TO_17, AgeBand.ADULT})),
    GrantorRule(GrantorRole.PARENT, frozenset({AgeBand.UNDER_14})),
    GrantorRule(GrantorRole.TUTOR, frozenset({AgeBand.UNDER_14, AgeBand.ADULT})),
    GrantorRule(GrantorRole.CURATOR, frozenset({AgeBand.ADULT})),
    GrantorRule(GrantorRole.MANDATARY, frozenset({AgeBand.ADULT})),
    GrantorRule(GrantorRole.CARE_SUBSTITUTE, frozenset({AgeBand.ADULT}), CARE_PURPOSES),
)
"""The person if 14 or older; under 14 a parent or tutor; an inapt adult's tutor, curator or mandatary (within the
mandate, see the consent's `grantor_scope`) or the person who may consent to care (care purposes only)."""

ANONYMOUS_BAR = Bar("ANON", "art. 19 (no one can consent for an anonymous person)", "anonymous", ReasonCode.ANONYMOUS)

FIRST_LSSSS = RuleTable(
    regime=Regime.LSSSS_17_27_3,
    label="2026-11-25",
    bars=(ANONYMOUS_BAR,),
    grantors=GRANTORS,
    routes=(
        Route(
            id="A-1",
            article="LSSSS art. 19",
            title_en="consent of the user or of the person who may consent on the user's behalf",
            title_fr="consentement de l'usager ou de la personne qui peut consentir pour lui",
            source=Source.CONSENT,
            when=("purpose_in_route",),
            requires=CONSENT_CHECKS,
            purposes=ALL_PURPOSES - {Purpose.RESEARCH},
            categories=Scope.FROM_CONSENT,
            obligations=(),
            status=RuleStatus.VERIFIED,
            releases_sensitive=True,
            no_candidate_reason=ReasonCode.NO_CONSENT,
        ),
        Route(
            id="A-2",
            article="LSSSS art. 24",
            title_en="transfer requested by the user to another establishment or a professional",
            title_fr="transmission demandée par l'usager à un autre établissement ou à un professionnel",
            source=Source.CONTEXT,
            when=("user_request_made",),
            requires=("purpose_in_route", "recipient_kind_known", "recipient_kind_in_route"),
            purposes=frozenset({Purpose.USER_REQUESTED_TRANSFER}),
            categories=GENERAL,
            obligations=(Obligation.NOTE_IN_RECORD,),
            status=RuleStatus.VERIFIED,
            recipient_kinds=ESTABLISHMENTS_AND_PROFESSIONALS,
        ),
        Route(
            id="A-3",
            article="LSSSS art. 108 (art. 19 para. 7)",
            title_en="service agreement: services provided on the discloser's behalf",
            title_fr="entente de service : services rendus pour le compte de l'établissement",
            source=Source.AGREEMENT,
            when=(),
            requires=("agreement_is_service_108", "agreement_in_force", "purpose_in_route"),
            purposes=frozenset({Purpose.SERVICE_ON_BEHALF}),
            categories=Scope.FROM_AGREEMENT,
            obligations=(Obligation.MINIMUM_NECESSARY, Obligation.REGISTER_ENTRY),
            status=RuleStatus.NEEDS_LEGAL_REVIEW,
        ),
        Route(
            id="A-5",
            article="LSSSS arts. 27.1-27.2",
            title_en="mandate or service contract (not for care)",
            title_fr="mandat ou contrat de service (autre que la prestation de soins)",
            source=Source.CONTEXT,
            when=("mandate_contract_cited",),
            requires=("purpose_in_route", "undertakings_received"),
            purposes=frozenset({Purpose.MANDATE_CONTRACT}),
            categories=GENERAL,
            obligations=(
                Obligation.REGISTER_ENTRY,
                Obligation.MINIMUM_NECESSARY,
                Obligation.CONFIDENTIALITY_UNDERTAKINGS,
            ),
            status=RuleStatus.VERIFIED,
        ),
        Route(
            id="A-6",
            article="LSSSS art. 19.0.1",
            title_en="preventing an act of violence, including suicide (serious risk of death or serious injury)",
            title_fr="prévenir un acte de violence, dont un suicide (risque sérieux de mort ou de blessures graves)",
            source=Source.CONTEXT,
            when=("danger_declared",),
            requires=("purpose_in_route",),
            purposes=frozenset({Purpose.EMERGENCY, Purpose.REFERRAL}),
            categories=DANGER_CATEGORIES,
            obligations=(
                Obligation.AUTHORISED_DISCLOSER_ONLY,
                Obligation.MINIMUM_NECESSARY,
                Obligation.NOTE_IN_RECORD,
            ),
            status=RuleStatus.VERIFIED,
        ),
        Route(
            id="A-7",
            article="LSSSS art. 19 para. 1",
            title_en="order of a court or a coroner",
            title_fr="ordonnance d'un tribunal ou d'un coroner",
            source=Source.CONTEXT,
            when=("court_order_cited",),
            requires=("purpose_in_route",),
            purposes=frozenset({Purpose.LEGAL_ORDER}),
            categories=GENERAL,
            obligations=(Obligation.ORDER_SCOPE_ONLY,),
            status=RuleStatus.VERIFIED,
        ),
        Route(
            id="A-8",
            article="LSSSS art. 19 para. 2",
            title_en="complaints commissioner, medical examiner, review committee or CMDP",
            title_fr="commissaire aux plaintes, médecin examinateur, comité de révision ou CMDP",
            source=Source.CONTEXT,
            when=("complaint_body_cited",),
            requires=("purpose_in_route",),
            purposes=frozenset({Purpose.COMPLAINT_QUALITY}),
            categories=GENERAL,
            obligations=(),
            status=RuleStatus.VERIFIED,
        ),
        Route(
            id="A-9",
            article="LSSSS art. 19.1",
            title_en="research with written consent for specific purposes and a limited time",
            title_fr="recherche avec consentement écrit, à des fins précises et pour une durée limitée",
            source=Source.CONSENT,
            when=("purpose_in_route",),
            requires=(*CONSENT_CHECKS, "consent_written", "consent_has_end"),
            purposes=frozenset({Purpose.RESEARCH}),
            categories=Scope.FROM_CONSENT,
            obligations=(),
            status=RuleStatus.VERIFIED,
            releases_sensitive=True,
        ),
        Route(
            id="A-10",
            article="LSSSS art. 19.2",
            title_en="research authorised by the director of professional services",
            title_fr="recherche autorisée par le directeur des services professionnels",
            source=Source.CONTEXT,
            when=("research_authorisation_cited",),
            requires=("purpose_in_route", "research_authorisation_in_force"),
            purposes=frozenset({Purpose.RESEARCH}),
            categories=GENERAL,
            obligations=(
                Obligation.MINIMUM_NECESSARY,
                Obligation.CONFIDENTIALITY_UNDERTAKINGS,
                Obligation.NO_REDISCLOSURE,
            ),
            status=RuleStatus.VERIFIED,
        ),
    ),
)

FIRST_LRSSS = RuleTable(
    regime=Regime.LRSSS,
    label="2026-11-25",
    bars=(
        Bar("ANON", "LRSSS s. 5", "anonymous", ReasonCode.ANONYMOUS),
        Bar("B-3/B-4", "LRSSS ss. 7-8", "restricted", ReasonCode.SUBJECT_RESTRICTION),
    ),
    grantors=GRANTORS,
    always_obligations=(Obligation.REGISTER_ENTRY,),  # B-7 (s. 265): every communication is registered
    routes=(
        Route(
            id="B-1",
            article="LRSSS ss. 5-6",
            title_en="express consent, purpose by purpose",
            title_fr="consentement manifeste, fin par fin",
            source=Source.CONSENT,
            when=(),
            requires=CONSENT_CHECKS,
            purposes=ALL_PURPOSES,
            categories=Scope.FROM_CONSENT,
            obligations=(),
            status=RuleStatus.VERIFIED,
            releases_sensitive=True,
            no_candidate_reason=ReasonCode.NO_CONSENT,
        ),
        Route(
            id="B-2",
            article="LRSSS (care flow; sections to verify)",
            title_en="providers receiving what is necessary to provide services to the person",
            title_fr="intervenants recevant ce qui est nécessaire pour offrir des services à la personne",
            source=Source.CONTEXT,
            when=("purpose_in_route",),
            requires=("recipient_kind_known", "recipient_kind_in_route"),
            purposes=frozenset({Purpose.REFERRAL, Purpose.SERVICE_ON_BEHALF, Purpose.JOINT_FOLLOW_UP}),
            categories=GENERAL,
            obligations=(Obligation.MINIMUM_NECESSARY,),
            status=RuleStatus.NEEDS_LEGAL_REVIEW,
            recipient_kinds=ESTABLISHMENTS_AND_PROFESSIONALS,
        ),
        Route(
            id="B-5",
            article="LRSSS s. 74",
            title_en="serious risk of death or serious injury, with a sense of urgency",
            title_fr="risque sérieux de mort ou de blessures graves, avec un sentiment d'urgence",
            source=Source.CONTEXT,
            when=("danger_declared",),
            requires=("purpose_in_route",),
            purposes=frozenset({Purpose.EMERGENCY, Purpose.REFERRAL}),
            categories=DANGER_CATEGORIES,
            obligations=(Obligation.MINIMUM_NECESSARY, Obligation.NOTE_IN_RECORD),
            status=RuleStatus.VERIFIED,
        ),
        Route(
            id="B-6",
            article="LRSSS s. 77",
            title_en="mandate or contract other than for care, written with the mandatory clauses",
            title_fr="mandat ou contrat autre que de soins, écrit et comportant les clauses obligatoires",
            source=Source.CONTEXT,
            when=("mandate_contract_cited",),
            requires=("purpose_in_route", "undertakings_received"),
            purposes=frozenset({Purpose.MANDATE_CONTRACT}),
            categories=GENERAL,
            obligations=(Obligation.MINIMUM_NECESSARY, Obligation.CONFIDENTIALITY_UNDERTAKINGS),
            status=RuleStatus.VERIFIED,
        ),
        Route(
            id="B-8",
            article="LRSSS (court or coroner order; section to verify)",
            title_en="order of a court or a coroner",
            title_fr="ordonnance d'un tribunal ou d'un coroner",
            source=Source.CONTEXT,
            when=("court_order_cited",),
            requires=("purpose_in_route",),
            purposes=frozenset({Purpose.LEGAL_ORDER}),
            categories=GENERAL,
            obligations=(Obligation.ORDER_SCOPE_ONLY,),
            status=RuleStatus.NEEDS_LEGAL_REVIEW,
        ),
        Route(
            id="B-9",
            article="LRSSS (complaints and quality bodies; section to verify)",
            title_en="complaints and quality bodies",
            title_fr="instances de plaintes et de qualité",
            source=Source.CONTEXT,
            when=("complaint_body_cited",),
            requires=("purpose_in_route",),
            purposes=frozenset({Purpose.COMPLAINT_QUALITY}),
            categories=GENERAL,
            obligations=(),
            status=RuleStatus.NEEDS_LEGAL_REVIEW,
        ),
    ),
)
