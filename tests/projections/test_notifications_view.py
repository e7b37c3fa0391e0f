"""The notifications board: rebuilt from the first event it holds the same rows (and answers the same due deliveries)
as applied event by event (hypothesis over random histories of subscriptions, routed referral events, attempts,
retries, dead letters, redeliveries and reminders); `rls projections rebuild notifications`."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from services.cli import cli
from services.common.clock import ManualClock
from services.common.projections import Projector
from services.notifications.application import AttemptOutcome, Notifications
from services.notifications.domain import DeliveryStatus, NotificationsError, SubscriptionStatus
from services.notifications.main import build_application
from services.notifications.settings import NotificationsSettings
from services.notifications.views import BoardView, DeliveryEntry
from tests.notifications.conftest import START, Feed, Story, open_app, subscribe_topic, subscribe_webhook

ORGS = ("org-a", "org-b", "org-c")
SETUP = [
    ("webhook", "org-a"),
    ("topic", "org-b"),
    ("webhook", "org-b"),
    ("topic", "org-c"),
    ("submit", "org-a", "org-b"),
]
"""Every history starts with subscriptions of each organisation and a referral between two of them."""

steps = st.one_of(
    st.tuples(st.just("webhook"), st.sampled_from(ORGS)),
    st.tuples(st.just("topic"), st.sampled_from(ORGS)),
    st.tuples(st.sampled_from(("pause", "resume", "unsubscribe")), st.integers(0, 10)),
    st.tuples(st.just("submit"), st.sampled_from(ORGS), st.sampled_from(ORGS)),
    st.tuples(st.sampled_from(("receive", "redirect", "remind")), st.integers(0, 10), st.sampled_from(ORGS)),
    st.tuples(st.just("attempt"), st.lists(st.sampled_from(("delivered", "failed", "gone")), min_size=1, max_size=4)),
    st.tuples(st.just("redeliver"), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.integers(1, 30 * 60)),
)


def rows(projector: Projector) -> dict[str, list[Any]]:
    """Every row of the board, the entries' states decoded."""
    view = projector.projection
    assert isinstance(view, BoardView)
    found: dict[str, list[Any]] = {}
    with projector.reading() as tx:
        for table in ("board_subscriptions", "board_deliveries"):
            found[table] = sorted(
                ([*row[:-1], view.codec.decode(row[-1])] for row in tx.execute(f"SELECT * FROM {table}")),  # noqa: S608
                key=repr,
            )
        found["board_queue"] = sorted((list(row) for row in tx.execute("SELECT * FROM board_queue")), key=repr)
    return found


def expected_due(app: Notifications, subscriptions: list[tuple[str, uuid.UUID]]) -> list[list[uuid.UUID]]:
    """What is due, from each subscription's deliveries alone: per active subscription and referral, the unfinished
    deliveries in scheduling order, the first of them when due, and for a topic the due ones right after it."""
    now, runs = app.clock(), []
    for org_id, subscription_id in subscriptions:
        subscription = app.board.subscription(subscription_id)
        if subscription is None or subscription.status is not SubscriptionStatus.ACTIVE:
            continue
        queues: dict[str, list[DeliveryEntry]] = {}
        for delivery in app.list_deliveries(org_id, subscription_id):
            if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
                queues.setdefault(delivery.referral_id, []).append(delivery)
        for queue in queues.values():
            run = list(itertools.takewhile(lambda d: d.next_attempt_at is not None and d.next_attempt_at <= now, queue))
            if run:
                runs.append([d.id for d in run[: None if subscription.topic else 1]])
    return sorted(runs)


