"""The audit database streams the events of a kind (what a recheck of every decision reads): a page at a time, in
publication order, so ten years of decisions are never held at once."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from services.audit.views import HistoryDB, HistoryRow

PAGE = 100


def synthetic(start: int, count: int) -> list[HistoryRow]:
    """Decisions, with a disclosure after every fourth one (another kind, interleaved); synthetic data only."""
    rows = []
    for n in range(start, start + count):
        payload = {"decision_id": f"d-{n}", "outcome": "PERMIT", "input": {"purpose": "REFERRAL"}, "pad": "x" * 400}
        rows.append(row(f"decision-{n}", "decision", json.dumps(payload)))
        if n % 4 == 0:
            rows.append(row(f"disclosure-{n}", "disclosure", json.dumps({"decision_id": f"d-{n}"})))
    return rows


def row(event_id: str, kind: str, data: str) -> HistoryRow:
    return HistoryRow(
        event_id, "rls.consent.decisions.v1", 0, None, f"ca.qc.rls.consent.{kind}.v1", kind, event_id,
        "2026-11-30T12:00:00.000000Z", None, data,
    )  # fmt: skip


def read_all(db: HistoryDB) -> tuple[list[str], int]:
    """The decision ids read, and the most memory (bytes) the reading held at once beyond what it started with."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = [r.payload["decision_id"] for r in db.each_event_of("decision", page=PAGE)]
        return ids, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_reading_four_times_the_decisions_holds_about_the_same_memory(tmp_path: Path) -> None:
    db = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    db.ingest(synthetic(0, 500))
    small, small_peak = read_all(db)
    db.ingest(synthetic(500, 1500))
    large, large_peak = read_all(db)
    assert small == [f"d-{n}" for n in range(500)] and large == [f"d-{n}" for n in range(2000)]
    assert db.count_of("decision") == 2000 and db.count_of("disclosure") == 500
    assert large_peak < 1.5 * small_peak + 200_000, (small_peak, large_peak)  # the ids held, 4x more, are ~0.1 MB
