"""What one Info-Social call contributes to the board, and how reports of the same call merge.

A telephony system may report a call while it waits and again once answered or abandoned, or report it twice:
reports of one call (its region's telephony system's `call_id`: two regions' systems may use the same ids, so a call
is its region and its id) merge field by field, order-independently (the earliest of each time; an answer wins over
an abandon), so a record read again, late or twice leaves the same call.

How calls count (README, "How abandoned calls count"): `offered` counts every call; the share answered within the
bound is over the calls *decided* — answered or abandoned — so an abandoned call counts as not answered in time
whenever the caller hung up (the standard says 90 % of calls get an answer within 4 minutes); a call still waiting
is offered but not yet decided. The 90th-percentile wait is over the answered calls.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from services.standards.bounds import CALL_PERIODS, Bounds, bucket
from services.standards.domain import CallMark, CallRowKey

CallRecord = dict[str, Any]
"""A call as the calls table keeps it (the payload's JSON)."""

TIMES = ("offered_at", "answered_at", "abandoned_at", "ended_at")


KEY_SEPARATOR = "|"
"""Neither a region nor a call id may hold it (their patterns in the contract)."""


def call_key(call: CallRecord) -> str:
    """The calls table's key of a call: `<region>|<call id>`."""
    return f"{call['region']}{KEY_SEPARATOR}{call['call_id']}"


def is_call_key(key: str) -> bool:
    """Whether a calls table key is one of this version's (an earlier one keyed calls by their id alone)."""
    return KEY_SEPARATOR in key


def _earliest(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if datetime.fromisoformat(a) <= datetime.fromisoformat(b) else b


def merge(known: CallRecord | None, report: CallRecord) -> CallRecord:
    """The call once `report` is known as well (commutative, associative, idempotent)."""
    if known is None:
        merged = dict(report)
    else:
        merged = {name: _earliest(known.get(name), report.get(name)) for name in TIMES}
        merged["call_id"], merged["region"] = known["call_id"], min(known["region"], report["region"])
        merged["anonymous"] = bool(known["anonymous"] or report["anonymous"])
        referrals = [r for r in (known.get("referral_id"), report.get("referral_id")) if r]
        merged["referral_id"] = min(referrals) if referrals else None
    if merged.get("answered_at") is not None:
        merged["abandoned_at"] = None
    return merged


def _wait_s(record: CallRecord, until: str) -> int:
    seconds = (datetime.fromisoformat(record[until]) - datetime.fromisoformat(record["offered_at"])).total_seconds()
    return math.ceil(seconds)


def call_mark(record: CallRecord, bounds: Bounds) -> CallMark:
    if record.get("answered_at") is not None:
        wait = _wait_s(record, "answered_at")
        return CallMark("ANSWERED", wait, wait <= bounds.answer_within_s)
    if record.get("abandoned_at") is not None:
        return CallMark("ABANDONED", _wait_s(record, "abandoned_at"), False)
    return CallMark("WAITING", None, False)


def call_marks(record: CallRecord | None, bounds: Bounds) -> list[tuple[CallRowKey, CallMark]]:
    """The call's mark in its region's hour, day and month (none for no call)."""
    if record is None:
        return []
    offered, mark = datetime.fromisoformat(record["offered_at"]), call_mark(record, bounds)
    return [(CallRowKey(record["region"], p, bucket(offered, p, bounds.zone)), mark) for p in CALL_PERIODS]
