"""Plain-language explanations of decisions, in French or English, that a worker can read to the person.

Built from the decision's codes only (never from record contents), so the same decision always reads the same.
"""

from __future__ import annotations

import re
from typing import Literal

from services.consent.policy import Decision, Reason, ReasonCode, RuleStatus
from services.consent.rules import TABLES
from services.contract.codes import InfoCategory, Obligation, Outcome

Lang = Literal["fr", "en"]
_BY_TAG: dict[str, Lang] = {"fr": "fr", "en": "en"}

CATEGORIES: dict[Lang, dict[InfoCategory, str]] = {
    "en": {
        InfoCategory.IDENTIFICATION: "identification",
        InfoCategory.CONTACT: "contact details",
        InfoCategory.REFERRAL_REASON: "reason for referral",
        InfoCategory.ASSESSMENT: "assessment",
        InfoCategory.INTERVENTION_PLAN: "intervention plan",
        InfoCategory.RISK_ASSESSMENT: "risk assessment",
        InfoCategory.HEALTH: "health information",
        InfoCategory.PSYCHOSOCIAL_HISTORY: "psychosocial history",
        InfoCategory.YOUTH_PROTECTION: "youth protection information",
        InfoCategory.THIRD_PARTY_SUPPLIED: "information supplied by a third party",
        InfoCategory.CAUSE_OF_DEATH: "cause of death",
    },
    "fr": {
        InfoCategory.IDENTIFICATION: "identification",
        InfoCategory.CONTACT: "coordonnées",
        InfoCategory.REFERRAL_REASON: "motif de la référence",
        InfoCategory.ASSESSMENT: "évaluation",
        InfoCategory.INTERVENTION_PLAN: "plan d'intervention",
        InfoCategory.RISK_ASSESSMENT: "évaluation du risque",
        InfoCategory.HEALTH: "renseignements de santé",
        InfoCategory.PSYCHOSOCIAL_HISTORY: "histoire psychosociale",
        InfoCategory.YOUTH_PROTECTION: "renseignements de protection de la jeunesse",
        InfoCategory.THIRD_PARTY_SUPPLIED: "renseignements fournis par un tiers",
        InfoCategory.CAUSE_OF_DEATH: "cause du décès",
    },
}

OBLIGATIONS: dict[Lang, dict[Obligation, str]] = {
    "en": {
        Obligation.REGISTER_ENTRY: "enter the disclosure in the register",
        Obligation.NOTE_IN_RECORD: "note the disclosure in the person's record",
        Obligation.MINIMUM_NECESSARY: "send only what is necessary",
        Obligation.CONFIDENTIALITY_UNDERTAKINGS: "obtain signed confidentiality undertakings before sending",
        Obligation.AUTHORISED_DISCLOSER_ONLY: (
            "only a person authorised by the director of professional services may disclose"
        ),
        Obligation.ORDER_SCOPE_ONLY: "stay within the scope of the order",
        Obligation.NO_REDISCLOSURE: "the recipient may not disclose it further",
    },
    "fr": {
        Obligation.REGISTER_ENTRY: "inscrire la communication au registre",
        Obligation.NOTE_IN_RECORD: "consigner la communication au dossier de la personne",
        Obligation.MINIMUM_NECESSARY: "ne communiquer que le nécessaire",
        Obligation.CONFIDENTIALITY_UNDERTAKINGS: "obtenir les engagements de confidentialité signés avant l'envoi",
        Obligation.AUTHORISED_DISCLOSER_ONLY: (
            "seule une personne autorisée par le directeur des services professionnels peut communiquer"
        ),
        Obligation.ORDER_SCOPE_ONLY: "s'en tenir à la portée de l'ordonnance",
        Obligation.NO_REDISCLOSURE: "le destinataire ne peut pas les communiquer à son tour",
    },
}

