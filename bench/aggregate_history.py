"""Write cost against an aggregate's own history: one more event on an aggregate that already has N.

Every stored event is sealed in the transaction that inserts it, chained to the last seal of its aggregate
(`services.common.integrity.sealing`): that last seal is looked up on each write, unless the recorder sealed it itself.
For each store (a SQLite file, a local PostgreSQL server started here with fsync off, or `--postgres-dsn`) and each N,
the bench records an aggregate of N events (1,000 a transaction, each batch followed by a write of another aggregate, so
that its seals are spread through the table as years of history spread them), then times `--writes` single-event
writes to it through the application (`TrackedApplication.record`: mapper, recorder, sealing, commit), and prints
their p50 and p99: as a service writes, its recorder remembering the last seal of what it sealed itself
(`AggregateHeads`), then with a recorder that remembers nothing, so that every write looks the last seal up in the
store (as after a restart, or after another process wrote the aggregate); both ways alternate, twenty writes at a time.

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
from services.common.integrity.sealing import AggregateHeads

BATCH = 1000
BLOCK = 20
"""Writes timed in a row each way (the first of a block remembering misses: the writes before it were not seen)."""


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.lines = 0

    @event("Written")
    def write(self, amount: int) -> None:
        self.lines += 1


class Ledgers(TrackedApplication):
    name = "ledgers"


Figure = tuple[float, float]
"""p50 and p99 of one more write, ms."""


def one_more_write(url: str, history: int, writes: int) -> tuple[Figure, Figure]:
    """One more event on an aggregate of `history` events: its last seal remembered, then looked up in the store."""
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
        remembering, forgetful = app.recorder.heads, AggregateHeads(0)  # type: ignore[attr-defined]
        remembered: list[float] = []
        looked_up: list[float] = []
        for _ in range(max(1, writes // BLOCK)):  # alternated, so that both see the same machine
            app.recorder.heads = remembering  # type: ignore[attr-defined]
            remembered += _timed_writes(app, long, BLOCK)
            app.recorder.heads = forgetful  # type: ignore[attr-defined]  # a recorder that remembers nothing
            looked_up += _timed_writes(app, long, BLOCK)
    return _percentiles(remembered), _percentiles(looked_up)


def _timed_writes(app: Ledgers, ledger: Ledger, writes: int) -> list[float]:
    durations = []
    for _ in range(writes):
        ledger.write(1)
        started = time.perf_counter()
        app.record(ledger)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def _percentiles(durations: list[float]) -> Figure:
    durations.sort()
    return statistics.median(durations), durations[min(len(durations) - 1, int(len(durations) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[10, 1000, 100_000])
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--postgres-dsn")
    args = parser.parse_args()
    figures: dict[str, dict[int, tuple[Figure, Figure]]] = {}
    for kind in args.stores:
        figures[kind] = {}
        for n in args.events:
            with tempfile.TemporaryDirectory(prefix="rls-history-") as scratch, store(kind, Path(scratch), args) as url:
                figures[kind][n] = one_more_write(url, n, args.writes)
            print(f"  {kind}, {n:,} events: done", flush=True)
    print("\none more event on an aggregate of N events, ms p50 / p99: last seal remembered | looked up in the store")
    print("N".rjust(10) + "".join(f"{kind:>36}" for kind in figures))
    for n in args.events:
        print(f"{n:>10,}" + "".join(f"{_cell(f[n][0])} |{_cell(f[n][1])}" for f in figures.values()))
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


def _cell(figure: Figure) -> str:
    return f"{figure[0]:>8.2f} / {figure[1]:<6.2f}"


if __name__ == "__main__":
    main()
