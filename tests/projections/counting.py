"""A counting projection over a tiny application, and a process that applies it and dies by SIGKILL inside its
transaction (after applying, before the position is committed) once it reaches `RLS_TEST_KILL_AT`
(run as `python -m tests.projections.counting <store URL> [kill at] [--rebuild] [--created]`: `--rebuild` resets the
projection first, as `rls projections rebuild` does; `--created` counts only the aggregates' creations, a projection
naming its topics)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from services.common.eventstore import TrackedApplication, persistence_env
from services.common.projections import Database, Projection, Projector, Tx


class Counter(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


class Counters(TrackedApplication):
    name = "counters"


class EventCounts(Projection):
    """How many events of each aggregate were applied: applying one twice, or missing one, shows."""

    name = "event_counts"
    tables = ("event_counts",)

    def __init__(self, version: str = "1", kill_at: int | None = None) -> None:
        self._version = version
        self.kill_at = kill_at

    @property
    def version(self) -> str:
        return self._version

    def schema(self, db: Database) -> Sequence[str]:
        return ["CREATE TABLE event_counts (originator TEXT PRIMARY KEY, applied BIGINT NOT NULL)"]

    def apply(self, tx: Tx, events: Sequence[tuple[int, Any]]) -> None:
        for position, domain_event in events:
            tx.execute(
                "INSERT INTO event_counts (originator, applied) VALUES (?, 1) "
                "ON CONFLICT (originator) DO UPDATE SET applied = event_counts.applied + 1",
                (str(domain_event.originator_id),),
            )
            if self.kill_at is not None and position >= self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)


def counts(projector: Projector) -> dict[str, int]:
    with projector.reading() as tx:
        return {str(k): int(v) for k, v in tx.execute("SELECT originator, applied FROM event_counts")}


def created_only(projection: EventCounts) -> EventCounts:
    """The projection counting only `Counter.Created` (its topics named, found through their partial index)."""
    projection.topics = frozenset({get_topic(Counter.Created)})
    return projection


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    url, kill_at = args[0], (int(args[1]) if len(args) > 1 else None)
    app = Counters(env=persistence_env(url))
    projection = EventCounts(kill_at=kill_at)
    projector = Projector(app, created_only(projection) if "--created" in sys.argv else projection, batch=10)
    if "--rebuild" in sys.argv:
        projector.rebuild()
    else:
        projector.catch_up()
    app.close()


if __name__ == "__main__":
    from tests.projections.counting import main as run  # by its name: its classes' topics are the ones stored

    run()
