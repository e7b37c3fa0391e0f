"""Scale benchmark of the referral service's read side: ten years of referrals on one server.

For each N given and each store (SQLite file, PostgreSQL), on a fresh store:

1. seeds N referrals through the domain and the event store's own API (the application's mapper, its sealing
   recorder's `insert_events`; `--batch` referrals per transaction): each is submitted, called back and analysed
   (3 events, both AAOR clocks met), their submissions spread over ten years among `--orgs` organisations; then ten
   groups of 1,000 crisis referrals, each group submitted 1 min after the previous one, the first 50 min before the
   end: ten ticks' work (each group's at-risk threshold, 45 min, passes between two ticks);
2. applies the whole log to the referral view (what a first start after an upgrade does once), then gathers the
   planner's statistics (what autovacuum does on a store that grew over years);
3. starts `rls serve referral` on it (relay and checkpoints off; a local Kafka, started once, for /readyz), times
   the start until /readyz answers 200, reads its resident memory;
4. over HTTP as a receiving organisation's worker: `GET /v1/referrals?to_org=…&limit=50` on the first page and on a deep
   page (keyset cursor at 90 % of that organisation's referrals), the compliance report of one organisation over one
   month; p50 and p99 of `--requests` calls each;
5. in process, the heap settled as the service settles it at start (`settle_heap`): ten clock ticks, 1 min apart,
   each with 1,000 clocks due (median and worst wall time, median CPU time of this process: what the load of other
   processes does not inflate), then one with nothing due. The ticks alternate two ways of finding the seals they
   chain to (PostgreSQL): looked ahead before the tick, as the service's loop does an interval before
   (`Referrals.look_ahead`, timed apart: reads, under no lock), or read ahead on other connections while the tick's
   events are encoded and inserted (what a tick nothing looked ahead for does); five ticks each, in one run.

Every figure is printed side by side for the sizes given. PostgreSQL is a local server started here (initdb, fsync
off; `--shared-buffers` sizes its cache) unless `--postgres-dsn` names one; Kafka likewise unless `--kafka` names one.

Usage: `.venv/bin/python bench/scale.py --referrals 10000 100000 [--stores sqlite postgres] [--requests 200]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg.sql import SQL, Identifier

from services.common.auth import load_dev_key, mint_dev_token
from services.common.clock import ManualClock
from services.common.cursors import ListCursors
from services.common.heap import settle_heap
from services.common.sqlstore import PostgresTarget
from services.referral.application import Referrals
from services.referral.domain import Referral, Step, referral_id_for
from services.referral.main import build_application, build_cursors
from services.referral.settings import ReferralSettings
from services.referral.views import Listing
from services.runtime.kafka_local import LocalKafka, ensure_jars, find_java
from services.runtime.postgres_local import throwaway
from services.runtime.settings import RuntimeSettings

DUE = 1000
TICKS = 10
TICK_SPACING = timedelta(minutes=1)
"""Each tick finds the next group of DUE referrals due (their at-risk thresholds pass between two ticks)."""
VIEW_BATCH = 5000
"""Events per transaction while the view is first built (the service's own batch is 500: short write locks)."""
YEARS = 10
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Figures:
    seeded_per_s: float = 0.0
    projected_per_s: float = 0.0
    cold_start_s: float = 0.0
    rss_start_mib: float = 0.0
    rss_after_mib: float = 0.0
    first_p50_ms: float = 0.0
    first_p99_ms: float = 0.0
    deep_p50_ms: float = 0.0
    deep_p99_ms: float = 0.0
    compliance_p50_ms: float = 0.0
    compliance_p99_ms: float = 0.0
    ticks: dict[bool, list[Tick]] = field(default_factory=lambda: {True: [], False: []})
    """The ticks with 1,000 due, by whether they were looked ahead for."""
    look_ahead_ms: list[float] = field(default_factory=list)
    tick_idle_ms: float = 0.0


@dataclass(frozen=True)
class Tick:
    wall_ms: float
    cpu_ms: float
    flags: int


def referral(n: int, at: datetime, from_org: str, to_org: str, service: str, urgency: str) -> Referral:
    return Referral(
        id=referral_id_for(from_org, f"scale-{n}"),
        subject_id=f"S-{n:08d}",
        from_org=from_org,
        from_service="INFO_SOCIAL",
        to_org=to_org,
        to_service=service,
        channel="PHONE",
        urgency=urgency,
        reason_code="ANXIETY",
        accompaniment="NONE",
        agreement_id=None,
        agreement_kind=None,
        submitted_by="scale",
        submitted_at=at,
        request_digest="scale",
    )


def seed(app: Referrals, n: int, orgs: list[str], end: datetime, batch: int) -> float:
    """N handled referrals over ten years, then the ones due at the end; returns referrals per second.

    Each referral is built by the domain (submitted, then its steps performed), its events mapped by the application's
    mapper (encoded, compressed and encrypted as the service stores them) and inserted by the store's own recorder,
    `batch` referrals per transaction, sealed by it in that transaction."""
    started = time.perf_counter()
    spacing = timedelta(days=365 * YEARS) / n
    pending: list[Referral] = []
    for i in range(n):
        at = end - timedelta(days=365 * YEARS) + i * spacing
        from_org, to_org = orgs[i % len(orgs)], orgs[(i * 7 + 3) % len(orgs)]
        r = referral(i, at, from_org, to_org, "AAOR", "ROUTINE")
        for minutes, command in ((10, "callback"), (20, "analyse")):
            step_at = at + timedelta(minutes=minutes)
            r.perform(command, Step(to_org, "scale", step_at), step_at)
        pending.append(r)
        if len(pending) == batch:
            insert(app, pending)
            pending = []
    for i in range(DUE * TICKS):
        at = end - timedelta(minutes=50) + (i // DUE) * TICK_SPACING + timedelta(milliseconds=i % DUE)
        pending.append(referral(n + i, at, orgs[0], orgs[1], "CRISIS_24_7", "IMMEDIATE"))
        if len(pending) == batch:
            insert(app, pending)
            pending = []
    insert(app, pending)
    return n / (time.perf_counter() - started)


def insert(app: Referrals, referrals: list[Referral]) -> None:
    """One transaction of the store's recorder (which seals what it inserts)."""
    app.recorder.insert_events([app.mapper.to_stored_event(e) for r in referrals for e in r.collect_events()])


def analyze(url: str) -> None:
    """Gathers the planner's statistics on the store's tables, as autovacuum keeps them on a store that grew over
    years: right after a bulk load there are none, and plans from default estimates (parallel scans, JIT compilation)
    measure the load, not the steady state."""
    target = PostgresTarget.of(url)
    if target is None:
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite:
            lite.execute("ANALYZE")
        return
    with psycopg.connect(target.dsn, autocommit=True) as connection:
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (target.scope,))
        for (table,) in tables.fetchall():
            connection.execute(SQL("ANALYZE {}.{}").format(Identifier(target.scope), Identifier(table)))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(call: Callable[[], object], times: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[min(len(durations) - 1, int(len(durations) * 0.99))]


@contextmanager
def kafka(bootstrap: str | None) -> Iterator[str]:
    """The broker /readyz asks for: `--kafka` if given, else a local one started here (KRaft, from the jars)."""
    if bootstrap:
        yield bootstrap
        return
    settings = RuntimeSettings()
    scratch = Path(tempfile.mkdtemp(prefix="rls-scale-kafka-"))
    broker = LocalKafka(
        ensure_jars(settings.kafka_version, settings.cache_dir),
        scratch,
        free_port(),
        free_port(),
        settings.kafka_heap,
        find_java(settings.java_home),
    )
    broker.start(timeout=120)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def service(var: Path, url: str, bootstrap: str) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """`rls serve referral` on the store; yields it, its base URL and the seconds until /readyz said ready."""
    port = free_port()
    env = {
        **os.environ,
        "RLS_VAR_DIR": str(var),
        "REFERRAL_EVENT_STORE": url,
        "REFERRAL_PORT": str(port),
        "REFERRAL_RELAY_ENABLED": "false",
        "REFERRAL_CHECKPOINT_INTERVAL_S": "0",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
    }
    rls = Path(sys.executable).parent / "rls"
    started = time.perf_counter()
    process = subprocess.Popen([str(rls), "serve", "referral"], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("the referral service exited")
            time.sleep(0.02)
        yield process, base, time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def deep_cursor(app: Referrals, org: str, cursors: ListCursors) -> str:
    """The cursor 90 % down the organisation's received referrals (what a client paging that far would hold), as
    the service seals it for one of the organisation's workers listing `to_org=<org>`."""
    [projector] = app.projectors
    with projector.reading() as tx:
        [(count,)] = tx.execute("SELECT COUNT(*) FROM referral_rows WHERE to_org = ?", (org,))
        row = tx.one(
            "SELECT seq FROM referral_rows WHERE to_org = ? ORDER BY seq LIMIT 1 OFFSET ?", (org, int(count * 0.9))
        )
    assert row is not None
    return cursors.seal(int(row[0]), Listing(scope=org, to_org=org).cursor_binding(org))


def measure(n: int, url: str, var: Path, args: argparse.Namespace) -> Figures:
    figures = Figures()
    orgs = [f"org-{i:03d}" for i in range(args.orgs)]
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)  # the service's own ticks find nothing due
    settings = ReferralSettings(var_dir=var, event_store=url)
    with build_application(settings) as app:
        figures.seeded_per_s = seed(app, n, orgs, end, args.batch)
        print(f"  seeded {n} referrals at {figures.seeded_per_s:.0f}/s ({time.strftime('%H:%M:%S')})", flush=True)
        started = time.perf_counter()
        app.projectors[0].batch = VIEW_BATCH
        events = app.projectors[0].catch_up()
        figures.projected_per_s = events / (time.perf_counter() - started)
        print(f"  view built from {events} events at {figures.projected_per_s:.0f} events/s", flush=True)
        started = time.perf_counter()
        analyze(url)
        print(f"  planner statistics gathered in {time.perf_counter() - started:.1f} s", flush=True)
        cursor = deep_cursor(app, orgs[1], build_cursors(settings))
    key = load_dev_key(settings.signing_key_file)
    token = mint_dev_token(key, orgs[1], ["intake"], "scale", settings.jwt_audience, timedelta(hours=2))
    headers = {"Authorization": f"Bearer {token}"}
    with service(var, url, args.kafka) as (process, base, cold):
        figures.cold_start_s = cold
        figures.rss_start_mib = rss_mib(process.pid)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

            def get(path: str) -> None:
                response = client.get(path)
                response.raise_for_status()

            first = f"/v1/referrals?to_org={orgs[1]}&limit=50"
            get(first)  # the first request also imports what the route needs
            figures.first_p50_ms, figures.first_p99_ms = timed(lambda: get(first), args.requests)
            deep = f"{first}&cursor={cursor}"
            figures.deep_p50_ms, figures.deep_p99_ms = timed(lambda: get(deep), args.requests)
            month = (end - timedelta(days=365 * YEARS // 2)).replace(day=1, hour=0, minute=0, second=0)
            after = (month + timedelta(days=31)).replace(day=1)
            report = (
                f"/v1/standards/compliance?org={orgs[1]}&from={month:%Y-%m-%dT%H:%M:%SZ}&to={after:%Y-%m-%dT%H:%M:%SZ}"
            )
            figures.compliance_p50_ms, figures.compliance_p99_ms = timed(lambda: get(report), args.requests)
        figures.rss_after_mib = rss_mib(process.pid)
    with build_application(settings) as app:
        # the first group's at-risk passed 30 s ago, the second's comes 30 s later
        clock = app.clock = ManualClock(end - timedelta(minutes=4, seconds=30))
        app.projectors[0].catch_up()
        settle_heap()
        for i in range(TICKS):
            ahead = i % 2 == 0
            if ahead:  # as the service's loop did after its previous tick
                started = time.perf_counter()
                app.look_ahead(clock())
                figures.look_ahead_ms.append((time.perf_counter() - started) * 1000)
            started, cpu = time.perf_counter(), time.process_time()
            flags = app.tick()
            wall, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
            figures.ticks[ahead].append(Tick(wall, cpu, flags))  # CPU: this process's share, apart from load
            app.projectors[0].catch_up()  # the flags just raised
            clock.advance(TICK_SPACING)
        started = time.perf_counter()
        app.tick()
        figures.tick_idle_ms = (time.perf_counter() - started) * 1000
    return figures


@contextmanager
def store(kind: str, base: Path, args: argparse.Namespace) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{base / 'referral.db'}"
        return
    dsn = args.postgres_dsn
    with ExitStack() as stack:
        if dsn is None:
            sized = {"shared_buffers": args.shared_buffers} if args.shared_buffers else {}
            dsn = stack.enter_context(throwaway("rls-scale-pg", free_port(), sized)).dsn
        schema = "scale_" + uuid.uuid4().hex[:8]
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        yield f"{dsn}?schema={schema}"


ROWS: list[tuple[str, Callable[[Figures], str]]] = [
    ("seeding (domain, mapper, recorder), referrals/s", lambda f: f"{f.seeded_per_s:.0f}"),
    ("view built once from the log, events/s", lambda f: f"{f.projected_per_s:.0f}"),
    ("cold start to /readyz 200, s", lambda f: f"{f.cold_start_s:.2f}"),
    ("resident memory at ready / after requests, MiB", lambda f: f"{f.rss_start_mib:.0f} / {f.rss_after_mib:.0f}"),
    ("list to_org limit=50, first page p50 / p99, ms", lambda f: f"{f.first_p50_ms:.1f} / {f.first_p99_ms:.1f}"),
    ("list to_org limit=50, deep page p50 / p99, ms", lambda f: f"{f.deep_p50_ms:.1f} / {f.deep_p99_ms:.1f}"),
    (
        "compliance, one org, one month p50 / p99, ms",
        lambda f: f"{f.compliance_p50_ms:.1f} / {f.compliance_p99_ms:.1f}",
    ),
    (
        f"tick, {DUE:,} due, looked ahead, ms wall p50 (max) / CPU p50, {TICKS // 2} ticks",
        lambda f: ticks(f.ticks[True]),
    ),
    (
        "its look-ahead an interval before (reads, no lock), ms wall p50 (max)",
        lambda f: f"{statistics.median(f.look_ahead_ms):.0f} ({max(f.look_ahead_ms):.0f})",
    ),
    (
        f"tick, {DUE:,} due, seals read ahead in the write, same, {TICKS // 2} ticks",
        lambda f: ticks(f.ticks[False]),
    ),
    (
        "flags raised by each tick",
        lambda f: flags([t.flags for t in f.ticks[True] + f.ticks[False]]),
    ),
    ("tick with nothing due, ms", lambda f: f"{f.tick_idle_ms:.1f}"),
]


def ticks(measured: list[Tick]) -> str:
    walls = [t.wall_ms for t in measured]
    return f"{statistics.median(walls):.0f} ({max(walls):.0f}) / {statistics.median(t.cpu_ms for t in measured):.0f}"


def flags(raised: list[int]) -> str:
    return "all " + str(raised[0]) if len(set(raised)) == 1 else ",".join(map(str, raised))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument(
        "--batch",
        type=int,
        default=2000,
        help="referrals per transaction while seeding",
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres-dsn")
    parser.add_argument(
        "--shared-buffers",
        help="the local server's shared_buffers, e.g. 2GB as Compose sizes it (default: PostgreSQL's, 128MB)",
    )
    parser.add_argument("--kafka", help="bootstrap servers (default: a local broker started here)")
    args = parser.parse_args()
    with kafka(args.kafka) as args.kafka:
        run(args)


def run(args: argparse.Namespace) -> None:
    for kind in args.stores:
        results: dict[int, Figures] = {}
        for n in args.referrals:
            print(f"{kind}, {n} referrals:", flush=True)
            with tempfile.TemporaryDirectory(prefix="rls-scale-") as scratch, store(kind, Path(scratch), args) as url:
                results[n] = measure(n, url, Path(scratch) / "var", args)
            table(kind, results, args.orgs)  # after each size: a long run shows what it has measured so far


def table(kind: str, results: dict[int, Figures], orgs: int) -> None:
    print(f"\n{kind}: {', '.join(f'{n:,}' for n in results)} referrals (+{TICKS} x {DUE:,} due), {orgs} organisations")
    width = max(len(label) for label, _ in ROWS)
    print(" " * width + "".join(f"{n:>16,}" for n in results))
    for label, show in ROWS:
        print(label.ljust(width) + "".join(f"{show(f):>16}" for f in results.values()))
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)


if __name__ == "__main__":
    main()
