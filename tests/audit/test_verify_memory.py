"""`verify_store` streams: it holds a page of events and seals, not the store (both event stores)."""

from __future__ import annotations

import tracemalloc

from services.audit.verification import Verification, verify_store
from services.common.eventstore import persistence_env
from services.common.integrity.sealing import SealedStore
from tests.audit.test_integrity import Counter, Counters

PAGE = 100


def grow(app: Counters, events: int) -> None:
    """`events` more events: counters of four events each, recorded 50 counters at a time."""
    items = []
    for _ in range(events // 4):
        item = Counter()
        for _ in range(3):
            item.increment()
        items.append(item)
    for start in range(0, len(items), 50):
        app.record(*items[start : start + 50])


def traced_peak(store: SealedStore) -> tuple[Verification, int]:
    """The verification, and the most memory (bytes, Python allocations) it held at once beyond what it started with."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = verify_store(store, page=PAGE)
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_verifying_four_times_the_events_holds_about_the_same_memory(store_url: str) -> None:
    with Counters(env=persistence_env(store_url)) as app:
        assert isinstance(app.recorder, SealedStore)
        grow(app, 1000)
        small, small_peak = traced_peak(app.recorder)
        grow(app, 3000)
        large, large_peak = traced_peak(app.recorder)
    assert small.ok and large.ok and (small.events, large.events) == (1000, 4000) == (small.sealed, large.sealed)
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)  # holding every seal would take 4x
