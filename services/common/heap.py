"""The garbage collector around a service's heap: settled at start, paused through a burst of short-lived objects.

The collector is for cycles; objects in none are freed by their reference counts as they go. What it costs is its
scans: a young collection every 700 containers allocated, and a full one when those that survived grow by a quarter
of the long-lived ones."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache


def settle_heap() -> None:
    """Moves what the process built until now (modules, the application, the API's routes and models) out of the
    garbage collector's reach: a full collection then scans only what was allocated since. Without it, the full
    collections a burst of allocations triggers (a clock tick of 1,000 flags) scan every object of the start-up too:
    75-120 ms of such a tick's 120 ms of CPU, measured. The app's shutdown gives them back (`gc.unfreeze`)."""
    _first_full_collection()
    gc.freeze()


@cache
def _first_full_collection() -> None:
    """One full collection before the process first freezes its heap: no garbage is frozen, and the collector counts
    the long-lived objects, so the next full collection waits for a quarter as many more (10 % less tick time, three
    pairs of runs). Once: a test process starting apps by the hundred spent 15 % of its time in these collections."""
    gc.collect()


_paused = 0
"""How many threads are inside `collector_paused` (the collector is the process's: the last one out resumes it)."""
_resume = False
"""Whether the collector ran when the first of them paused it (one paused by someone else stays paused)."""
_pausing = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses the garbage collector, in every thread, while the block runs: for a bounded burst of objects that live
    only as long as it does (a clock tick's thousand events, their dictionaries, stored forms and seals). Collected
    during the burst, they were scanned by about seventy young collections, moved to the old generation for surviving
    them, and made it due for a full collection: 2-8 ms of a 50 ms tick at 1M referrals. Paused, they are freed by
    their reference counts at the block's end, unscanned; any cycle among them waits for the next collection."""
    global _paused, _resume
    with _pausing:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pausing:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()
