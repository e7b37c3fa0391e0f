"""The notifications board at scale: what the delivery worker and the deliveries listing cost as history grows.

For each size N, a store is seeded through the application: 20 organisations with a webhook subscription each, referral
events routed by `Notifications.route` (three events per referral, each concerning two organisations: N deliveries in
all), then every delivery but the last 5 % attempted and recorded delivered by the worker's own calls
(`due_deliveries`, `record_outcomes`). Then, each in a new process on that store (`--cold`):

- cold start: opening the application and the worker's first `due_deliveries()`, and resident memory after it;
- the worker's poll: `due_deliveries()` with 200 due, and with nothing due (the call it repeats every 50 ms when idle);
- one subscription's deliveries as `GET /v1/subscriptions/{id}/deliveries?limit=100` reads them: first page, and a
  page 90 % down (keyset cursor).

`--compare-with DIR` runs the same cold process with another source tree (say, an export of an older commit) on the same
store: its figures are printed beside these. Rebuilding the board from the log (`rls projections rebuild`) is timed
once per store, in process.

Usage: `PYTHONPATH=. .venv/bin/python bench/notifications_board.py --deliveries 10000 100000 [--stores sqlite postgres]`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking

from bench.scale import rss_mib, store, timed
from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.notifications.application import AttemptOutcome, Notifications, RoutedEvent, SubscriptionRequest
from services.notifications.domain import DeliveryChannel, ReferralFacts

ORGS = 20
EVENTS = ("submitted", "received", "accepted")
PENDING = 0.05
T0 = datetime(2026, 1, 1, tzinfo=UTC)
EARLY = T0 - timedelta(days=1)
"""A time before every delivery was scheduled: nothing is due then."""


def documentation_address(host: str, port: int) -> list[str]:
    """The subscriptions' webhook hosts resolve to a public address (nothing connects there: no worker runs)."""
    return ["93.184.215.14"]


