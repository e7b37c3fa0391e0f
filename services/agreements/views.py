"""Read models of the agreements service.

`Directory`: a projection (`services.common.projections`) of the application's own notification log into indexed
tables. It answers the searches the event store cannot (organisations by service, kind and territory; agreements by
party) and tells the scheduler which agreements changed. It applies what was recorded since before each use, so every
replica sees what any of them recorded.

`changes_of`: the change log of one agreement, read back from its stored events.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.agreements.domain import EVENT_NAMES, Agreement, Organisation
from services.common.projections import Database, Projection, Projector, StateCodec, Tx
from services.contract.codes import AgreementStatus


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


class DirectoryView(Projection):
    """Organisations (by service, kind and territory), agreements' parties, and the position of each agreement's
    last change."""

    name = "agreements_directory"
    tables = ("agreement_orgs", "agreement_org_services", "agreement_parties", "agreement_changes")
    version = "1"

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE agreement_orgs (org_id TEXT PRIMARY KEY, kind TEXT NOT NULL, territory TEXT NOT NULL,
                state {db.blob} NOT NULL)""",
            "CREATE INDEX agreement_orgs_kind ON agreement_orgs (kind, org_id)",
            "CREATE INDEX agreement_orgs_territory ON agreement_orgs (territory, org_id)",
            """CREATE TABLE agreement_org_services (service TEXT NOT NULL, org_id TEXT NOT NULL,
                PRIMARY KEY (service, org_id))""",
            """CREATE TABLE agreement_parties (party TEXT NOT NULL, agreement_id TEXT NOT NULL,
                PRIMARY KEY (party, agreement_id))""",
            "CREATE TABLE agreement_changes (agreement_id TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
            "CREATE INDEX agreement_changes_seq ON agreement_changes (seq)",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        for seq, e in events:
            if isinstance(e, Organisation.Registered):
                entry = OrganisationEntry(e.org_id, e.name, e.kind, e.territory, tuple(e.services))
                tx.execute(
                    "INSERT INTO agreement_orgs (org_id, kind, territory, state) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (org_id) DO UPDATE SET kind = excluded.kind, territory = excluded.territory, "
                    "state = excluded.state",
                    (entry.org_id, entry.kind, entry.territory.casefold(), self.codec.encode(entry.__dict__)),
                )
                tx.execute("DELETE FROM agreement_org_services WHERE org_id = ?", (entry.org_id,))
                tx.executemany(
                    "INSERT INTO agreement_org_services (service, org_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(service, entry.org_id) for service in entry.services],
                )
            elif isinstance(e, Agreement.Event):
                agreement_id = str(e.originator_id)
                terms = getattr(e, "terms", None)
                if isinstance(terms, dict):
                    # null parties (stored before nulls were refused): not amended (`Terms.amended`), already listed
                    tx.executemany(
                        "INSERT INTO agreement_parties (party, agreement_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        [(party, agreement_id) for party in terms["parties"] or ()],
                    )
                tx.execute(
                    "INSERT INTO agreement_changes (agreement_id, seq) VALUES (?, ?) "
                    "ON CONFLICT (agreement_id) DO UPDATE SET seq = excluded.seq",
                    (agreement_id, seq),
                )


class Directory:
    """The directory's queries (each first applies what was recorded since); `take_changed` tells the scheduler
    which agreements changed since it last asked (all of them, the first time in a process)."""

    def __init__(self, projector: Projector, codec: StateCodec) -> None:
        self.projector = projector
        self.codec = codec
        self._taken = 0
        self._lock = threading.Lock()

    def _entries(self, sql: str, params: Sequence[Any]) -> list[OrganisationEntry]:
        with self.projector.reading() as tx:
            rows = tx.execute(sql, params)
        return [
            OrganisationEntry(**{**state, "services": tuple(state["services"])})
            for state in (self.codec.decode(row[0]) for row in rows)
        ]

    def organisations(
        self, service: str | None = None, kind: str | None = None, territory: str | None = None
    ) -> list[OrganisationEntry]:
        conditions, params = [], []
        for sql, value in (
            ("o.org_id IN (SELECT org_id FROM agreement_org_services WHERE service = ?)", service),
            ("o.kind = ?", kind),
            ("o.territory = ?", None if territory is None else territory.casefold()),
        ):
            if value is not None:
                conditions.append(sql)
                params.append(value)
        where = " AND ".join(conditions) or "1 = 1"
        return self._entries(f"SELECT o.state FROM agreement_orgs o WHERE {where} ORDER BY o.org_id", params)  # noqa: S608

    def organisation(self, org_id: str) -> OrganisationEntry | None:
        found = self._entries("SELECT state FROM agreement_orgs WHERE org_id = ?", (org_id,))
        return found[0] if found else None

    def agreement_ids(self, party: str | None = None) -> list[uuid.UUID]:
        """Agreements (sorted by id) that ever named `party` among their parties (all when None)."""
        with self.projector.reading() as tx:
            if party is None:
                rows = tx.execute("SELECT agreement_id FROM agreement_changes")
            else:
                rows = tx.execute("SELECT agreement_id FROM agreement_parties WHERE party = ?", (party,))
        return sorted((uuid.UUID(row[0]) for row in rows), key=str)

    def take_changed(self) -> set[uuid.UUID]:
        """Agreements that changed since the last call (the scheduler re-reads when they next fall due)."""
        with self._lock, self.projector.reading() as tx:
            rows = tx.execute("SELECT agreement_id, seq FROM agreement_changes WHERE seq > ?", (self._taken,))
            self._taken = max((int(row[1]) for row in rows), default=self._taken)
        return {uuid.UUID(row[0]) for row in rows}


# --- an agreement's change log ------------------------------------------------------------------------------

BY_FIELDS = (
    "drafted_by",
    "signed_by",
    "declined_by",
    "amended_by",
    "proposed_by",
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
