"""The audit trail as its readers page it: a projection (`services.common.projections`) of the `Inquiry` events.

`trail_inquiries` holds each inquiry once, with its last outcome, numbered twice: its position in the whole trail
(that of its `Made` event in the store's log) and its position in its organisation's own trail (1, 2, 3 … for each
organisation, in the order they were made). Network auditors page the whole trail by the first; an organisation's
auditors page their organisation's trail by the second, in the query itself: a page holds `limit` of their own
inquiries however many other organisations made in between, and neither its positions nor its cursor tell how many
those were. The entry itself (auditor, target, parameters, outcome) is kept encoded like the store's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from services.audit.domain import Inquiry
from services.common.projections import Database, Projection, Projector, StateCodec, Tx


@dataclass(frozen=True)
class InquiryEntry:
    position: int
    """Its place in the trail the reader pages: the whole trail's (network auditors) or its organisation's."""
    inquiry_id: str
    auditor: str
    org: str
    channel: str
    action: str
    target: str
    parameters: dict[str, str]
    at: datetime
    outcome: str


@dataclass(frozen=True)
class TrailPage:
    entries: list[InquiryEntry]
    next_cursor: int | None
    """The `position` to read after for the next page (None: this page reaches the end of the trail)."""


TRAIL_EVENTS = (Inquiry.Made, Inquiry.Answered)
ENTRY_FIELDS = ("auditor", "channel", "action", "target", "parameters", "at", "outcome")


class TrailView(Projection):
    """Each inquiry with its last outcome, by its position in the trail and in its organisation's trail."""

    name = "audit_trail"
    tables = ("trail_inquiries",)
    version = "1"
    topics = frozenset(get_topic(cls) for cls in TRAIL_EVENTS)

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE trail_inquiries (inquiry_id TEXT PRIMARY KEY, position BIGINT NOT NULL UNIQUE,
                org TEXT NOT NULL, org_position BIGINT NOT NULL, state {db.blob} NOT NULL)""",
            "CREATE UNIQUE INDEX trail_inquiries_org ON trail_inquiries (org, org_position)",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        for position, e in events:
            inquiry_id = str(e.originator_id)
            if isinstance(e, Inquiry.Made):
                last = tx.one("SELECT MAX(org_position) FROM trail_inquiries WHERE org = ?", (e.org,))
                org_position = int(last[0] or 0) + 1 if last else 1
                state = {name: getattr(e, name) for name in ENTRY_FIELDS} | {"parameters": dict(e.parameters)}
                tx.execute(
                    "INSERT INTO trail_inquiries (inquiry_id, position, org, org_position, state) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (inquiry_id) DO NOTHING",
                    (inquiry_id, position, e.org, org_position, self.codec.encode(state)),
                )
            elif isinstance(e, Inquiry.Answered):
                row = tx.one("SELECT state FROM trail_inquiries WHERE inquiry_id = ?", (inquiry_id,))
                if row is not None:
                    state = self.codec.decode(row[0]) | {"outcome": e.outcome}
                    tx.execute(
                        "UPDATE trail_inquiries SET state = ? WHERE inquiry_id = ?",
                        (self.codec.encode(state), inquiry_id),
                    )


class Trail:
    """The trail's pages (each read first applies what was recorded since: a reader sees its own inquiry)."""

    def __init__(self, projector: Projector, codec: StateCodec) -> None:
        self.projector = projector
        self.codec = codec

    def page(self, org: str | None, after: int, limit: int) -> TrailPage:
        """At most `limit` inquiries after position `after`: of the whole trail (`org` None), or of one
        organisation's, by its own positions."""
        if org is None:
            sql = "SELECT position, inquiry_id, org, state FROM trail_inquiries WHERE position > ? ORDER BY position"
            params: tuple[Any, ...] = (after, limit + 1)
        else:
            sql = (
                "SELECT org_position, inquiry_id, org, state FROM trail_inquiries WHERE org = ? AND org_position > ? "
                "ORDER BY org_position"
            )
            params = (org, after, limit + 1)
        rows = self.projector.read(sql + " LIMIT ?", params)
        entries = [
            InquiryEntry(position=int(position), inquiry_id=inquiry_id, org=entry_org, **self._entry(state))
            for position, inquiry_id, entry_org, state in rows[:limit]
        ]
        return TrailPage(entries, entries[-1].position if len(rows) > limit else None)

    def _entry(self, data: bytes) -> dict[str, Any]:
        state = self.codec.decode(data)
        return {name: state[name] for name in ENTRY_FIELDS}