def seed(app: Notifications, clock: ManualClock, deliveries: int) -> float:
    """Subscriptions, routed events and delivered outcomes; returns deliveries scheduled per second."""
    orgs = [f"org-{i:02d}" for i in range(ORGS)]
    for org_id in orgs:
        app.subscribe(SubscriptionRequest(org_id, DeliveryChannel.WEBHOOK, f"https://{org_id}.example/h"), "bench")
    started = time.perf_counter()
    for i in range(deliveries // 2):
        referral, step = divmod(i, len(EVENTS))
        from_org, to_org = orgs[referral % ORGS], orgs[(referral * 7 + 1) % ORGS]
        event_type = f"ca.qc.rls.referral.{EVENTS[step]}.v1"
        facts = ReferralFacts(
            str(uuid.UUID(int=referral)), event_type, from_org, to_org, urgency="URGENT", services=frozenset({"AAOR"})
        )
        routed = RoutedEvent(str(uuid.UUID(int=(i + 1) << 64)), event_type, facts, {"id": str(i), "type": event_type})
        app.route(routed, Tracking("bench#0", i))
        clock.advance(timedelta(seconds=1))
    rate = deliveries / (time.perf_counter() - started)
    to_deliver = int(deliveries * (1 - PENDING))
    while to_deliver > 0:
        due = [d for batch in app.due_deliveries(min(200, to_deliver)) for d in batch.deliveries]
        app.record_outcomes([AttemptOutcome(d.id, delivered=True) for d in due])
        to_deliver -= len(due)
    return rate


def cold(url: str, requests: int) -> dict[str, float]:
    """Figures of a new process on a seeded store (printed as JSON)."""
    started = time.perf_counter()
    app = Notifications(env=persistence_env(url), clock=ManualClock(T0 + timedelta(days=365)))
    app.due_deliveries()
    figures = {"cold_start_s": time.perf_counter() - started, "rss_mib": rss_mib(os.getpid())}
    org_id = "org-00"
    [subscription] = app.list_subscriptions(org_id)
    every = [d.seq for d in app.list_deliveries(org_id, subscription.id)]
    deep = every[int(len(every) * 0.9)]

    def page(after: int) -> Any:
        try:
            return app.list_deliveries(org_id, subscription.id, None, after, 101)
        except TypeError:  # an older tree: the API sliced the whole list
            return [d for d in app.list_deliveries(org_id, subscription.id) if d.seq > after][:101]

    for name, call in (
        ("due_200", lambda: app.due_deliveries(200)),
        ("due_idle", lambda: app.board.due(EARLY, 200)),
        ("first_page", lambda: page(0)),
        ("deep_page", lambda: page(deep)),
    ):
        figures[f"{name}_p50_ms"], figures[f"{name}_p99_ms"] = timed(call, requests)
    figures["rss_after_mib"] = rss_mib(os.getpid())
    app.close()
    return figures


def cold_process(url: str, requests: int, tree: Path) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--cold", url, "--requests", str(requests)]
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{Path(__file__).resolve().parents[1]}"}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=tree)
    figures: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    return figures


def measure(n: int, url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    clock = ManualClock(T0)
    with Notifications(env=persistence_env(url), clock=clock, resolve=documentation_address) as app:
        seeded = seed(app, clock, n)
        [projector] = app.projectors
        started = time.perf_counter()
        applied = projector.rebuild()
        rebuilt = applied / (time.perf_counter() - started)
    here = {"seeded_per_s": seeded, "rebuilt_per_s": rebuilt, **cold_process(url, args.requests, Path.cwd())}
    found = {"this tree": here}
    if args.compare_with:
        found[str(args.compare_with)] = cold_process(url, args.requests, args.compare_with)
    return found


ROWS = (
    ("seeding through route(), deliveries/s", "seeded_per_s", "{:.0f}"),
    ("board rebuilt from the log, events/s", "rebuilt_per_s", "{:.0f}"),
    ("cold start: open + first due_deliveries(), s", "cold_start_s", "{:.2f}"),
    ("resident memory after start / after the calls, MiB", ("rss_mib", "rss_after_mib"), "{:.0f} / {:.0f}"),
    ("due_deliveries(), 200 due, p50 / p99 ms", ("due_200_p50_ms", "due_200_p99_ms"), "{:.1f} / {:.1f}"),
    ("due, nothing due (idle poll), p50 / p99 ms", ("due_idle_p50_ms", "due_idle_p99_ms"), "{:.2f} / {:.1f}"),
    ("deliveries limit=100, first page p50 / p99 ms", ("first_page_p50_ms", "first_page_p99_ms"), "{:.1f} / {:.1f}"),
    ("deliveries limit=100, 90 % down p50 / p99 ms", ("deep_page_p50_ms", "deep_page_p99_ms"), "{:.1f} / {:.1f}"),
)


def show(figures: dict[str, float], key: str | tuple[str, ...], form: str) -> str:
    keys = (key,) if isinstance(key, str) else key
    return form.format(*(figures[k] for k in keys)) if all(k in figures for k in keys) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgres"], default=["sqlite"])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres-dsn")
    parser.add_argument("--compare-with", type=Path, help="another source tree, run on the same stores")
    parser.add_argument("--cold", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        print(json.dumps(cold(args.cold, args.requests)))
        return
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for kind in args.stores:
        columns: dict[str, dict[str, float]] = {}
        for n in args.deliveries:
            with tempfile.TemporaryDirectory(prefix="rls-board-") as scratch, store(kind, Path(scratch), args) as url:
                for tree, figures in measure(n, url, args).items():
                    columns[f"{n:,} {'' if tree == 'this tree' else Path(tree).name}".strip()] = figures
            print(f"{kind}, {n:,} deliveries measured; load average {os.getloadavg()}", flush=True)
        width = max(len(label) for label, _, _ in ROWS)
        print(f"\n{kind}: {ORGS} webhook subscriptions, {PENDING:.0%} of deliveries pending")
        print(" " * width + "".join(f"{name:>22}" for name in columns))
        for label, key, form in ROWS:
            print(label.ljust(width) + "".join(f"{show(f, key, form):>22}" for f in columns.values()))
        print(flush=True)


if __name__ == "__main__":
    main()
