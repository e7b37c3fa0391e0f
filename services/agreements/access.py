"""Who may call what in the agreements service (one tested policy; see services/common/access.py).

The directory and the agreements' terms are known to every member of the network; the use of an agreement's volumes
(how many referrals between its parties were accepted, and when) only to its parties (their auditors included) and
network auditors. Coordinators of a party draft and change an agreement (the application checks the party); `admin`
administers the directory and may act on any agreement for the platform, never signing for another organisation.
"""

from __future__ import annotations

from services.agreements.domain import Agreement
from services.common.access import ALL_ROLES, NETWORK_WIDE, Parties, Policy, Rule

MANAGERS = frozenset({"coordinator", "admin"})
CHANGE = Rule(MANAGERS, ("party",), "a party's coordinator (a platform admin: any)", NETWORK_WIDE | {"admin"})
READ = Rule(ALL_ROLES, (), "known to the whole network")

POLICY = Policy(
    "agreements",
    {
        "register_organisation": Rule(frozenset({"admin"}), (), "directory administration"),
        "find_organisations": READ,
        "get_organisation": READ,
        "set_service_hours": Rule(
            MANAGERS, ("org",), "the organisation's own coordinators (a platform admin: any)", NETWORK_WIDE | {"admin"}
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
