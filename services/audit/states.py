"""States rebuilt from the history: a referral, an agreement or a consent exactly as the events say it stood at a
moment. Each is a fold over the thing's events in publication order, keeping those that took effect by then (a
backdated withdrawal from the date it gives, however late it was recorded) or, on the `recorded` axis, that the
platform had recorded by then (published on Kafka, or stored: `services/audit/README.md`, time axes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.audit.views import Axis, HistoryDB, HistoryRow, parse_time

Kind = Literal["referral", "agreement", "consent"]
KINDS: tuple[Kind, ...] = ("referral", "agreement", "consent")

REFERRAL_FIELDS = (
    "referral_id",
    "subject_id",
    "from_org",
    "from_service",
    "to_org",
    "to_service",
    "channel",
    "urgency",
    "agreement_id",
    "status",
)


def referral_state(rows: Sequence[HistoryRow], as_of: datetime) -> dict[str, Any] | None:
    """Ids, codes, status, lifecycle history and delay flags (the referral events carry nothing else)."""
    state: dict[str, Any] | None = None
    for row in rows:
        data = row.payload
        if row.name == "submitted":
            state = {k: data.get(k) for k in REFERRAL_FIELDS}
            state |= {
                "accompaniment": data.get("accompaniment"),
                "orientation_only": data.get("orientation_only", data.get("agreement_id") is None),
                "submitted_at": data["occurred_at"],
                "version": 1,
                "outcome": None,
                "history": [_step("submitted", data)],
                "delay_flags": [],
            }
        elif state is None:
            continue  # a referral whose submission is not in the history (yet): nothing to show
        elif row.name.startswith("delay-"):
            state["delay_flags"].append(
                {
                    "standard": data.get("standard"),
                    "state": data.get("clock_state"),
                    "due_at": data.get("due_at"),
                    "at": data.get("occurred_at"),
                    "responsible_org": data.get("responsible_org"),
                }
            )
        else:
            state |= {k: data.get(k) for k in REFERRAL_FIELDS}
            state["orientation_only"] = state["agreement_id"] is None  # a redirection may change it
            state["version"] = data.get("version", state["version"])
            if data.get("outcome") is not None:
                state["outcome"] = data["outcome"]
            state["history"].append(_step(row.name, data))
    return state


def _step(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": name,
        "at": data.get("occurred_at"),
        "to_org": data.get("to_org"),
        "to_service": data.get("to_service"),
    }


def agreement_state(rows: Sequence[HistoryRow], as_of: datetime) -> dict[str, Any] | None:
    """The agreement's whole state (its events carry it), with open reviews and volume thresholds reached."""
    state: dict[str, Any] | None = None
    reviews_due: list[str] = []
    volume_flags: list[dict[str, Any]] = []
    for row in rows:
        data = row.payload
        if row.name == "review-due":
            reviews_due.append(data["due_at"])
        elif row.name.startswith("volume-"):
            volume_flags.append({k: data.get(k) for k in ("service", "period_start", "used", "per_year", "percent")})
        else:
            state = dict(data)
            if row.name == "reviewed":
                reviews_due = []
            state["last_event"] = row.name
    if state is None:
        return None
    state["review_due"] = bool(reviews_due)
    state["reviews_due"] = reviews_due
    state["volume_flags"] = volume_flags
    return state


def consent_state(rows: Sequence[HistoryRow], as_of: datetime) -> dict[str, Any] | None:
    """The consent as recorded, its withdrawal, and its status at `as_of` (PENDING, ACTIVE, EXPIRED, WITHDRAWN)."""
    state: dict[str, Any] | None = None
    for row in rows:
        data = row.payload
        if row.name == "recorded":
            state = dict(data) | {"withdrawn_at": None, "recorded_at": data.get("occurred_at")}
            state.pop("occurred_at", None)
        elif row.name == "withdrawn" and state is not None:
            state["withdrawn_at"] = data["withdrawn_at"]
            state["withdrawn_by_org"] = data.get("withdrawn_by_org")
    if state is None:
        return None
    state["status"] = _consent_status(state, as_of)
    return state


def _consent_status(state: dict[str, Any], at: datetime) -> str:
    withdrawn, until = state.get("withdrawn_at"), state.get("valid_until")
    if withdrawn is not None and parse_time(withdrawn) <= at:
        return "WITHDRAWN"
    if until is not None and parse_time(until) <= at:
        return "EXPIRED"
    if parse_time(state["valid_from"]) > at:
        return "PENDING"
    return "ACTIVE"


