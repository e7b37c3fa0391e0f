"""Leases: a loop that must run once per store runs in one holder at a time; the standby takes over on release."""

from __future__ import annotations

import threading
from pathlib import Path

from services.common.composition import Loop, Workers
from services.common.leader import FileLease, leader_only, lease_for, once_per_store
from tests.helpers import wait_for


def test_one_file_lease_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "x.lease"), FileLease(tmp_path / "x.lease")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_leases_by_store_kind(tmp_path: Path) -> None:
    assert lease_for("memory://", "relay") is None
    assert isinstance(lease_for(f"sqlite:///{tmp_path / 'a.db'}", "relay"), FileLease)


def test_the_standby_loop_runs_once_the_leader_stops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    running: list[str] = []

    def loop_of(name: str) -> Loop:
        def loop(stop: threading.Event) -> None:
            running.append(name)
            stop.wait()
            running.remove(name)

        return loop

    stops = {name: threading.Event() for name in ("a", "b")}
    threads = {
        name: threading.Thread(target=leader_only(lease_for(url, "relay"), name, loop_of(name), 0.05), args=(stop,))
        for name, stop in stops.items()
    }
    threads["a"].start()
    wait_for(lambda: running == ["a"], timeout=5)
    threads["b"].start()
    threading.Event().wait(0.3)
    assert running == ["a"]  # b waits as a standby
    stops["a"].set()
    threads["a"].join(5)
    wait_for(lambda: running == ["b"], timeout=5)
    stops["b"].set()
    threads["b"].join(5)
    assert running == []


def test_leased_workers_keep_what_they_close_and_show() -> None:
    def loop(stop: threading.Event) -> None:
        stop.wait()

    reading = object()
    workers = Workers({"relay": loop}, [print], [reading])  # type: ignore[list-item]
    leased = once_per_store("memory://", workers)
    assert set(leased.loops) == {"relay"} and leased.closers == [print] and list(leased.readings) == [reading]
