"""Kafka topics of the public contract."""

from __future__ import annotations

from services.contract.codes import is_org_id

REFERRAL = "rls.referral.v1"
AGREEMENTS = "rls.agreements.v1"
CONSENT_DECISIONS = "rls.consent.decisions.v1"
CONSENT = "rls.consent.v1"
"""Internal to the consent service."""
AUDIT_CHECKPOINTS = "rls.audit.checkpoints.v1"
"""Chain heads of every service's event store (tamper evidence); kept forever."""

INFOSOCIAL_CALLS = "rls.infosocial.calls.v1"
"""Info-Social 8-1-1 calls (ids and times only), keyed by region: one partition holds a region's calls."""
STANDARDS_BOARD = "rls.standards.board.v1"
"""The standards board, one record per row (compacted: the latest value of each row is kept)."""

PLATFORM_TOPICS: tuple[str, ...] = (
    REFERRAL,
    AGREEMENTS,
    CONSENT_DECISIONS,
    CONSENT,
    AUDIT_CHECKPOINTS,
    INFOSOCIAL_CALLS,
)
"""Created with the same partition count, which the standards board's tables expect of the topics it reads."""


ORG_TOPICS = "rls.org."
"""What every establishment's topics and consumer groups start with, and no platform topic or group does."""
ORG_NAMESPACE = ORG_TOPICS + "{org_id}."
"""One organisation's topics and consumer groups start with this, `{org_id}` standing for its id: its Kafka user reads
exactly this prefix. The trailing dot and ids without dots keep organisation `ab` out of `abc`'s namespace."""


def org_namespace(org_id: str) -> str:
    """The prefix of one organisation's topics and consumer groups."""
    if not is_org_id(org_id):
        raise ValueError("organisation id is not topic-safe")
    return ORG_NAMESPACE.format(org_id=org_id)


ORG_REFERRALS = "referrals.v1"
"""The topic, in an organisation's namespace, on which it receives the referral events that concern it."""


def org_referrals(org_id: str) -> str:
    """The topic on which one organisation receives the referral events that concern it."""
    return org_namespace(org_id) + ORG_REFERRALS
