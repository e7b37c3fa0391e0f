"""Codes of the public v1 contract (CONTRACT.md): partners depend on these exact names."""

from __future__ import annotations

import re
from enum import StrEnum

ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
"""Organisation ids become part of Kafka topic names (`rls.org.<org_id>.referrals.v1`)."""

_ORG_ID = re.compile(ORG_ID_PATTERN)


def is_org_id(value: str) -> bool:
    return bool(_ORG_ID.match(value))


class OrgKind(StrEnum):
    CSSS = "CSSS"
    ESTABLISHMENT = "ESTABLISHMENT"
    REGIONAL_ESTABLISHMENT = "REGIONAL_ESTABLISHMENT"
    COMMUNITY_ORGANISATION = "COMMUNITY_ORGANISATION"
    PROFESSIONAL = "PROFESSIONAL"
    OTHER_PARTNER = "OTHER_PARTNER"


class ServiceCode(StrEnum):
    AAOR = "AAOR"
    INFO_SOCIAL = "INFO_SOCIAL"
    CRISIS_24_7 = "CRISIS_24_7"
    SOCIAL_CONSULT = "SOCIAL_CONSULT"
    PSYCH_CONSULT = "PSYCH_CONSULT"
    CIVIL_SECURITY = "CIVIL_SECURITY"
    SPECIFIC_SERVICES = "SPECIFIC_SERVICES"
    SPECIALISED_SERVICES = "SPECIALISED_SERVICES"
    COMMUNITY_SERVICE = "COMMUNITY_SERVICE"


class Channel(StrEnum):
    IN_PERSON = "IN_PERSON"
    PHONE = "PHONE"
    ELECTRONIC = "ELECTRONIC"
    INFO_SOCIAL_811 = "INFO_SOCIAL_811"


class MeetingMode(StrEnum):
    """How a meeting with the person took place (the only thing said about a meeting: never its content)."""

    IN_PERSON = "IN_PERSON"
    PHONE = "PHONE"
    VIDEO = "VIDEO"
    GROUP = "GROUP"


class Weekday(StrEnum):
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


class Urgency(StrEnum):
    IMMEDIATE = "IMMEDIATE"
    URGENT = "URGENT"
    ROUTINE = "ROUTINE"


class Accompaniment(StrEnum):
    NONE = "NONE"
    PERSONALISED_REFERRAL = "PERSONALISED_REFERRAL"
    ACCOMPANIMENT = "ACCOMPANIMENT"


DEFAULT_REASON_CODES: tuple[str, ...] = (
    "FAMILY_CRISIS",
    "SUICIDE_RISK",
    "DOMESTIC_VIOLENCE",
    "SEXUAL_ASSAULT",
    "HOUSING",
    "ANXIETY",
    "GRIEF",
    "SUBSTANCE_USE",
    "DISASTER_IMPACT",
    "DEPRESSION",
    "ISOLATION",
    "PARENTING",
    "FINANCIAL_DISTRESS",
    "OTHER",
)
"""The default taxonomy of problems (`reason_code`); deployments extend it by configuration."""


class InfoCategory(StrEnum):
    IDENTIFICATION = "IDENTIFICATION"
    CONTACT = "CONTACT"
    REFERRAL_REASON = "REFERRAL_REASON"
    ASSESSMENT = "ASSESSMENT"
    INTERVENTION_PLAN = "INTERVENTION_PLAN"
    RISK_ASSESSMENT = "RISK_ASSESSMENT"
    HEALTH = "HEALTH"
    PSYCHOSOCIAL_HISTORY = "PSYCHOSOCIAL_HISTORY"
    YOUTH_PROTECTION = "YOUTH_PROTECTION"
    THIRD_PARTY_SUPPLIED = "THIRD_PARTY_SUPPLIED"
    CAUSE_OF_DEATH = "CAUSE_OF_DEATH"
    """What a deceased person's spouse, ascendants and descendants may learn (LSSSS art. 23)."""


