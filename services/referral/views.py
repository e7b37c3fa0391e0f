"""The referral service's read model: a projection (`services.common.projections`) of every referral and its clocks.

`referral_rows` holds one row per referral: the columns listing filters on (organisations, status, target service),
its position in submission order (`seq`, the notification id of its submission: the keyset of every page), its
state as the domain's own `mutate` leaves it (encoded like the store's events) and its document as the API shows it
(`documents.py`, sealed like the state), which a page of the listing returns as it is. `referral_clocks` holds its delay
clocks with what does not depend on the time of asking (start, due, met, stopped) and the next threshold still to flag:
compliance is an aggregate over it, and the clock tick reads only the clocks whose next threshold has passed.
`referral_clock_totals` counts the met and stopped clocks by standard and final state, kept with each change, so the
clocks' states as they stand (a metric, scraped every few seconds) read those totals and the open clocks only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from services.common.projections import Database, Projection, Projector, StateCodec, Tx, micros, moment
from services.contract.delay_standards import Compliance, Policy, compute_clocks
from services.contract.referral_events import DelayStandard
from services.referral.documents import DOCUMENTS_VERSION, document
from services.referral.domain import Milestone, Referral

FLAG_KINDS = ("AT_RISK", "BREACHED")
"""The thresholds a clock flags (`Clock.due_flags`), in the order of the clocks table's columns."""

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
"""Clocks are stored as they will stand once every step recorded so far has happened."""

CLOSED = "(met_at IS NOT NULL OR stopped_at IS NOT NULL)"
"""A clock met or stopped: its state no longer depends on the time of asking."""
CLOSED_STATE = (
    "CASE WHEN met_at IS NOT NULL THEN (CASE WHEN met_at <= due_at THEN 'MET' ELSE 'BREACHED' END) "
    "ELSE (CASE WHEN stopped_at > due_at THEN 'BREACHED' ELSE 'STOPPED' END) END"
)
OPEN_STATE = "CASE WHEN ? >= due_at THEN 'BREACHED' WHEN ? >= at_risk_at THEN 'AT_RISK' ELSE 'RUNNING' END"
"""The state of a clock neither met nor stopped at the time given (twice)."""


class DueFlags(NamedTuple):
    """A referral's thresholds the tick is to flag, in the order of their true times, and the referral's version
    they were computed at (what its events must follow). A tuple: a tick makes a thousand."""

    referral_id: uuid.UUID
    version: int
    flags: list[dict[str, Any]]
    """Each the fields of a `Referral.DelayFlagged`."""


