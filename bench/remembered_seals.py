"""What a clock tick costs the recorder's memory of seals (`AggregateHeads`) once it is full, as in a service that
has run for a while: it remembers the last seal of `HEADS_REMEMBERED` aggregates, and forgets the oldest as it learns
more. Each tick here learns 1,000 seals (its look-ahead's) and then remembers the next 1,000 (its own write's), as
`bench/scale.py`'s ticks do; the bench prints the median and worst time of that per tick, in process (no store).

`bench/scale.py` does not show it: its ticks run in a process started for them, which remembers only their seals.

Usage: `PYTHONPATH=. .venv/bin/python bench/remembered_seals.py [--ticks 60]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from services.common.integrity.sealing import HEADS_REMEMBERED, AggregateHeads

DUE = 1000


def looked_ahead(version: int) -> dict[str, tuple[int, bytes]]:
    """A tick's look-ahead: the seals of 1,000 aggregates not remembered, at `version`."""
    return {str(uuid.uuid4()): (version, os.urandom(32)) for _ in range(DUE)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    heads = AggregateHeads()
    for _ in range(-(-HEADS_REMEMBERED // DUE) + 1):  # full: every tick from now on makes it forget as many
        heads.learnt(looked_ahead(1))
    durations = []
    for _ in range(args.ticks):
        read = looked_ahead(3)
        written = {originator_id: (4, os.urandom(32)) for originator_id in read}
        started = time.perf_counter()
        heads.learnt(read)
        heads.learnt(written)  # what `committed` remembers of the tick's own write
        durations.append((time.perf_counter() - started) * 1000)
    print(
        f"{HEADS_REMEMBERED:,} seals remembered, {args.ticks} ticks of {DUE:,} learnt then {DUE:,} written: "
        f"p50 {statistics.median(durations):.2f} ms, max {max(durations):.2f} ms"
    )


if __name__ == "__main__":
    main()