class Purpose(StrEnum):
    REFERRAL = "REFERRAL"
    SERVICE_ON_BEHALF = "SERVICE_ON_BEHALF"
    JOINT_FOLLOW_UP = "JOINT_FOLLOW_UP"
    EMERGENCY = "EMERGENCY"
    LEGAL_ORDER = "LEGAL_ORDER"
    COMPLAINT_QUALITY = "COMPLAINT_QUALITY"
    RESEARCH = "RESEARCH"
    MANDATE_CONTRACT = "MANDATE_CONTRACT"
    USER_REQUESTED_TRANSFER = "USER_REQUESTED_TRANSFER"


class GrantorRole(StrEnum):
    SELF = "SELF"
    PARENT = "PARENT"
    TUTOR = "TUTOR"
    CURATOR = "CURATOR"
    MANDATARY = "MANDATARY"
    CARE_SUBSTITUTE = "CARE_SUBSTITUTE"


class ConsentMethod(StrEnum):
    WRITTEN = "WRITTEN"
    VERBAL_WITNESSED = "VERBAL_WITNESSED"
    ELECTRONIC = "ELECTRONIC"


class Outcome(StrEnum):
    PERMIT = "PERMIT"
    PERMIT_PARTIAL = "PERMIT_PARTIAL"
    DENY = "DENY"


class Obligation(StrEnum):
    REGISTER_ENTRY = "REGISTER_ENTRY"
    NOTE_IN_RECORD = "NOTE_IN_RECORD"
    MINIMUM_NECESSARY = "MINIMUM_NECESSARY"
    CONFIDENTIALITY_UNDERTAKINGS = "CONFIDENTIALITY_UNDERTAKINGS"
    AUTHORISED_DISCLOSER_ONLY = "AUTHORISED_DISCLOSER_ONLY"
    ORDER_SCOPE_ONLY = "ORDER_SCOPE_ONLY"
    NO_REDISCLOSURE = "NO_REDISCLOSURE"


class RequesterRole(StrEnum):
    """A person asking about a user's record in a role the law names (arts. 21, 22 and 23; LRSSS s. 8). The
    representatives of art. 22 carry the names of `GrantorRole`'s."""

    SPOUSE = "SPOUSE"
    ASCENDANT = "ASCENDANT"
    DESCENDANT = "DESCENDANT"
    HEIR = "HEIR"
    PARENT = "PARENT"
    BLOOD_RELATIVE = "BLOOD_RELATIVE"
    TUTOR = "TUTOR"
    CURATOR = "CURATOR"
    MANDATARY = "MANDATARY"
    """Of a protection mandate."""
    CARE_SUBSTITUTE = "CARE_SUBSTITUTE"
    """The person who may consent to care on the user's behalf."""


class DangerAct(StrEnum):
    """The act of violence to prevent (art. 19.0.1; LRSSS s. 74)."""

    VIOLENCE = "VIOLENCE"
    SUICIDE = "SUICIDE"


class DangerRisk(StrEnum):
    DEATH = "DEATH"
    SERIOUS_INJURY = "SERIOUS_INJURY"


class AtRisk(StrEnum):
    USER = "USER"
    OTHER_PERSON = "OTHER_PERSON"
    IDENTIFIABLE_GROUP = "IDENTIFIABLE_GROUP"


class DangerRecipientRole(StrEnum):
    """Who may receive information to prevent an act of violence: nobody else."""

    EXPOSED_PERSON = "EXPOSED_PERSON"
    REPRESENTATIVE = "REPRESENTATIVE"
    HELPER = "HELPER"


class Regime(StrEnum):
    LSSSS_17_27_3 = "LSSSS_17_27_3"
    LRSSS = "LRSSS"


class AgreementKind(StrEnum):
    SERVICE_108 = "SERVICE_108"
    COLLABORATION = "COLLABORATION"


class AgreementStatus(StrEnum):
    DRAFT = "DRAFT"
    SIGNED = "SIGNED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    EXPIRED = "EXPIRED"


class ReferralStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    RECEIVED = "RECEIVED"
    ANALYSED = "ANALYSED"
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"
    REDIRECTED = "REDIRECTED"
    FIRST_CONTACT_MADE = "FIRST_CONTACT_MADE"
    FOLLOW_UP_STARTED = "FOLLOW_UP_STARTED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"
