"""Who may call what in the agreements service (one tested policy; see services/common/access.py).

The directory and the agreements' terms are known to every member of the network; the use of an agreement's volumes
(how many referrals between its parties were accepted, and when) only to its parties (their auditors included) and
network auditors. A party's coordinators and admins draft and change an agreement (the application checks the party);
an organisation's, its own hours. The platform's administrator (`admin` of `PLATFORM_ORG`) alone registers
organisations, and may act on any agreement and any organisation's hours, never signing for another organisation. An
establishment's `admin` registers nothing, not even itself: an organisation's kind decides which legal routes the
consent service applies to its disclosures (institution or community organisation).
"""

from __future__ import annotations

from services.agreements.domain import Agreement
from services.common.access import ALL_ROLES, NETWORK_WIDE, Parties, Policy, Rule
from services.common.auth import ADMIN

MANAGERS = frozenset({"coordinator", ADMIN})
PLATFORM = NETWORK_WIDE | {ADMIN}
"""Who acts beyond its organisation here: the platform's own services and administrator (`Rule.unscoped`)."""
CHANGE = Rule(MANAGERS, ("party",), "a party's coordinators and admins (the platform's admin: any)", PLATFORM)
READ = Rule(ALL_ROLES, (), "known to the whole network")

POLICY = Policy(
    "agreements",
    {
        "register_organisation": Rule(
            frozenset({ADMIN}),
            (),
            "directory administration: the platform's admin only (an organisation's kind decides its consent routes)",
            frozenset({ADMIN}),
            network_only=frozenset({ADMIN}),
        ),
        "find_organisations": READ,
        "get_organisation": READ,
        "set_service_hours": Rule(
            MANAGERS, ("org",), "the organisation's own coordinators and admins (the platform's admin: any)", PLATFORM
        ),
        "service_hours": READ,
        "hours_conformance": READ,
        "draft_agreement": CHANGE,
        "list_agreements": READ,
        "get_agreement": READ,
        "agreement_history": READ,
        "agreement_volumes": Rule(
            ALL_ROLES, ("party",), "referrals counted against volumes: to the agreement's parties (network: any)"
        ),
        "coverage": READ,
        **{
            operation: CHANGE
            for operation in (
                "sign_agreement",
                "decline_proposal",
                "amend_agreement",
                "suspend_agreement",
                "resume_agreement",
                "terminate_agreement",
                "renew_agreement",
                "review_agreement",
            )
        },
    },
)


def parties(agreement: Agreement) -> Parties:
    """The parties of the latest terms (not an organisation an earlier draft named)."""
    return {"party": agreement.parties()}
