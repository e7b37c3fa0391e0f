"""Who may call what in the referral service, about which referral (one tested policy; see services/common/access.py).

Parties of a referral: `sender` (from_org) and `receiver` (to_org). Workers act for their organisation; the
domain then says which of the two may take each step. Auditors read the referrals of their own organisation,
network auditors every referral; nobody but the receiver reads record information, and only while the referral is
live (not refused, cancelled or closed: the application's rule, `Referrals.release_information`).
"""

from __future__ import annotations

from services.common.access import AUDITORS, WORKERS, Parties, Policy, Rule
from services.referral.domain import Referral

READERS = WORKERS | AUDITORS
STEP = Rule(WORKERS, ("sender", "receiver"), "a step of the lifecycle, by the party the step belongs to")

POLICY = Policy(
    "referral",
    {
        "submit_referral": Rule(WORKERS, ("sender",), "refer from the caller's own organisation"),
        "list_referrals": Rule(READERS, ("sender", "receiver"), "the referrals the caller's organisation sent or got"),
        "get_referral": Rule(READERS, ("sender", "receiver"), "one referral, to its parties and their auditors"),
        "clocks": Rule(READERS, ("sender", "receiver"), "its delay clocks, to the same"),
        "standards_compliance": Rule(READERS, ("org",), "an organisation's own compliance (network: any)"),
        "information": Rule(WORKERS, ("receiver",), "record information, to the receiving organisation only"),
        **{
            command: Rule(WORKERS, ("receiver",), "meetings and the intervention plan, by the receiving organisation")
            for command in ("record_meeting", "set_plan", "revise_plan")
        },
        **{
            command: STEP
            for command in (
                "receive",
                "callback",
                "analyse",
                "accept",
                "refuse",
                "redirect",
                "first-contact",
                "start-follow-up",
                "close",
                "cancel",
            )
        },
    },
)


def parties(referral: Referral) -> Parties:
    return {"sender": referral.from_org, "receiver": referral.to_org}
