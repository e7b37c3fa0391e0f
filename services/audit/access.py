"""Who may ask the audit service what (one tested policy; see services/common/access.py).

An organisation's auditor reads that organisation's history: the referrals it sent or received (one it received and
redirected away, only up to that redirection: what came after happened at other organisations, and the referral service
no longer shows it to the organisation; `states.referral_cut`), the agreements it is party to, the consents it recorded,
the decisions that concern it, and its own auditors' inquiries. A network auditor (ministry, ombudsman: role
`network-auditor`) reads the whole network, and is the only one to read what only exists network-wide: the compliance
report, the stores' integrity (findings name the aggregates of every organisation, a referral's id among them, and count
each store's events) and the last replay's counts; so only a network auditor acknowledges a retired store id, which
turns integrity findings into notes. Every query, refused or not, is in the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.audit.states import Kind
from services.common.access import AUDITORS, Parties, Policy, Rule
from services.common.auth import NETWORK_AUDITOR
from services.contract.consent_events import DECISION_PARTIES
from services.contract.consent_events import decision_parties as contract_parties

NETWORK = frozenset({NETWORK_AUDITOR})

POLICY = Policy(
    "audit",
    {
        "referral_state": Rule(
            AUDITORS,
            ("member",),
            "a referral, to the auditors of its sender and receivers (a former one: up to its redirection)",
        ),
        "agreement_state": Rule(AUDITORS, ("member",), "an agreement, to the auditors of its parties"),
        "consent_state": Rule(AUDITORS, ("member",), "a consent, to the auditors of the organisation holding it"),
        "integrity": Rule(NETWORK, (), "seals and checkpoints of every store (aggregate ids, network-wide counts)"),
        "acknowledge_store": Rule(NETWORK, (), "a retired store id acknowledged: integrity findings become notes"),
        "store_acknowledgements": Rule(NETWORK, (), "the acknowledged retired store ids, with their reasons"),
        "decisions_recheck": Rule(
            AUDITORS, DECISION_PARTIES, "the decisions that concern the auditor's organisation (as the consent service)"
        ),
        "compliance_report": Rule(NETWORK, (), "the network-wide report"),
        "replay_status": Rule(NETWORK, (), "when the audit database was last rebuilt (network-wide counts)"),
        "inquiries": Rule(AUDITORS, ("member",), "the trail of the auditor's own organisation"),
    },
)


def state_parties(kind: Kind, state: Mapping[str, Any]) -> Parties:
    """The organisations a referral (sender, every receiver), an agreement (parties) or a consent (its holder)
    concerns, from its state."""
    if kind == "referral":
        orgs = [state.get("from_org"), state.get("to_org"), *(step.get("to_org") for step in state.get("history", []))]
    elif kind == "agreement":
        orgs = list(state.get("parties", []))
    else:
        orgs = [state.get("recorded_by_org")]
    return {"member": [org for org in orgs if isinstance(org, str)]}


def decision_parties(payload: Mapping[str, Any]) -> Parties:
    """The organisations a decision event concerns: discloser, recipient, requester (the contract's parties of a
    decision, which the consent service admits to its re-evaluation too)."""
    decision_input = payload.get("input", {})
    orgs = (
        decision_input.get("discloser_org_id"),
        decision_input.get("recipient_org_id"),
        payload.get("requested_by_org"),
    )
    return contract_parties(*(org if isinstance(org, str) else None for org in orgs))
