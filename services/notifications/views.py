"""The notifications service's read model: a projection (`services.common.projections`) of subscriptions and deliveries.

`board_subscriptions` holds every subscription (by organisation, in the order they were created) and
`board_deliveries` every delivery of a live subscription (by subscription, in the order they were scheduled); both keep
the entry itself encoded like the store's events (a webhook's secret stays encrypted when the store is).
`board_queue` holds the unfinished deliveries of each subscription and referral in the order they were scheduled: only
the first of them may be attempted (order per referral), and its `due_at` (the time it may be, set only on the first
delivery of each queue of an active subscription) is what the delivery worker's query reads, so asking what is due
never reads finished deliveries or the queues of paused subscriptions. A deleted subscription's deliveries are dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from services.common.projections import Database, EventTally, Projection, Projector, StateCodec, Tx, micros
from services.contract.topics import org_referrals
from services.notifications.domain import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Dispatch,
    Filters,
    PreviousSecret,
    Subscription,
    SubscriptionStatus,
    after_rotation,
    signing_secrets,
)


@dataclass
class SubscriptionEntry:
    id: uuid.UUID
    seq: int
    org_id: str
    channel: DeliveryChannel
    url: str | None
    secret: str | None
    filters: Filters
    status: SubscriptionStatus
    status_reason: str | None
    created_at: datetime
    request_digest: str
    version: int
    previous_secrets: list[PreviousSecret] = field(default_factory=list)
    """Secrets replaced by a rotation, still signing until their `valid_until`."""

    @property
    def topic(self) -> str | None:
        return org_referrals(self.org_id) if self.channel is DeliveryChannel.KAFKA_TOPIC else None

    @property
    def previous_secret_valid_until(self) -> datetime | None:
        """When the last secrets replaced stop (or stopped) signing; None before any rotation."""
        return max((p.valid_until for p in self.previous_secrets), default=None)

    def signing_secrets(self, at: datetime) -> list[str]:
        """What a webhook sent at `at` is signed with (none for a topic)."""
        return [] if self.secret is None else signing_secrets(self.secret, self.previous_secrets, at)

    def state(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "filters": self.filters.to_document(),
            "previous_secrets": [{"secret": p.secret, "valid_until": p.valid_until} for p in self.previous_secrets],
        }

    @classmethod
    def of(cls, state: dict[str, Any]) -> SubscriptionEntry:
        return cls(
            **{
                **state,
                "channel": DeliveryChannel(state["channel"]),
                "status": SubscriptionStatus(state["status"]),
                "filters": Filters.of(state["filters"]),
                "previous_secrets": [PreviousSecret(**p) for p in state.get("previous_secrets", ())],
            }
        )


@dataclass
class DeliveryEntry:
    id: uuid.UUID
    seq: int
    """Position of its scheduling in the log: the order of deliveries of one referral to one subscription."""
    subscription_id: uuid.UUID
    org_id: str
    channel: DeliveryChannel
    dispatch_id: uuid.UUID
    referral_id: str
    event_id: str
    event_type: str
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None

    @classmethod
    def of(cls, state: dict[str, Any]) -> DeliveryEntry:
        return cls(**{**state, "channel": DeliveryChannel(state["channel"]), "status": DeliveryStatus(state["status"])})


@dataclass(frozen=True)
class DueBatch:
    """Deliveries of one referral to one subscription that may be attempted now, in order."""

    subscription: SubscriptionEntry
    deliveries: list[DeliveryEntry]


BOARD_EVENTS = (
    Subscription.Created,
    Subscription.Paused,
    Subscription.Resumed,
    Subscription.Disabled,
    Subscription.Deleted,
    Subscription.SecretRotated,
    Delivery.Scheduled,
    Delivery.Failed,
    Delivery.Delivered,
    Delivery.DeadLettered,
    Delivery.RedeliveryRequested,
)

REFRESH_DUE = """UPDATE board_queue SET due_at = CASE
    WHEN seq = (SELECT min(h.seq) FROM board_queue h
                WHERE h.subscription_id = board_queue.subscription_id AND h.referral_id = board_queue.referral_id)
     AND (SELECT s.status FROM board_subscriptions s WHERE s.id = board_queue.subscription_id) = 'ACTIVE'
    THEN next_attempt_at END
    WHERE subscription_id = ?"""
"""Sets `due_at` on the first delivery of each of a subscription's queues while it is active (NULL elsewhere)."""


