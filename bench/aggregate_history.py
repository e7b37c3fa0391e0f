"""Write cost against an aggregate's own history: one more event on an aggregate that already has N.

Every stored event is sealed in the transaction that inserts it, chained to the last seal of its aggregate
(`services.common.integrity.sealing`): that last seal is looked up on each write. For each store (a SQLite file, a
local PostgreSQL server started here with fsync off, or `--postgres-dsn`) and each N, the bench records an aggregate of
N events (1,000 a transaction, each batch followed by a write of another aggregate, so that its seals are spread
through the table as years of history spread them), then times `--writes` single-event writes to it through the
application (`TrackedApplication.record`: mapper, recorder, sealing, commit), and prints their p50 and p99.

A flat row is the point: a write's cost must not grow with the history of what it writes to.

Usage: `PYTHONPATH=. .venv/bin/python bench/aggregate_history.py [--events 10 1000 100000] [--stores sqlite postgres]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from eventsourcing.domain import Aggregate, event

from bench.scale import store
from services.common.eventstore import TrackedApplication, persistence_env

BATCH = 1000


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.lines = 0

    @event("Written")
    def write(self, amount: int) -> None:
        self.lines += 1


class Ledgers(TrackedApplication):
    name = "ledgers"


def one_more_write(url: str, history: int, writes: int) -> tuple[float, float]:
    """p50 and p99, in ms, of one more event on an aggregate of `history` events."""
    with Ledgers(env=persistence_env(url)) as app:
        long, neighbour = Ledger(), Ledger()
        app.record(neighbour)
        recorded = 1
        while recorded < history:
            for _ in range(min(BATCH, history - recorded)):
                long.write(1)
                recorded += 1
            app.record(long)
            neighbour.write(1)
            app.record(neighbour)
        app.record(long)
        durations = []
        for _ in range(writes):
            long.write(1)
            started = time.perf_counter()
            app.record(long)
            durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[min(len(durations) - 1, int(len(durations) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10, 1000, 100_000])
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--postgres-dsn")
    args = parser.parse_args()
    figures: dict[str, dict[int, tuple[float, float]]] = {}
    for kind in args.stores:
        figures[kind] = {}
        for n in args.events:
            with tempfile.TemporaryDirectory(prefix="rls-history-") as scratch, store(kind, Path(scratch), args) as url:
                figures[kind][n] = one_more_write(url, n, args.writes)
            print(f"  {kind}, {n:,} events: done", flush=True)
    print("\none more event on an aggregate of N events, ms p50 / p99")
    print("N".rjust(10) + "".join(f"{kind:>20}" for kind in figures))
    for n in args.events:
        print(f"{n:>10,}" + "".join(f"{f[n][0]:>12.2f} / {f[n][1]:<5.2f}" for f in figures.values()))
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
