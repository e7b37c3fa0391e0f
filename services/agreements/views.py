"""Read models of the agreements service.

`Directory`: an in-memory index following the application's own notification log. It answers the searches the event
store cannot (organisations by service, kind and territory; agreements by party) and tells the scheduler which
agreements changed. It is rebuilt from the log when the process starts and catches up before each use, so every
replica sees what any of them recorded.

`changes_of`: the change log of one agreement, read back from its stored events.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification

from services.agreements.domain import EVENT_NAMES, Agreement, Organisation
from services.contract.codes import AgreementStatus

PAGE = 500


@dataclass(frozen=True)
class OrganisationEntry:
    """An organisation as the directory lists it."""

    org_id: str
    name: str
    kind: str
    territory: str
    services: tuple[str, ...]

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationEntry:
        return cls(
            organisation.org_id,
            organisation.name,
            organisation.kind,
            organisation.territory,
            tuple(organisation.services),
        )

    def matches(self, service: str | None, kind: str | None, territory: str | None) -> bool:
        return (
            (service is None or service in self.services)
            and (kind is None or kind == self.kind)
            and (territory is None or territory.casefold() == self.territory.casefold())
        )


class Directory:
    """Organisations, agreement parties and recently changed agreements, from the notification log."""

    def __init__(self, recorder: ApplicationRecorder, decode: Callable[[Notification], Any]) -> None:
        self._recorder = recorder
        self._decode = decode
        self._lock = threading.RLock()
        self.position = 0
        self._organisations: dict[str, OrganisationEntry] = {}
        self._parties: dict[uuid.UUID, set[str]] = {}
        self._changed: set[uuid.UUID] = set()

    def catch_up(self) -> None:
        """Applies every notification recorded since the last call."""
        with self._lock:
            while True:
                batch = self._recorder.select_notifications(start=self.position, limit=PAGE, inclusive_of_start=False)
                for notification in batch:
                    self._apply(self._decode(notification))
                    self.position = notification.id
                if len(batch) < PAGE:
                    return

    def _apply(self, domain_event: Any) -> None:
        if isinstance(domain_event, Organisation.Registered):
            e = domain_event
            self._organisations[e.org_id] = OrganisationEntry(e.org_id, e.name, e.kind, e.territory, tuple(e.services))
        elif isinstance(domain_event, Agreement.Event):
            agreement_id = domain_event.originator_id
            terms = getattr(domain_event, "terms", None)
            if isinstance(terms, dict):
                self._parties.setdefault(agreement_id, set()).update(terms["parties"])
            self._changed.add(agreement_id)

    def organisations(
        self, service: str | None = None, kind: str | None = None, territory: str | None = None
    ) -> list[OrganisationEntry]:
        self.catch_up()
        with self._lock:
            found = [o for o in self._organisations.values() if o.matches(service, kind, territory)]
        return sorted(found, key=lambda o: o.org_id)

    def organisation(self, org_id: str) -> OrganisationEntry | None:
        self.catch_up()
        with self._lock:
            return self._organisations.get(org_id)

    def agreement_ids(self, party: str | None = None) -> list[uuid.UUID]:
        """Agreements (sorted by id) that ever named `party` among their parties (all when None)."""
        self.catch_up()
        with self._lock:
            ids: Iterable[uuid.UUID] = (
                self._parties if party is None else [i for i, p in self._parties.items() if party in p]
            )
            return sorted(ids, key=str)

    def take_changed(self) -> set[uuid.UUID]:
        """Agreements that changed since the last call (the scheduler re-reads when they next fall due)."""
        self.catch_up()
        with self._lock:
            changed, self._changed = self._changed, set()
            return changed


# --- an agreement's change log ------------------------------------------------------------------------------

BY_FIELDS = (
    "drafted_by",
    "signed_by",
    "amended_by",
    "suspended_by",
    "resumed_by",
    "terminated_by",
    "renewed_by",
    "reviewed_by",
)


@dataclass(frozen=True)
class Change:
    """One change: what happened, when it took effect, who did it, and where it left the agreement."""

    revision: int
    event: str
    occurred_at: datetime
    by: str | None
    party: str | None
    note: str | None
    status: AgreementStatus
    version: int


def changes_of(events: Iterable[Any]) -> list[Change]:
    """Replays the events, noting after each one the status and the version of the terms."""
    agreement: Any = None
    changes = []
    for e in events:
        agreement = e.mutate(agreement)
        changes.append(
            Change(
                revision=e.originator_version,
                event=EVENT_NAMES[type(e)],
                occurred_at=e.occurred_at,
                by=next((getattr(e, f) for f in BY_FIELDS if hasattr(e, f)), None),
                party=getattr(e, "party", None),
                note=getattr(e, "reason", None) or getattr(e, "summary", None),
                status=agreement.status,
                version=agreement.terms_version,
            )
        )
    return changes
