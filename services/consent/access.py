"""Who may call what in the consent service, about whom (one tested policy; see services/common/access.py).

Parties: a consent or a restriction is held by the organisation that recorded it (`holder`); a decision concerns
its `discloser`, its `recipient` and the organisation that asked for it (`requester`). Only the discloser writes
in its disclosure register. A platform service (role `service`: the referral service releasing the record
information it keeps for the discloser) discloses only on the request of a worker of the recipient, whose own
token it passes on (`Requester-Token`); that worker is recorded as the requester.
"""

from __future__ import annotations

from typing import Protocol

from services.common.access import ALL_ROLES, AUDITORS, WORKERS, Parties, Policy, Rule
from services.common.auth import SERVICE
from services.consent.application import RecordedDecision
from services.contract.consent_events import DECISION_PARTIES
from services.contract.consent_events import decision_parties as contract_parties

READERS = WORKERS | AUDITORS

POLICY = Policy(
    "consent",
    {
        "record_consent": Rule(WORKERS, (), "a worker records a consent for its own organisation"),
        "withdraw_consent": Rule(WORKERS, ("holder",), "the organisation holding the consent withdraws it"),
        "list_consents": Rule(READERS, ("holder",), "consents (with birth dates) to their holder and its auditors"),
        "get_consent": Rule(READERS, ("holder",), "the same, one consent"),
        "record_restriction": Rule(WORKERS, (), "a worker records a person's restriction for its organisation"),
        "lift_restriction": Rule(WORKERS, ("holder",), "the organisation holding the restriction lifts it"),
        "list_restrictions": Rule(READERS, ("holder",), "restrictions to their holder and its auditors"),
        "get_restriction": Rule(READERS, ("holder",), "the same, one restriction"),
        "record_refusal": Rule(WORKERS, (), "a worker records a person's written refusal (art. 23)"),
        "withdraw_refusal": Rule(WORKERS, ("holder",), "the organisation holding the refusal withdraws it"),
        "list_refusals": Rule(READERS, ("holder",), "refusals to their holder and its auditors"),
        "get_refusal": Rule(READERS, ("holder",), "the same, one refusal"),
        "decide": Rule(
            WORKERS | {"admin"} | AUDITORS,
            ("discloser", "recipient"),
            "a decision, asked by the discloser or the recipient (or their auditors)",
        ),
        "disclose": Rule(
            WORKERS | {"admin", SERVICE}, ("discloser",), "a register entry, written by the discloser only"
        ),
        "disclose_on_request": Rule(
            WORKERS, ("recipient",), "the worker a platform service discloses for: one of the recipient's"
        ),
        "get_decision": Rule(READERS | {"admin"}, DECISION_PARTIES, "a decision, to the organisations it concerns"),
        "reevaluate": Rule(AUDITORS, DECISION_PARTIES, "re-run a decision: the auditors of those organisations"),
        "evaluate_recorded": Rule(
            AUDITORS, DECISION_PARTIES, "re-run a decision event's input: the auditors of the organisations it names"
        ),
        "rules": Rule(ALL_ROLES, (), "the rule tables are public to the network"),
        "register": Rule(
            WORKERS | {"admin"} | AUDITORS, ("discloser",), "a register, to the discloser and its auditors"
        ),
    },
)


class Recorded(Protocol):
    """A consent, restriction or refusal: held by the organisation that recorded it."""

    @property
    def recorded_by_org(self) -> str: ...


def consent_parties(recorded: Recorded) -> Parties:
    return {"holder": recorded.recorded_by_org}


def decision_parties(recorded: RecordedDecision) -> Parties:
    return contract_parties(recorded.input.discloser_org_id, recorded.input.recipient_org_id, recorded.requested_by_org)