FOLDS: dict[Kind, Callable[[Sequence[HistoryRow], datetime], dict[str, Any] | None]] = {
    "referral": referral_state,
    "agreement": agreement_state,
    "consent": consent_state,
}


BACKDATED: dict[tuple[str, str], str] = {("consent", "withdrawn"): "withdrawn_at"}
"""Events whose effect is dated in their payload, possibly before they were recorded (a withdrawal recorded on the
12th that took effect on the 5th), by (kind, event name): the payload field holding when they took effect."""


def took_effect(kind: str, row: HistoryRow) -> datetime:
    """When an event took effect: the date its payload gives a backdated one, else its own time."""
    field = BACKDATED.get((kind, row.name))
    return parse_time(row.payload[field] if field else row.effective_at)


def state_as_of(history: HistoryDB, kind: Kind, entity_id: str, as_of: datetime, axis: Axis = "effective") -> Any:
    """The state of one referral, agreement or consent at `as_of` (None: it did not exist yet, or is unknown). On
    the effective axis a backdated event counts from when it took effect, though recorded after `as_of`; on the
    recorded axis, from when the platform recorded it (published it; stored it, for an event read from a store)."""
    return FOLDS[kind](_rows_as_of(history, kind, entity_id, as_of, axis), as_of)


def _rows_as_of(history: HistoryDB, kind: Kind, entity_id: str, as_of: datetime, axis: Axis) -> list[HistoryRow]:
    if axis == "effective" and any(backdated == kind for backdated, _ in BACKDATED):
        return [row for row in history.entity_events(kind, entity_id) if took_effect(kind, row) <= as_of]
    return history.entity_events(kind, entity_id, as_of, axis)


@dataclass(frozen=True)
class Seen:
    """A state as one organisation's auditors may read it."""

    state: dict[str, Any] | None
    until: datetime | None = None
    """When the redirection that moved a referral away from the organisation took effect, if the state shown stops
    there (None: the state is not cut)."""


def state_seen_by(history: HistoryDB, kind: Kind, entity_id: str, as_of: datetime, axis: Axis, org: str | None) -> Seen:
    """The state at `as_of` as the auditors of `org` may read it (None: a network auditor, who reads it whole). A
    referral is cut, for a former receiver, at the redirection that last moved it away (`referral_cut`): a later
    `as_of` shows it as it stood then, with the delay flags of its own clocks recorded since (`own_delay_flag`).
    Agreements and consents are never cut."""
    cut = None if kind != "referral" or org is None else referral_cut(history.entity_events(kind, entity_id), org)
    rows = _rows_as_of(history, kind, entity_id, as_of, axis)
    if cut is None or org is None:
        return Seen(FOLDS[kind](rows, as_of))
    reached = any(row.seq == cut.seq for row in rows)
    rows = [row for row in rows if row.seq <= cut.seq or own_delay_flag(row, org)]
    return Seen(FOLDS[kind](rows, as_of), parse_time(cut.effective_at) if reached else None)


def own_delay_flag(row: HistoryRow, org: str) -> bool:
    """Whether `row` flags a delay of `org`'s own clock (at risk, breached), which its auditors read even when it was
    published after the redirection that cut the referral for them: the referral service's tick flags a bound that
    passed before the redirection at its next run, possibly after it. The state shows of it only the standard, clock
    state, due and flagging times and `org` (`referral_state`), nothing of the new receiver's handling."""
    return row.name.startswith("delay-") and row.payload.get("responsible_org") == org


def referral_cut(rows: Sequence[HistoryRow], org: str) -> HistoryRow | None:
    """The last event of a referral (`rows`: all of its events, in publication order) that `org`'s auditors may
    read: the redirection that last moved it away from `org`, when `org` received it once and holds it no more.
    None (nothing cut) for its sender and its current receiver, who read the whole of it as the referral service
    shows it to them, and for an organisation that never received it (whose auditors read none of it: the party
    check refuses them). What happened after that redirection happened at other organisations: the referral
    service no longer shows it to `org`, nor does the audit service. An organisation that got the referral back
    in between reads what it was shown then, the other organisations' steps before its return included."""
    sender: str | None = None
    holder: str | None = None
    cut: HistoryRow | None = None
    for row in rows:
        if row.name.startswith("delay-"):
            continue  # a flag shows the referral as its clock's organisation was shown it, not who holds it now
        data = row.payload
        to_org = data.get("to_org")
        if row.name == "redirected" and holder == org and to_org != org:
            cut = row
        sender = data.get("from_org", sender)
        holder = to_org if isinstance(to_org, str) else holder
    if org in (sender, holder):
        return None
    return cut