REASONS: dict[Lang, dict[ReasonCode, str]] = {
    "en": {
        ReasonCode.ANONYMOUS: "the person is anonymous: no one can consent for them, so nothing may leave",
        ReasonCode.NO_CONSENT: "neither party holds a consent of this person naming the recipient",
        ReasonCode.NO_ROUTE: "no legal route allows this disclosure",
        ReasonCode.CONSENT_NOT_YET_VALID: "the consent is not yet in effect (from {detail})",
        ReasonCode.CONSENT_EXPIRED: "the consent expired ({detail})",
        ReasonCode.CONSENT_WITHDRAWN: "the consent was withdrawn ({detail})",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE: (
            "the person who gave the consent may not consent at the person's age ({detail})"
        ),
        ReasonCode.GRANTOR_OUTSIDE_ROLE: "the consent goes beyond what its grantor may consent to ({detail})",
        ReasonCode.RECIPIENT_NOT_COVERED: "the consent does not name this recipient",
        ReasonCode.PURPOSE_NOT_COVERED: "the consent does not cover this purpose ({detail})",
        ReasonCode.CATEGORY_NOT_COVERED: "not covered: {categories}",
        ReasonCode.SENSITIVE_CATEGORY_NOT_NAMED: "{categories}: only a consent naming them explicitly allows this",
        ReasonCode.CONSENT_NOT_WRITTEN: "research needs a written consent ({detail})",
        ReasonCode.CONSENT_WITHOUT_END: "the consent has no end: this route needs one limited in time",
        ReasonCode.CONSENT_TOO_LONG: (
            "the consent runs longer than the time this route allows: it should end by {detail} at the latest"
        ),
        ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE: "this route does not allow the purpose {detail}",
        ReasonCode.RECIPIENT_KIND_UNKNOWN: "the recipient is not in the directory",
        ReasonCode.RECIPIENT_KIND_NOT_ELIGIBLE: "this route does not allow this kind of recipient ({detail})",
        ReasonCode.COLLABORATION_AGREEMENT_ONLY: (
            "only a collaboration agreement links the organisations: it never allows a disclosure without consent"
        ),
        ReasonCode.AGREEMENT_NOT_IN_FORCE: "the service agreement was not in force at that time ({detail})",
        ReasonCode.UNDERTAKINGS_NOT_RECEIVED: "the confidentiality undertakings were not received before sending",
        ReasonCode.RESEARCH_AUTHORISATION_NOT_IN_FORCE: "the research authorisation is not in force (until {detail})",
        ReasonCode.SUBJECT_RESTRICTION: "the person restricted access to {categories}",
        ReasonCode.DISCLOSER_KIND_UNKNOWN: "the discloser is not in the directory",
        ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE: (
            "only an institution may disclose on this basis, not this kind of organisation ({detail})"
        ),
        ReasonCode.AGREEMENT_NOT_ON_BEHALF: (
            "the service agreement does not say the recipient provides services on the discloser's behalf ({detail})"
        ),
        ReasonCode.SERVICE_NOT_ON_BEHALF: (
            "the service agreement does not name this service as provided on the discloser's behalf ({detail})"
        ),
        ReasonCode.DANGER_CONDITION_NOT_MET: "conditions of the danger route not stated or not met: {detail}",
        ReasonCode.MANDATE_CONDITION_NOT_MET: "conditions of the mandate not met: {detail}",
        ReasonCode.ANONYMOUS_NO_CONSENT: (
            "the person is anonymous: no one can consent for them, so {categories} may leave only on a route "
            "that needs no consent"
        ),
        ReasonCode.SUBJECT_DECEASED: (
            "the person died ({detail}): what served them in life (their consent, their request, a representative, "
            "services provided on an institution's behalf) no longer releases anything"
        ),
        ReasonCode.SUBJECT_NOT_DECEASED: "this route is for a deceased person's record",
        ReasonCode.WRITTEN_REFUSAL_ON_FILE: "the person refused this in writing while alive ({detail})",
        ReasonCode.NOT_UNDER_14_AT_DEATH: "the child was not under 14 at death ({detail})",
        ReasonCode.SUBJECT_AGE_UNKNOWN: "the person's age is not known (give the birth date)",
        ReasonCode.SUBJECT_NOT_MINOR: "the person is not a minor",
        ReasonCode.SUBJECT_NOT_UNDER_14: (
            "the minor is 14 or older ({detail}): from 14 the minor decides, and a parent receives their record only"
            " with the minor's own consent"
        ),
        ReasonCode.MINOR_CONDITION_NOT_STATED: "state what the institution found about the minor: {detail}",
        ReasonCode.MINOR_ACCESS_REFUSED: "access refused to protect the minor's health ({detail})",
        ReasonCode.CONSENT_GIVEN_UNDER_PREVIOUS_REGIME: (
            "the consent was given before this regime came into force ({detail}): ask for a new one"
        ),
        ReasonCode.GRANTOR_MANDATE_NOT_STATED: (
            "the consent was given by a representative ({detail}) without stating the purposes their mandate covers:"
            " it allows nothing"
        ),
        ReasonCode.REPRESENTATION_NOT_STATED: (
            "a representative receives only what exercising their power requires: state the mandate and the"
            " categories it requires ({detail})"
        ),
    },
    "fr": {
        ReasonCode.ANONYMOUS: (
            "la personne est anonyme : personne ne peut consentir pour elle, rien ne peut être communiqué"
        ),
        ReasonCode.NO_CONSENT: (
            "ni l'organisation qui communique ni le destinataire ne détient un consentement de cette personne visant"
            " ce destinataire"
        ),
        ReasonCode.NO_ROUTE: "aucune disposition ne permet cette communication",
        ReasonCode.CONSENT_NOT_YET_VALID: "le consentement n'est pas encore en vigueur (à partir du {detail})",
        ReasonCode.CONSENT_EXPIRED: "le consentement est expiré ({detail})",
        ReasonCode.CONSENT_WITHDRAWN: "le consentement a été retiré ({detail})",
        ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE: (
            "la personne qui a consenti ne peut pas consentir à l'âge de l'usager ({detail})"
        ),
        ReasonCode.GRANTOR_OUTSIDE_ROLE: "le consentement dépasse ce que son auteur peut autoriser ({detail})",
        ReasonCode.RECIPIENT_NOT_COVERED: "le consentement ne vise pas ce destinataire",
        ReasonCode.PURPOSE_NOT_COVERED: "le consentement ne vise pas cette fin ({detail})",
        ReasonCode.CATEGORY_NOT_COVERED: "non visé : {categories}",
        ReasonCode.SENSITIVE_CATEGORY_NOT_NAMED: (
            "{categories} : seul un consentement qui les nomme expressément le permet"
        ),
        ReasonCode.CONSENT_NOT_WRITTEN: "la recherche exige un consentement écrit ({detail})",
        ReasonCode.CONSENT_WITHOUT_END: (
            "le consentement n'a pas de fin : cette disposition exige un consentement limité dans le temps"
        ),
        ReasonCode.CONSENT_TOO_LONG: (
            "le consentement dure plus longtemps que cette disposition ne le permet : il devait prendre fin au plus "
            "tard le {detail}"
        ),
        ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE: "cette disposition ne permet pas la fin {detail}",
        ReasonCode.RECIPIENT_KIND_UNKNOWN: "le destinataire n'est pas au répertoire",
        ReasonCode.RECIPIENT_KIND_NOT_ELIGIBLE: "cette disposition ne vise pas ce type de destinataire ({detail})",
        ReasonCode.COLLABORATION_AGREEMENT_ONLY: (
            "seule une entente de collaboration lie les organisations : elle ne "
            "permet jamais de communiquer sans consentement"
        ),
        ReasonCode.AGREEMENT_NOT_IN_FORCE: "l'entente de service n'était pas en vigueur à ce moment ({detail})",
        ReasonCode.UNDERTAKINGS_NOT_RECEIVED: "les engagements de confidentialité n'ont pas été reçus avant l'envoi",
        ReasonCode.RESEARCH_AUTHORISATION_NOT_IN_FORCE: (
            "l'autorisation de recherche n'est pas en vigueur (jusqu'au {detail})"
        ),
        ReasonCode.SUBJECT_RESTRICTION: "la personne a restreint l'accès : {categories}",
        ReasonCode.DISCLOSER_KIND_UNKNOWN: "l'organisation qui communique n'est pas au répertoire",
        ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE: (
            "seul un établissement peut communiquer en vertu de cette disposition, pas ce type d'organisation "
            "({detail})"
        ),
        ReasonCode.AGREEMENT_NOT_ON_BEHALF: (
            "l'entente de service ne prévoit pas que le destinataire rend des services pour le compte de "
            "l'organisation qui communique ({detail})"
        ),
        ReasonCode.SERVICE_NOT_ON_BEHALF: (
            "l'entente de service ne nomme pas ce service parmi ceux rendus pour son compte ({detail})"
        ),
        ReasonCode.DANGER_CONDITION_NOT_MET: (
            "conditions de la communication en cas de danger non déclarées ou non remplies : {detail}"
        ),
        ReasonCode.MANDATE_CONDITION_NOT_MET: "conditions du mandat non remplies : {detail}",
        ReasonCode.ANONYMOUS_NO_CONSENT: (
            "la personne est anonyme : personne ne peut consentir pour elle, {categories} ne peuvent être "
            "communiqués qu'en vertu d'une disposition qui n'exige pas de consentement"
        ),
        ReasonCode.SUBJECT_DECEASED: (
            "la personne est décédée ({detail}) : ce qui la servait de son vivant (son consentement, sa demande, "
            "un représentant, les services rendus pour le compte d'un établissement) ne permet plus rien"
        ),
        ReasonCode.SUBJECT_NOT_DECEASED: "cette disposition vise le dossier d'une personne décédée",
        ReasonCode.WRITTEN_REFUSAL_ON_FILE: "la personne l'a refusé par écrit de son vivant ({detail})",
        ReasonCode.NOT_UNDER_14_AT_DEATH: "l'enfant n'avait pas moins de 14 ans à son décès ({detail})",
        ReasonCode.SUBJECT_AGE_UNKNOWN: "l'âge de la personne n'est pas connu (donner la date de naissance)",
        ReasonCode.SUBJECT_NOT_MINOR: "la personne n'est pas mineure",
        ReasonCode.SUBJECT_NOT_UNDER_14: (
            "le mineur a 14 ans ou plus ({detail}) : dès 14 ans, le mineur décide, et un parent ne reçoit son dossier"
            " qu'avec le consentement du mineur"
        ),
        ReasonCode.MINOR_CONDITION_NOT_STATED: "indiquer ce que l'établissement a constaté pour le mineur : {detail}",
        ReasonCode.MINOR_ACCESS_REFUSED: "accès refusé pour protéger la santé du mineur ({detail})",
        ReasonCode.CONSENT_GIVEN_UNDER_PREVIOUS_REGIME: (
            "le consentement a été donné avant l'entrée en vigueur de ce régime ({detail}) : en obtenir un nouveau"
        ),
        ReasonCode.GRANTOR_MANDATE_NOT_STATED: (
            "le consentement a été donné par un représentant ({detail}) sans préciser les fins que couvre son"
            " mandat : il ne permet rien"
        ),
        ReasonCode.REPRESENTATION_NOT_STATED: (
            "un représentant ne reçoit que ce qu'exige l'exercice de son pouvoir : indiquer le mandat et les"
            " catégories qu'il exige ({detail})"
        ),
    },
}

