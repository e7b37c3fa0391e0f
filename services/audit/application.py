"""Audit: the auditors' own record (what was looked at, by whom); the only write path of the audit service's store."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.audit.domain import Action, Channel, Inquiry
from services.common.clock import Clock, system_clock
from services.common.eventstore import TrackedApplication


@dataclass(frozen=True)
class Auditor:
    """Who asks: a user (`sub`) of an organisation, through the REST API or the CLI."""

    sub: str
    org: str
    channel: Channel


@dataclass(frozen=True)
class InquiryEntry:
    position: int
    inquiry_id: str
    auditor: str
    org: str
    channel: str
    action: str
    target: str
    parameters: dict[str, str]
    at: datetime
    outcome: str


class Audit(TrackedApplication):
    name = "audit"

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock = system_clock) -> None:
        super().__init__(env)
        self.clock = clock

    def record_inquiry(
        self, who: Auditor, action: Action, target: str, parameters: Mapping[str, Any], outcome: str = "ASKED"
    ) -> str:
        """Records that `who` is looking at `target` (parameters as text; never record information)."""
        inquiry = Inquiry(
            auditor=who.sub,
            org=who.org,
            channel=who.channel.value,
            action=action.value,
            target=target,
            parameters={k: str(v) for k, v in parameters.items() if v is not None},
            at=self.clock(),
            outcome=outcome,
        )
        self.save(inquiry)
        return str(inquiry.id)

    def answer_inquiry(self, inquiry_id: str, outcome: str) -> None:
        inquiry: Inquiry = self.repository.get(uuid.UUID(inquiry_id))
        inquiry.answer(outcome, self.clock())
        self.save(inquiry)

    def inquiries(self, after: int = 0, limit: int = 100) -> list[InquiryEntry]:
        """The trail in the order it was recorded, after a position (a cursor); an inquiry's outcome is known when
        its answer falls in the same page."""
        entries: dict[str, InquiryEntry] = {}
        for notification in self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False):
            made = self.mapper.to_domain_event(notification)
            if isinstance(made, Inquiry.Answered):
                found = entries.get(str(made.originator_id))
                if found is not None:
                    entries[found.inquiry_id] = replace(found, outcome=made.outcome)
                continue
            if not isinstance(made, Inquiry.Made):
                continue
            entries[str(made.originator_id)] = InquiryEntry(
                notification.id,
                str(made.originator_id),
                made.auditor,
                made.org,
                made.channel,
                made.action,
                made.target,
                dict(made.parameters),
                made.at,
                made.outcome,
            )
        return list(entries.values())