class Player:
    """Runs a history against the application, as its API, consumer and delivery worker would."""

    def __init__(self, app: Notifications, clock: ManualClock) -> None:
        self.app, self.clock, self.feed = app, clock, Feed(app)
        self.subscriptions: list[tuple[str, uuid.UUID]] = []
        self.stories: list[Story] = []

    def play(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind in ("webhook", "topic"):
            self._subscribe(kind, item[1])
        elif kind in ("pause", "resume", "unsubscribe") and self.subscriptions:
            org_id, subscription_id = self.subscriptions[item[1] % len(self.subscriptions)]
            getattr(self.app, kind)(org_id, subscription_id, "test")
        elif kind == "submit":
            self.stories.append(Story(item[1], item[2]))
            self.feed(self.stories[-1].submitted())
        elif kind in ("receive", "redirect", "remind") and self.stories:
            story = self.stories[item[1] % len(self.stories)]
            events = {
                "receive": lambda: story.changed("received", "RECEIVED"),
                "redirect": lambda: story.redirected(item[2]),
                "remind": lambda: story.delay("at-risk", item[2]),
            }
            self.feed(events[kind]())
        elif kind == "attempt":
            self._attempt(item[1])
        elif kind == "redeliver":
            self._redeliver(item[1])
        elif kind == "wait":
            self.clock.advance(timedelta(minutes=item[1]))

    def _subscribe(self, channel: str, org_id: str) -> None:
        if channel == "webhook":
            subscription_id = subscribe_webhook(
                self.app, org_id, f"https://{org_id}.example/h{len(self.subscriptions)}"
            )
        else:
            subscription_id = subscribe_topic(self.app, org_id)
        self.subscriptions.append((org_id, subscription_id))

    def _attempt(self, outcomes: list[str]) -> None:
        due = [d for batch in self.app.due_deliveries() for d in batch.deliveries]
        self.app.record_outcomes(
            [
                AttemptOutcome(
                    d.id, outcome == "delivered", None if outcome == "delivered" else "HTTP 503", outcome == "gone"
                )
                for d, outcome in zip(due, outcomes * len(due), strict=False)
            ]
        )

    def _redeliver(self, index: int) -> None:
        deliveries = [
            d for org_id, s in self.subscriptions for d in self.app.board.deliveries_of(s) if d.org_id == org_id
        ]
        if deliveries:
            delivery = deliveries[index % len(deliveries)]
            self.app.redeliver(delivery.org_id, delivery.id, "test")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=50))
def test_a_rebuild_gives_the_same_rows_as_incremental_application(history: list[tuple[Any, ...]]) -> None:
    clock = ManualClock(START)
    with open_app("memory://", clock) as app:
        player = Player(app, clock)
        for item in SETUP + history:
            with contextlib.suppress(NotificationsError):  # refused now (a second topic subscription, say)
                player.play(item)
            # the board applies the new events a few at a time
            due = sorted([d.id for d in batch.deliveries] for batch in app.due_deliveries())
            assert due == expected_due(app, player.subscriptions)
        projector = app.projectors[0]  # the board (the other is the deliveries' tally)
        incremental, due = rows(projector), app.due_deliveries()
        event(", ".join(sorted({row[3] for row in incremental["board_deliveries"]})))
        projector.rebuild()
        assert rows(projector) == incremental
        assert app.due_deliveries() == due


@pytest.fixture
def service_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NotificationsSettings:
    """The service's settings with its store under a directory of the test's own (the CLI reads the same)."""
    monkeypatch.setenv("RLS_VAR_DIR", str(tmp_path))
    return NotificationsSettings(var_dir=tmp_path)


def test_rls_projections_rebuild_rebuilds_the_notifications_board(service_settings: NotificationsSettings) -> None:
    with build_application(service_settings) as app:
        subscribe_topic(app, "org-a")
        Feed(app)(*Story("org-a", "org-b").lifecycle())
        before = rows(app.projectors[0])
    assert len(before["board_deliveries"]) == 4
    result = CliRunner().invoke(cli, ["projections", "rebuild", "notifications"])
    assert result.exit_code == 0, result.output
    assert "notifications_board: 5 events applied" in result.output
    with build_application(service_settings) as app:
        assert rows(app.projectors[0]) == before