PHRASES: dict[Lang, dict[str, str]] = {
    "en": {
        Outcome.PERMIT: "Disclosure permitted.",
        Outcome.PERMIT_PARTIAL: "Disclosure partly permitted.",
        Outcome.DENY: "Disclosure refused: nothing may be sent.",
        "basis": "May be sent: {categories}, under {article} ({title}){ref}.",
        "consent": ", consent {id}",
        "agreement": ", agreement {id}",
        "review": " This route still needs legal review.",
        "superseded": "Note: {regime} had been repealed on that date; applied here as the policy of record.",
        "denied": "May not be sent: {categories}.",
        "why": "Why: {reasons}.",
        "route": "{article}: {text}",
        "obligations": "Obligations: {items}.",
    },
    "fr": {
        Outcome.PERMIT: "Communication permise.",
        Outcome.PERMIT_PARTIAL: "Communication permise en partie.",
        Outcome.DENY: "Communication refusée : rien ne peut être transmis.",
        "basis": "Peut être transmis : {categories}, en vertu de {article} ({title}){ref}.",
        "consent": ", consentement {id}",
        "agreement": ", entente {id}",
        "review": " Cette disposition doit encore être validée par un juriste.",
        "superseded": "Note : {regime} était abrogé à cette date; appliqué ici comme politique retenue.",
        "denied": "Ne peut pas être transmis : {categories}.",
        "why": "Motifs : {reasons}.",
        "route": "{article} : {text}",
        "obligations": "Obligations : {items}.",
    },
}


