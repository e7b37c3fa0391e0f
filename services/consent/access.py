"""Who may call what in the consent service, about whom (one tested policy; see services/common/access.py).

Parties: a consent or a restriction is held by the organisation that recorded it (`holder`); a decision concerns
its `discloser`, its `recipient` and the organisation that asked for it (`requester`). Only the discloser writes
in its disclosure register. A platform service (role `service` of `PLATFORM_ORG`: the referral service releasing the
record information it keeps for the discloser) discloses only on the request of a worker of the recipient, whose own
token it passes on (`Requester-Token`); that worker is recorded as the requester. Nobody else presents such a token,
and an establishment's `service` principal (its telephony system) discloses nothing: with one of its workers' tokens
it would learn whether another organisation holds a refusal about a person, and write in that one's register.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from services.common.access import ALL_ROLES, AUDITORS, WORKERS, Parties, Policy, Rule
from services.common.auth import SERVICE, Principal
from services.consent.application import RecordedDecision
from services.consent.policy import AGE_FROM_REQUEST, Facts, Reason, ReasonCode, to_json
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
            "a decision, asked by the discloser or the recipient (or their auditors); the recipient's is a preview "
            "reading none of the discloser's records (`application.previews`)",
        ),
        "disclose": Rule(
            WORKERS | {"admin", SERVICE},
            ("discloser",),
            "a register entry, written by the discloser only (a platform service: for the recipient's worker)",
            network_only=frozenset({SERVICE}),
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
            WORKERS | {"admin"} | AUDITORS,
            ("discloser",),
            "a register, to the discloser: all of it to its coordinators and auditors, to its other members the "
            "entries they made (WHOLE_REGISTER)",
        ),
    },
)

WHOLE_REGISTER = frozenset({"coordinator", *AUDITORS})
"""Who reads the whole disclosure register of its organisation (a network auditor: every organisation's): entries
name the person, the danger assessed, the reasons given. The discloser's other members (intake, clinician, admin)
read only the entries they made themselves (`disclosed_by`, the `sub` of their token)."""


class Recorded(Protocol):
    """A consent, restriction or refusal: held by the organisation that recorded it."""

    @property
    def recorded_by_org(self) -> str: ...


def on_request(principal: Principal, requester_token: bool) -> bool:
    """Whether a disclosure is asked on a worker's behalf rather than by a member of the discloser: by a `service`
    principal or with a `Requester-Token`. Only a platform service may, and only so (`api._discloser` checks it; the
    decision lane leaves these to it)."""
    return SERVICE in principal.roles or requester_token


def consent_parties(recorded: Recorded) -> Parties:
    return {"holder": recorded.recorded_by_org}


def decision_parties(recorded: RecordedDecision) -> Parties:
    return contract_parties(recorded.input.discloser_org_id, recorded.input.recipient_org_id, recorded.requested_by_org)


# --- what a caller reads of a decision ----------------------------------------------------------------------------
# A decision's facts name the person's consents, restrictions and refusals, which their holders keep from everyone
# else (GET /v1/consents/{id} is a 404 to them). Asking for a decision (anyone may name itself its discloser) must not
# read them either. A decision another organisation than the discloser asks for itself reads none of the discloser's
# records (`application.previews`); a disclosure reads them all, and so does a decision read by another party than
# the one that asked: a record the caller may not read itself shows only that it counted and who holds it (the
# decision's discloser or recipient, or another organisation, unnamed). Nor does the person's age band read from such
# a consent's birth date show (an outsider would learn that the recipient's client is under 14), nor the details of
# the reasons the band decided; a band from the birth date the request gave shows (its caller knew it). The stored
# decision, its event and the auditors' re-evaluations keep every fact.

FACT_LISTS = (
    ("consents", "consent_id", "get_consent"),
    ("restrictions", "restriction_id", "get_restriction"),
    ("refusals", "refusal_id", "get_refusal"),
)
"""Each list of records among a decision's facts: its key, the key of a record's id, who may read such a record."""


def fact_records(facts: Facts) -> dict[str, str]:
    """The consents, restrictions and refusals among a decision's facts: their ids, and the operation reading each."""
    return {getattr(r, key): operation for name, key, operation in FACT_LISTS for r in getattr(facts, name)}


def named_by_reasons(recorded: RecordedDecision) -> list[str]:
    """The records of the decision's facts its reasons name (by id, or as their detail)."""
    records = fact_records(recorded.facts)
    named = (key for reason in recorded.decision.reasons for key in (reason.consent_id, reason.detail))
    return list(dict.fromkeys(key for key in named if key in records))


AGE_REASONS = frozenset(
    {
        ReasonCode.SUBJECT_NOT_MINOR,
        ReasonCode.SUBJECT_NOT_UNDER_14,
        ReasonCode.NOT_UNDER_14_AT_DEATH,
        ReasonCode.MINOR_CONDITION_NOT_STATED,
        ReasonCode.MINOR_ACCESS_REFUSED,
    }
)
"""Reasons the person's age band decides: their detail names the band, or the ground asked of a minor's parent (the
youth-protection intervention under 14, the minor's objection from 14), which tells it."""


def age_source(recorded: RecordedDecision) -> list[str]:
    """The consent the person's age bands were read from, when its id was kept (its holder decides who sees them)."""
    source = recorded.facts.subject_age_from
    return [] if source is None or source == AGE_FROM_REQUEST else [source]


def age_unreadable(principal: Principal, recorded: RecordedDecision, holders: Mapping[str, str]) -> bool:
    """Whether `principal` may not see the person's age bands among the decision's facts: they were read from a
    consent it may not read itself. `holders`: who holds the consent of `age_source` (one not found is hidden).
    In decisions recorded before the source was kept, only a reader of both parties' consents sees them."""
    facts = recorded.facts
    if facts.subject_age_band is None and facts.subject_age_band_at_death is None:
        return False
    if facts.subject_age_from == AGE_FROM_REQUEST:
        return False
    if facts.subject_age_from is None:  # the request's birth date, or a consent the discloser or the recipient held
        parties = (recorded.input.discloser_org_id, recorded.input.recipient_org_id)
        return not all(POLICY.allows("get_consent", principal, {"holder": org}) for org in parties)
    holder = holders.get(facts.subject_age_from)
    return holder is None or not POLICY.allows("get_consent", principal, {"holder": holder})


def unreadable(
    principal: Principal, recorded: RecordedDecision, record_ids: Iterable[str], holders: Mapping[str, str]
) -> dict[str, str]:
    """Those of `record_ids` (records of the decision's facts) `principal` may not read itself, by id: the part
    their holder has in the decision (`DISCLOSER`, `RECIPIENT`, or `OTHER_ORGANISATION`). `holders`: who holds
    each (one not found is hidden)."""
    records = fact_records(recorded.facts)
    parts = {recorded.input.recipient_org_id: "RECIPIENT", recorded.input.discloser_org_id: "DISCLOSER"}
    hidden = {}
    for record_id in record_ids:
        holder = holders.get(record_id)
        if holder is None or not POLICY.allows(records[record_id], principal, {"holder": holder}):
            hidden[record_id] = parts.get(holder or "", "OTHER_ORGANISATION")
    return hidden


def decision_seen(recorded: RecordedDecision, hidden: Mapping[str, str], age_hidden: bool = False) -> RecordedDecision:
    """The decision with its reasons about hidden records kept to their code, route and categories (no record id,
    no detail: a consent's dates, its grantor's role); with `age_hidden`, the reasons the age band decided keep no
    detail either."""
    if not hidden and not age_hidden:
        return recorded

    def seen(reason: Reason) -> Reason:
        if reason.consent_id in hidden:
            return dataclasses.replace(reason, consent_id=None, detail=None)
        if reason.detail in hidden or (age_hidden and reason.code in AGE_REASONS):
            return dataclasses.replace(reason, detail=None)
        return reason

    decision = dataclasses.replace(recorded.decision, reasons=tuple(seen(r) for r in recorded.decision.reasons))
    return dataclasses.replace(recorded, decision=decision)


def facts_seen(recorded: RecordedDecision, hidden: Mapping[str, str], age_hidden: bool = False) -> dict[str, Any]:
    """The decision's facts (JSON), each hidden record replaced by `{"redacted": true, "held_by": <part>}`; with
    `age_hidden`, the person's age bands and their source null (as if no birth date were known)."""
    facts: dict[str, Any] = to_json(recorded.facts)
    for name, key, _ in FACT_LISTS:
        facts[name] = [{"redacted": True, "held_by": hidden[r[key]]} if r[key] in hidden else r for r in facts[name]]
    if age_hidden:
        facts.update(subject_age_band=None, subject_age_band_at_death=None, subject_age_from=None)
    return facts