def _at(moment: datetime | None) -> int | None:
    return None if moment is None else micros(moment)


class BoardView(Projection):
    """Subscriptions, deliveries and the queues of unfinished deliveries per subscription and referral."""

    name = "notifications_board"
    tables = ("board_subscriptions", "board_deliveries", "board_queue")
    version = "2"
    """2: secret rotations (`Subscription.SecretRotated`); a process of an older release applies nothing into the
    board it no longer knows how to keep, rather than pass over a rotation."""
    topics = frozenset(get_topic(cls) for cls in BOARD_EVENTS)

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec

    def schema(self, db: Database) -> Sequence[str]:
        return [
            f"""CREATE TABLE board_subscriptions (id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE,
                org_id TEXT NOT NULL, status TEXT NOT NULL, state {db.blob} NOT NULL)""",
            "CREATE INDEX board_subscriptions_org ON board_subscriptions (org_id, seq)",
            f"""CREATE TABLE board_deliveries (id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE,
                subscription_id TEXT NOT NULL, status TEXT NOT NULL, state {db.blob} NOT NULL)""",
            "CREATE INDEX board_deliveries_subscription ON board_deliveries (subscription_id, seq)",
            "CREATE INDEX board_deliveries_status ON board_deliveries (subscription_id, status, seq)",
            """CREATE TABLE board_queue (delivery_id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL,
                referral_id TEXT NOT NULL, seq BIGINT NOT NULL, next_attempt_at BIGINT, due_at BIGINT)""",
            "CREATE INDEX board_queue_queue ON board_queue (subscription_id, referral_id, seq)",
            "CREATE INDEX board_queue_due ON board_queue (due_at, seq)",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        for position, e in events:
            if isinstance(e, Subscription.Event):
                self._apply_subscription(tx, e, position)
            elif isinstance(e, Delivery.Event):
                self._apply_delivery(tx, e, position)

    # --- subscriptions -----------------------------------------------------------------------------------

    def _apply_subscription(self, tx: Tx, e: Any, position: int) -> None:
        subscription_id = str(e.originator_id)
        if isinstance(e, Subscription.Created):
            entry = SubscriptionEntry(
                id=e.originator_id,
                seq=position,
                org_id=e.org_id,
                channel=DeliveryChannel(e.channel),
                url=e.url,
                secret=e.secret,
                filters=Filters.of(e.filters),
                status=SubscriptionStatus.ACTIVE,
                status_reason=None,
                created_at=e.created_at,
                request_digest=e.request_digest,
                version=e.originator_version,
            )
            tx.execute(
                "INSERT INTO board_subscriptions (id, seq, org_id, status, state) VALUES (?, ?, ?, ?, ?)",
                (subscription_id, position, entry.org_id, entry.status.value, self.codec.encode(entry.state())),
            )
            return
        row = tx.one("SELECT state FROM board_subscriptions WHERE id = ?", (subscription_id,))
        if row is None:
            return
        entry = SubscriptionEntry.of(self.codec.decode(row[0]))
        entry.version = e.originator_version
        if isinstance(e, Subscription.Paused):
            entry.status, entry.status_reason = SubscriptionStatus.PAUSED, None
        elif isinstance(e, Subscription.Resumed):
            entry.status, entry.status_reason = SubscriptionStatus.ACTIVE, None
        elif isinstance(e, Subscription.Disabled):
            entry.status, entry.status_reason = SubscriptionStatus.DISABLED, e.reason
        elif isinstance(e, Subscription.Deleted):
            entry.status, entry.secret, entry.previous_secrets = SubscriptionStatus.DELETED, None, []
            tx.execute("DELETE FROM board_deliveries WHERE subscription_id = ?", (subscription_id,))
            tx.execute("DELETE FROM board_queue WHERE subscription_id = ?", (subscription_id,))
        elif isinstance(e, Subscription.SecretRotated) and entry.secret is not None:
            entry.previous_secrets = after_rotation(
                entry.secret, entry.previous_secrets, e.secret, e.at, e.previous_valid_until
            )
            entry.secret = e.secret
        tx.execute(
            "UPDATE board_subscriptions SET status = ?, state = ? WHERE id = ?",
            (entry.status.value, self.codec.encode(entry.state()), subscription_id),
        )
        tx.execute(REFRESH_DUE, (subscription_id,))

    # --- deliveries --------------------------------------------------------------------------------------

    def _apply_delivery(self, tx: Tx, e: Any, position: int) -> None:
        delivery_id = str(e.originator_id)
        if isinstance(e, Delivery.Scheduled):
            live = tx.one(
                "SELECT 1 FROM board_subscriptions WHERE id = ? AND status <> ?",
                (str(e.subscription_id), SubscriptionStatus.DELETED.value),
            )
            if live is None:
                return  # scheduled for a subscription deleted meanwhile
            entry = DeliveryEntry(
                id=e.originator_id,
                seq=position,
                subscription_id=e.subscription_id,
                org_id=e.org_id,
                channel=DeliveryChannel(e.channel),
                dispatch_id=e.dispatch_id,
                referral_id=e.referral_id,
                event_id=e.event_id,
                event_type=e.event_type,
                created_at=e.scheduled_at,
                next_attempt_at=e.scheduled_at,
            )
            tx.execute(
                "INSERT INTO board_deliveries (id, seq, subscription_id, status, state) VALUES (?, ?, ?, ?, ?)",
                (delivery_id, position, str(entry.subscription_id), entry.status.value, self._encode(entry)),
            )
            self._enqueue(tx, entry)
            return
        row = tx.one("SELECT state FROM board_deliveries WHERE id = ?", (delivery_id,))
        if row is None:
            return
        entry = DeliveryEntry.of(self.codec.decode(row[0]))
        if isinstance(e, Delivery.Failed):
            entry.status, entry.attempts, entry.last_error = DeliveryStatus.FAILED, e.attempt, e.error
            entry.last_attempt_at, entry.next_attempt_at = e.at, e.retry_at
            tx.execute(
                "UPDATE board_queue SET next_attempt_at = ? WHERE delivery_id = ?",
                (_at(entry.next_attempt_at), delivery_id),
            )
        elif isinstance(e, Delivery.Delivered):
            entry.status, entry.attempts, entry.last_attempt_at = DeliveryStatus.DELIVERED, e.attempt, e.at
            entry.delivered_at, entry.next_attempt_at = e.at, None
            tx.execute("DELETE FROM board_queue WHERE delivery_id = ?", (delivery_id,))
        elif isinstance(e, Delivery.DeadLettered):
            entry.status, entry.last_error, entry.next_attempt_at = DeliveryStatus.DEAD_LETTERED, e.reason, None
            tx.execute("DELETE FROM board_queue WHERE delivery_id = ?", (delivery_id,))
        elif isinstance(e, Delivery.RedeliveryRequested):
            entry.status, entry.next_attempt_at = DeliveryStatus.PENDING, e.at
            self._enqueue(tx, entry)
        tx.execute(
            "UPDATE board_deliveries SET status = ?, state = ? WHERE id = ?",
            (entry.status.value, self._encode(entry), delivery_id),
        )
        tx.execute(REFRESH_DUE + " AND referral_id = ?", (str(entry.subscription_id), entry.referral_id))

    def _encode(self, entry: DeliveryEntry) -> bytes:
        return self.codec.encode(entry.__dict__)

    def _enqueue(self, tx: Tx, entry: DeliveryEntry) -> None:
        """Into its queue at its place in scheduling order (or a new attempt time, when it is there already)."""
        tx.execute(
            "INSERT INTO board_queue (delivery_id, subscription_id, referral_id, seq, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO UPDATE SET next_attempt_at = excluded.next_attempt_at",
            (str(entry.id), str(entry.subscription_id), entry.referral_id, entry.seq, _at(entry.next_attempt_at)),
        )
        tx.execute(REFRESH_DUE + " AND referral_id = ?", (str(entry.subscription_id), entry.referral_id))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class Board:
    """The board's queries, each first applying what was recorded since (answers are copies)."""

    def __init__(self, projector: Projector, codec: StateCodec) -> None:
        self.projector = projector
        self.codec = codec

    def catch_up(self) -> None:
        """Applies every event recorded since (queries do it by themselves)."""
        self.projector.catch_up()

    def _subscriptions(self, tx: Tx, sql: str, params: Sequence[Any]) -> list[SubscriptionEntry]:
        return [SubscriptionEntry.of(self.codec.decode(row[0])) for row in tx.execute(sql, params)]

    def _deliveries(self, tx: Tx, sql: str, params: Sequence[Any]) -> list[DeliveryEntry]:
        return [DeliveryEntry.of(self.codec.decode(row[0])) for row in tx.execute(sql, params)]

    def subscription(self, subscription_id: uuid.UUID) -> SubscriptionEntry | None:
        with self.projector.reading() as tx:
            found = self._subscriptions(
                tx, "SELECT state FROM board_subscriptions WHERE id = ?", (str(subscription_id),)
            )
        return found[0] if found else None

    def subscriptions_of(
        self, org_ids: Sequence[str], after: int = 0, limit: int | None = None
    ) -> list[SubscriptionEntry]:
        """Live (not deleted) subscriptions of these organisations, oldest first, created after position `after`."""
        if not org_ids:
            return []
        page = "" if limit is None else " LIMIT ?"
        sql = (
            f"SELECT state FROM board_subscriptions WHERE org_id IN ({_marks(org_ids)}) "  # noqa: S608
            f"AND status <> ? AND seq > ? ORDER BY seq{page}"
        )
        params = [*org_ids, SubscriptionStatus.DELETED.value, after, *([] if limit is None else [limit])]
        with self.projector.reading() as tx:
            return self._subscriptions(tx, sql, params)

    def live_count(self, org_id: str) -> int:
        """How many live (not deleted) subscriptions the organisation has."""
        sql = "SELECT COUNT(*) FROM board_subscriptions WHERE org_id = ? AND status <> ?"
        with self.projector.reading() as tx:
            row = tx.one(sql, (org_id, SubscriptionStatus.DELETED.value))
        assert row is not None  # a count is one row
        return int(row[0])

    def delivery(self, delivery_id: uuid.UUID) -> DeliveryEntry | None:
        with self.projector.reading() as tx:
            found = self._deliveries(tx, "SELECT state FROM board_deliveries WHERE id = ?", (str(delivery_id),))
        return found[0] if found else None

    def deliveries_of(
        self,
        subscription_id: uuid.UUID,
        status: DeliveryStatus | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[DeliveryEntry]:
        """In the order they were scheduled (those with this status, scheduled after position `after`)."""
        where = "subscription_id = ? AND seq > ?" + ("" if status is None else " AND status = ?")
        page = "" if limit is None else " LIMIT ?"
        params = [str(subscription_id), after, *([] if status is None else [status.value])]
        with self.projector.reading() as tx:
            return self._deliveries(
                tx,
                f"SELECT state FROM board_deliveries WHERE {where} ORDER BY seq{page}",  # noqa: S608
                [*params, *([] if limit is None else [limit])],
            )

    def due(self, now: datetime, limit: int, skip: Collection[uuid.UUID] = ()) -> list[DueBatch]:
        """For each active subscription (not in `skip`) and referral: the first unfinished delivery when it is due;
        for a topic, also the due ones right after it (Kafka keeps their order: one key, one partition). Earliest
        due first."""
        skipped = [str(s) for s in skip]
        but = f" AND subscription_id NOT IN ({_marks(skipped)})" if skipped else ""
        with self.projector.reading() as tx:  # one snapshot: another replica may delete a subscription's rows meanwhile
            heads = tx.execute(
                f"SELECT subscription_id, referral_id, delivery_id FROM board_queue WHERE due_at <= ?{but} "  # noqa: S608
                "ORDER BY due_at, seq LIMIT ?",
                (micros(now), *skipped, limit),
            )
            if not heads:
                return []
            found = self._states(tx, "board_subscriptions", {row[0] for row in heads})
            subscriptions = {key: SubscriptionEntry.of(state) for key, state in found.items()}
            runs = self._runs(tx, heads, subscriptions, micros(now))
            wanted = {delivery_id for run in runs.values() for delivery_id in run}
            deliveries = {
                key: DeliveryEntry.of(state) for key, state in self._states(tx, "board_deliveries", wanted).items()
            }
        return [DueBatch(subscriptions[row[0]], [deliveries[d] for d in runs[row[2]]]) for row in heads]

    def _states(self, tx: Tx, table: str, ids: set[str]) -> dict[str, dict[str, Any]]:
        """The decoded states of these rows of a table, by id."""
        keys = sorted(ids)
        rows = tx.execute(f"SELECT id, state FROM {table} WHERE id IN ({_marks(keys)})", keys)  # noqa: S608
        return {row[0]: self.codec.decode(row[1]) for row in rows}

    @staticmethod
    def _runs(tx: Tx, heads: list[Any], subscriptions: dict[str, SubscriptionEntry], now: int) -> dict[str, list[str]]:
        """For each due first delivery: the deliveries to attempt (for a topic, the due ones following it)."""
        runs: dict[str, list[str]] = {row[2]: [row[2]] for row in heads}
        topic_heads = [row[2] for row in heads if subscriptions[row[0]].channel is DeliveryChannel.KAFKA_TOPIC]
        if not topic_heads:
            return runs
        following = tx.execute(
            "SELECT h.delivery_id, q.delivery_id, q.next_attempt_at FROM board_queue h JOIN board_queue q "  # noqa: S608
            "ON q.subscription_id = h.subscription_id AND q.referral_id = h.referral_id AND q.seq > h.seq "
            f"WHERE h.delivery_id IN ({_marks(topic_heads)}) ORDER BY h.delivery_id, q.seq",
            topic_heads,
        )
        stopped: set[str] = set()
        for head, delivery_id, next_attempt_at in following:
            if head in stopped:
                continue
            if next_attempt_at is None or next_attempt_at > now:
                stopped.add(head)
                continue
            runs[head].append(delivery_id)
        return runs


def delivery_tally() -> EventTally:
    """Delivery attempts by outcome, and dead-lettered deliveries (the `rls_delivery_outcomes` metric)."""
    return EventTally(
        "delivery_outcome_tally",
        {
            Delivery.Delivered: lambda _: [("delivered", "")],
            Delivery.Failed: lambda failed: [("failed", failure_kind(failed))],
            Delivery.DeadLettered: lambda _: [("dead_lettered", "")],
        },
    )


def failure_kind(failed: Delivery.Failed) -> str:
    """A failed attempt's kind: `http_4xx`, `http_5xx`, `refused` (egress guard) or `transport` (no answer)."""
    if failed.error.startswith("HTTP "):
        return f"http_{failed.error[5:6]}xx"
    return "refused" if failed.error.startswith("refused") else "transport"


TARGET_CHANGES = frozenset({"ca.qc.rls.referral.submitted.v1", "ca.qc.rls.referral.redirected.v1"})
"""The referral events that set the receiving service (`to_service`), from their `occurred_at`."""


class ReferralTargets(Projection):
    """The receiving service of each referral routed, from each submission and redirect (`to_service` from its
    `occurred_at`; before a redirect, its `redirected_from_service`): what names a delay reminder's clock service when
    the reminder does not (published before `responsible_service` was added). Ids and codes only."""

    name = "referral_targets"
    tables = ("referral_targets",)
    version = "1"
    topics = frozenset({get_topic(Dispatch.Routed)})

    def schema(self, db: Database) -> Sequence[str]:
        return [
            """CREATE TABLE referral_targets (referral_id TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL,
                to_service TEXT NOT NULL, from_service TEXT, PRIMARY KEY (referral_id, seq))""",
            "CREATE INDEX referral_targets_at ON referral_targets (referral_id, at)",
        ]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        rows = []
        for position, e in events:
            event = e.cloud_event
            data = event.get("data") or {}
            if event.get("type") not in TARGET_CHANGES or not data.get("to_service") or not data.get("occurred_at"):
                continue
            at = micros(datetime.fromisoformat(data["occurred_at"]))
            rows.append((e.referral_id, position, at, data["to_service"], data.get("redirected_from_service")))
        tx.executemany(
            "INSERT INTO referral_targets (referral_id, seq, at, to_service, from_service) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (referral_id, seq) DO NOTHING",
            rows,
        )


class Targets:
    """Queries of `ReferralTargets`, each first applying what was recorded since."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def service_at(self, referral_id: str, at: datetime) -> str | None:
        """The referral's receiving service at `at`: set by the last submission or redirect at or before it, else the
        service the first redirect after it moved the referral from; None when neither was routed here."""
        with self.projector.reading() as tx:
            set_before = tx.one(
                "SELECT to_service FROM referral_targets WHERE referral_id = ? AND at <= ? "
                "ORDER BY at DESC, seq DESC LIMIT 1",
                (referral_id, micros(at)),
            )
            if set_before is not None:
                return str(set_before[0])
            moved_after = tx.one(
                "SELECT from_service FROM referral_targets WHERE referral_id = ? AND at > ? "
                "AND from_service IS NOT NULL ORDER BY at, seq LIMIT 1",
                (referral_id, micros(at)),
            )
        return None if moved_after is None else str(moved_after[0])