def _categories(lang: Lang, categories: tuple[InfoCategory, ...]) -> str:
    return ", ".join(CATEGORIES[lang][c] for c in categories)


def _reason(lang: Lang, decision: Decision, reason: Reason) -> str:
    text = REASONS[lang][reason.code].format(
        detail=reason.detail or "", categories=_categories(lang, reason.categories or decision.denied_categories)
    )
    if not reason.detail:  # a detail its reader may not see (another organisation's consent, the person's age)
        text = re.sub(r" \((?:[^()]*\s)?\)", "", text).removesuffix(" : ").removesuffix(": ")  # "(from )", "()"
    table = TABLES.get((decision.regime, decision.regime_version))
    if reason.route and table is not None and any(r.id == reason.route for r in table.routes):
        text = PHRASES[lang]["route"].format(article=table.route(reason.route).article, text=text)
    return text


def explain(decision: Decision, lang: Lang = "fr") -> str:
    """A few sentences: outcome, what may be sent and under which article, what may not and why, obligations."""
    phrases = PHRASES[lang]
    table = TABLES.get((decision.regime, decision.regime_version))
    parts = [phrases[decision.outcome]]
    for basis in decision.basis:
        title = ""
        if table is not None:
            route = table.route(basis.route)
            title = route.title_fr if lang == "fr" else route.title_en
        ref = ""
        if basis.consent_id:
            ref = phrases["consent"].format(id=basis.consent_id)
        elif basis.agreement_id:
            ref = phrases["agreement"].format(id=basis.agreement_id)
        sentence = phrases["basis"].format(
            categories=_categories(lang, basis.categories), article=basis.article, title=title, ref=ref
        )
        if basis.status == RuleStatus.NEEDS_LEGAL_REVIEW:
            sentence += phrases["review"]
        parts.append(sentence)
    if decision.denied_categories and decision.permitted_categories:
        parts.append(phrases["denied"].format(categories=_categories(lang, decision.denied_categories)))
    if decision.reasons:
        unique = list(dict.fromkeys(_reason(lang, decision, r) for r in decision.reasons))
        parts.append(phrases["why"].format(reasons="; ".join(unique)))
    if decision.obligations:
        parts.append(phrases["obligations"].format(items="; ".join(OBLIGATIONS[lang][o] for o in decision.obligations)))
    if decision.regime_superseded:
        parts.append(phrases["superseded"].format(regime=decision.regime.value))
    return " ".join(parts)


def language(accept_language: str | None, requested: str | None, default: Lang) -> Lang:
    """`lang` field first, then the best of fr/en in Accept-Language, then the deployment's default."""
    if requested is not None and requested in _BY_TAG:
        return _BY_TAG[requested]
    best: tuple[float, Lang] | None = None
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = _BY_TAG.get(tag.strip().lower().split("-")[0])
        if primary is None:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, primary)
    return best[1] if best else default