@dataclass(frozen=True)
class _Pending:
    """A referral's thresholds not flagged yet, as the view holds it at `version`: each with its time (µs), in
    the order of their true times."""

    referral_id: uuid.UUID
    version: int
    flags: list[tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class _Ahead:
    """What a look-ahead read (`ReferralIndex.due_by`): the thresholds passed by `until` (µs), by referral id."""

    until: int
    pending: dict[str, _Pending]


DUE_CLOCKS = (
    "SELECT referral_id, version, standard, responsible_org, service, started_at, due_at, bound_s, at_risk_flag_at, "
    "breached_flag_at FROM referral_clocks WHERE next_flag_at <= ?"
)
DUE_REFERRALS = "SELECT referral_id, version FROM referral_clocks WHERE next_flag_at <= ?"


def _pending(rows: Sequence[Sequence[Any]], limit: int) -> dict[str, _Pending]:
    """The thresholds passed by `limit` among the clock rows of `DUE_CLOCKS`, by referral."""
    pending: dict[str, _Pending] = {}
    for referral_id, version, standard, org, service, started, due_at, bound_s, *flag_at in rows:
        entry = pending.get(referral_id)
        if entry is None:
            entry = pending[referral_id] = _Pending(uuid.UUID(referral_id), int(version), [])
        started_at, due_moment = moment(started), moment(due_at)
        entry.flags.extend(
            (
                at,
                {
                    "standard": standard,
                    "kind": kind,
                    "started_at": started_at,
                    "due_at": due_moment,
                    "at": moment(at),
                    "bound_s": int(bound_s),
                    "responsible_org": org,
                    "service": service,
                },
            )
            for kind, at in zip(FLAG_KINDS, flag_at, strict=True)
            if at is not None and at <= limit
        )
    for entry in pending.values():
        if len(entry.flags) > 1:
            entry.flags.sort(key=lambda item: (item[0], item[1]["standard"], item[1]["kind"]))
    return pending


@dataclass(frozen=True)
class Listing:
    """Which referrals to list: `scope` is the organisation the caller reads for (None: every referral)."""

    scope: str | None = None
    to_org: str | None = None
    from_org: str | None = None
    status: str | None = None
    after: int = 0
    limit: int | None = None

    def cursor_binding(self, caller_org: str) -> tuple[str | None, ...]:
        """What a cursor of this listing is bound to: who lists (the organisation, and what it may read) and with
        which filters (`services.common.cursors`)."""
        return (caller_org, self.scope, self.to_org, self.from_org, self.status)


def state_of(referral: Referral) -> dict[str, Any]:
    state = {k: v for k, v in referral.__dict__.items() if k != "_pending_events"}
    state["history"] = [[getattr(m, f.name) for f in dataclasses.fields(Milestone)] for m in referral.history]
    state["flags"] = [list(flag) for flag in sorted(referral.flags)]
    return state


def referral_of(state: dict[str, Any]) -> Referral:
    """The aggregate as the repository would rebuild it (at the version the row was written)."""
    referral: Referral = object.__new__(Referral)
    state["history"] = [Milestone(*m) for m in state["history"]]
    state["flags"] = {tuple(flag) for flag in state["flags"]}
    referral.__dict__.update(state)
    referral.__dict__["_pending_events"] = []
    return referral


class ReferralView(Projection):
    name = "referral_view"
    tables = ("referral_rows", "referral_clocks", "referral_clock_totals")

    def __init__(self, policy: Policy, codec: StateCodec) -> None:
        self.policy = policy
        self.codec = codec

    @property
    def version(self) -> str:
        """The schema's version and the clock policy the clocks were computed with."""
        bounds = sorted((str(k), v.total_seconds()) for k, v in self.policy.bounds.items())
        changes = [(c.standard, c.bound.total_seconds(), c.effective_from.isoformat()) for c in self.policy.changes]
        policy = (bounds, self.policy.at_risk_ratio, self.policy.zone.key, *([changes] if changes else []))
        digest = hashlib.sha256(repr(policy).encode()).hexdigest()
        # 11: the generic urgent clocks only for the AAOR (none for a service outside Annexe II: the clock rows are
        # recomputed; flags already recorded stay in the history);
        # 10: the state keeps where a referral stood when it left each organisation (`Referral.left`);
        # 9: the analysis completed by the AAOR's decision, for requests by phone or in person, and the follow-up
        # started by a meeting (the clock rows are recomputed; flags already recorded stay in the history);
        # 8: the state's idempotency keys scoped by organisation; 7: calendar-day bounds
        # 12: each row keeps the referral's document (`documents.py`, whose version follows)
        return f"12:{digest[:16]}:{DOCUMENTS_VERSION}"

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE referral_rows (
                id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE, from_org TEXT NOT NULL, to_org TEXT NOT NULL,
                to_service TEXT NOT NULL, status TEXT NOT NULL, submitted_at BIGINT NOT NULL,
                state {db.blob} NOT NULL, document {db.blob} NOT NULL)""",
            "CREATE INDEX referral_rows_to ON referral_rows (to_org, seq)",
            "CREATE INDEX referral_rows_from ON referral_rows (from_org, seq)",
            "CREATE INDEX referral_rows_status ON referral_rows (status, seq)",
            "CREATE INDEX referral_rows_to_status ON referral_rows (to_org, status, seq)",
            "CREATE INDEX referral_rows_from_status ON referral_rows (from_org, status, seq)",
            """CREATE TABLE referral_clocks (
                referral_id TEXT NOT NULL, standard TEXT NOT NULL, responsible_org TEXT NOT NULL,
                service TEXT NOT NULL, started_at BIGINT NOT NULL, due_at BIGINT NOT NULL, at_risk_at BIGINT NOT NULL,
                met_at BIGINT, stopped_at BIGINT, bound_s BIGINT NOT NULL, version BIGINT NOT NULL,
                at_risk_flag_at BIGINT, breached_flag_at BIGINT, next_flag_at BIGINT)""",
            "CREATE INDEX referral_clocks_referral ON referral_clocks (referral_id)",
            "CREATE INDEX referral_clocks_org ON referral_clocks (responsible_org, started_at)",
            "CREATE INDEX referral_clocks_service ON referral_clocks (service, started_at)",
            "CREATE INDEX referral_clocks_due ON referral_clocks (next_flag_at)",
            "CREATE INDEX referral_clocks_open ON referral_clocks (standard) "
            "WHERE met_at IS NULL AND stopped_at IS NULL",
            """CREATE TABLE referral_clock_totals (
                standard TEXT NOT NULL, state TEXT NOT NULL, clocks BIGINT NOT NULL, PRIMARY KEY (standard, state))""",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        stored = self._load(tx, sorted({str(event.originator_id) for _, event in events}))
        changed: dict[str, tuple[int, Referral | None]] = {}
        for position, event in events:
            key = str(event.originator_id)
            seq, current = changed[key] if key in changed else stored.get(key, (position, None))
            changed[key] = (seq, event.mutate(current))
        rows = [(seq, r) for seq, r in changed.values() if isinstance(r, Referral)]
        tx.executemany(
            "INSERT INTO referral_rows (id, seq, from_org, to_org, to_service, status, submitted_at, state, document) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET to_org = excluded.to_org, "
            "to_service = excluded.to_service, status = excluded.status, state = excluded.state, "
            "document = excluded.document",
            [
                (
                    str(r.id),
                    seq,
                    r.from_org,
                    r.to_org,
                    r.to_service,
                    r.status,
                    micros(r.submitted_at),
                    self.codec.encode(state_of(r)),
                    self.codec.seal(document(r)),
                )
                for seq, r in rows
            ],
        )
        keys = [str(r.id) for _, r in rows]
        closed = self._closed(tx, keys)
        tx.executemany("DELETE FROM referral_clocks WHERE referral_id = ?", [(key,) for key in keys])
        tx.executemany(
            "INSERT INTO referral_clocks (referral_id, standard, responsible_org, service, started_at, due_at, "
            "at_risk_at, met_at, stopped_at, bound_s, version, at_risk_flag_at, breached_flag_at, next_flag_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [clock for _, r in rows for clock in self._clocks(r)],
        )
        closed.subtract(self._closed(tx, keys))
        tx.executemany(
            "INSERT INTO referral_clock_totals (standard, state, clocks) VALUES (?, ?, ?) "
            "ON CONFLICT (standard, state) DO UPDATE SET clocks = referral_clock_totals.clocks + excluded.clocks",
            [(standard, state, -n) for (standard, state), n in sorted(closed.items()) if n],
        )

    @staticmethod
    def _closed(tx: Tx, keys: Sequence[str]) -> Counter[tuple[str, str]]:
        """The met and stopped clocks of these referrals, by standard and final state."""
        if not keys:
            return Counter()
        marks = ", ".join("?" for _ in keys)
        return Counter(
            {
                (str(standard), str(state)): int(n)
                for standard, state, n in tx.execute(
                    f"SELECT standard, {CLOSED_STATE} AS state, COUNT(*) FROM referral_clocks "  # noqa: S608 -- ours
                    f"WHERE referral_id IN ({marks}) AND {CLOSED} GROUP BY standard, state",
                    keys,
                )
            }
        )

    def _load(self, tx: Tx, keys: Sequence[str]) -> dict[str, tuple[int, Referral | None]]:
        """The referrals of a batch already in the view (one query), with their positions."""
        marks = ", ".join("?" for _ in keys)
        rows = tx.execute(f"SELECT id, seq, state FROM referral_rows WHERE id IN ({marks})", keys)  # noqa: S608
        return {key: (int(seq), referral_of(self.codec.decode(state))) for key, seq, state in rows}

    def _clocks(self, r: Referral) -> list[tuple[Any, ...]]:
        def at(moment: datetime | None) -> int | None:
            return None if moment is None else micros(moment)

        rows = []
        for clock in compute_clocks(r.history, r.channel, r.urgency, self.policy, FAR_FUTURE):
            pending = {
                kind: micros(when)
                for kind, when in clock.due_flags(FAR_FUTURE)
                if (clock.standard.value, kind, clock.started_at) not in r.flags
            }
            rows.append(
                (
                    str(r.id),
                    clock.standard.value,
                    clock.responsible_org,
                    clock.service,
                    micros(clock.started_at),
                    micros(clock.due_at),
                    micros(clock.at_risk_at),
                    at(clock.met_at),
                    at(clock.stopped_at),
                    int(clock.bound.total_seconds()),
                    r.version,
                    pending.get(FLAG_KINDS[0]),
                    pending.get(FLAG_KINDS[1]),
                    min(pending.values(), default=None),
                )
            )
        return rows


class ReferralIndex:
    """The queries the application asks of the view (each reads after catching up with the log)."""

    def __init__(self, projector: Projector, view: ReferralView) -> None:
        self.projector = projector
        self.view = view
        self._ahead: _Ahead | None = None
        """The clocks the last look-ahead read (`due_by`), for the ticks it reached."""

    def page(self, listing: Listing) -> list[tuple[int, Referral]]:
        """Referrals in submission order after position `listing.after`, at most `listing.limit` of them."""
        return [(seq, self._referral(state)) for seq, state in self._page(listing, "state")]

    def documents(self, listing: Listing) -> list[tuple[int, bytes]]:
        """The same page's referrals as the API shows them (`documents.document`), as the view keeps them."""
        return [(seq, self.view.codec.open(kept)) for seq, kept in self._page(listing, "document")]

    def _page(self, listing: Listing, column: str) -> list[tuple[int, bytes]]:
        """A page's positions with their rows' `column`: in submission order after `listing.after`, at most
        `listing.limit` of them (one indexed range a branch of the listing's scope)."""
        filters = {k: v for k, v in (("to_org", listing.to_org), ("from_org", listing.from_org)) if v is not None}
        if listing.status is not None:
            filters["status"] = listing.status
        branches = _branches(filters, listing.scope)
        limit = "" if listing.limit is None else f" LIMIT {int(listing.limit)}"
        found: dict[int, bytes] = {}
        with self.projector.reading() as tx:
            for branch in branches:
                where = " AND ".join([*(f"{name} = ?" for name in branch), "seq > ?"])
                sql = f"SELECT seq, {column} FROM referral_rows WHERE {where} ORDER BY seq{limit}"  # noqa: S608 -- ours
                found.update(tx.execute(sql, [*branch.values(), listing.after]))
        return [(int(seq), found[seq]) for seq in sorted(found)[: listing.limit]]

    def compliance(
        self, org: str | None, service: str | None, start: datetime | None, end: datetime | None, now: datetime
    ) -> list[Compliance]:
        """Per standard, over the clocks started in [start, end): decided, met on time, median time to meet."""
        conditions, params = [], []
        for sql, value in (
            ("responsible_org = ?", org),
            ("service = ?", service),
            ("started_at >= ?", None if start is None else micros(start)),
            ("started_at < ?", None if end is None else micros(end)),
        ):
            if value is not None:
                conditions.append(sql)
                params.append(value)
        where = " AND ".join(conditions) or "1 = 1"
        decided = "(met_at IS NOT NULL OR stopped_at > due_at OR (stopped_at IS NULL AND due_at <= ?))"
        with self.projector.reading() as tx:
            counts = {
                row[0]: (int(row[1]), int(row[2]), int(row[3]))
                for row in tx.execute(
                    f"SELECT standard, SUM(CASE WHEN {decided} THEN 1 ELSE 0 END), "  # noqa: S608 -- our columns
                    "SUM(CASE WHEN met_at <= due_at THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN met_at IS NOT NULL THEN 1 ELSE 0 END) "
                    f"FROM referral_clocks WHERE {where} GROUP BY standard",
                    [micros(now), *params],
                )
            }
            medians = {
                standard: _median(tx, where, params, standard, met_count)
                for standard, (_, _, met_count) in counts.items()
                if met_count
            }
        report = []
        for standard in DelayStandard:
            total, met, _ = counts.get(standard.value, (0, 0, 0))
            report.append(
                Compliance(
                    standard,
                    total,
                    met,
                    total - met,
                    round(100 * met / total, 1) if total else None,
                    medians.get(standard.value),
                )
            )
        return report

    def clock_states(self, now: datetime) -> dict[tuple[str, str], int]:
        """How many clocks stand in each state at `now`, by standard (the states of `compute_clocks`): the totals of
        the met and stopped ones, and the open ones (an index of their own), whatever the history behind them."""
        states: Counter[tuple[str, str]] = Counter()
        with self.projector.reading() as tx:
            totals = tx.execute("SELECT standard, state, clocks FROM referral_clock_totals")
            current = tx.execute(
                f"SELECT standard, {OPEN_STATE} AS state, COUNT(*) FROM referral_clocks "  # noqa: S608 -- ours
                "WHERE met_at IS NULL AND stopped_at IS NULL GROUP BY standard, state",
                (micros(now), micros(now)),
            )
        for standard, state, count in [*totals, *current]:
            states[(str(standard), str(state))] += int(count)
        return {key: n for key, n in states.items() if n}

    def due(self, now: datetime) -> list[DueFlags]:
        """The thresholds passed by `now` and not flagged yet, by referral and in the order of their true times: the
        index on each clock's next threshold and the clocks' own rows, nothing else is read or decoded. After a
        look-ahead (`due_by`) that reached `now`, its rows serve for each referral still at the version they were
        read at: the referrals due and their versions are all that is read then."""
        limit = micros(now)
        pending = self._looked_ahead(limit)
        if pending is None:
            pending = _pending(self.projector.read(DUE_CLOCKS, (limit,)), limit)
        return [
            DueFlags(entry.referral_id, entry.version, [flag for at, flag in entry.flags if at <= limit])
            for entry in pending.values()
        ]

    def due_by(self, until: datetime) -> list[tuple[uuid.UUID, int]]:
        """The referrals with a threshold passed by `until` and not flagged yet, each with the version the view
        holds of it (the tick's next flags follow it); their clocks are kept for the tick (`due`)."""
        limit = micros(until)
        pending = _pending(self.projector.read(DUE_CLOCKS, (limit,)), limit)
        self._ahead = _Ahead(limit, pending)
        return [(entry.referral_id, entry.version) for entry in pending.values()]

    def _looked_ahead(self, limit: int) -> dict[str, _Pending] | None:
        """The clocks due by `limit` as the last look-ahead read them, when it reached that far and each referral
        with one is still at the version it read (its clocks are then unchanged); None: they are to be read."""
        ahead = self._ahead
        if ahead is None or limit > ahead.until:
            return None
        pending: dict[str, _Pending] = {}
        for referral_id, version in self.projector.read(DUE_REFERRALS, (limit,)):
            entry = ahead.pending.get(referral_id)
            if entry is None or entry.version != int(version):
                return None
            pending[referral_id] = entry
        return pending

    def _referral(self, state: bytes) -> Referral:
        return referral_of(self.view.codec.decode(state))


def _branches(filters: dict[str, str], scope: str | None) -> list[dict[str, str]]:
    """The equality conditions whose union is the listing: within a scope, the referrals the organisation sent and
    those it received (one indexed range each); a branch another one already covers is left out."""
    if scope is None:
        return [filters]
    branches = [{**filters, part: scope} for part in ("to_org", "from_org") if filters.get(part, scope) == scope]
    return [b for b in branches if not any(o is not b and o.items() < b.items() for o in branches)]


def _median(tx: Tx, where: str, params: list[Any], standard: str, count: int) -> float:
    """The median time to meet a standard, read from the middle of the sorted durations."""
    rows = tx.execute(
        f"SELECT met_at - started_at AS d FROM referral_clocks WHERE {where} AND standard = ? "  # noqa: S608 -- ours
        "AND met_at IS NOT NULL ORDER BY d LIMIT ? OFFSET ?",
        [*params, standard, 2 - count % 2, (count - 1) // 2],
    )
    middle = [int(row[0]) / 1_000_000 for row in rows]
    return middle[0] if len(middle) == 1 else (middle[0] + middle[1]) / 2
