"""The supervisor of `rls run`: a process that dies is started again with backoff and the log says so; stopping
stops exactly what was started, restarted processes included, even when the launcher itself is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from services.common.backoff import Backoff
from services.runtime.supervisor import Supervisor, started_cmdline, stop_recorded
from tests.helpers import wait_for


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)


def test_backoff_doubles_up_to_its_ceiling_and_forgets_after_a_healthy_run() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, stable_after=60.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.ran_for(61.0)
    assert backoff.next_delay() == 0.5


def test_backoff_stays_at_its_ceiling_after_thousands_of_crashes() -> None:
    """A background loop crashing at once while Kafka is unreachable for a day (or a process the supervisor restarts):
    the 1025th delay overflowed a float power, inside the except block, and the loop's thread died silently."""
    backoff = Backoff(initial=0.5, maximum=30.0)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[-1] == 30.0


def test_a_killed_process_is_restarted_and_stop_stops_the_new_one(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(tmp_path / "processes.json", said.append)
    first = supervisor.add("worker", sleeper)
    try:
        supervisor.watch(interval=0.05)
        first.kill()
        wait_for(lambda: supervisor.restarts("worker") == 1, timeout=10)
        second = supervisor.process("worker")
        assert second.pid != first.pid and second.poll() is None
        assert said[0].startswith(f"supervisor: worker (pid {first.pid}) exited with code -9; restarting in 0.5 s")
        assert said[1] == f"supervisor: worker restarted (pid {second.pid}, restart #1)"
        recorded = json.loads((tmp_path / "processes.json").read_text())
        assert recorded["worker"]["pid"] == second.pid
    finally:
        supervisor.stop_all(timeout=5)
    assert second.poll() is not None
    assert not (tmp_path / "processes.json").exists()


def test_stop_without_the_launcher_stops_only_the_recorded_processes(tmp_path: Path) -> None:
    ours, stranger = sleeper(), sleeper()
    record = tmp_path / "processes.json"
    record.write_text(
        json.dumps(
            {
                "worker": {"pid": ours.pid, "cmdline": started_cmdline(ours.pid)},
                "recycled": {"pid": stranger.pid, "cmdline": "a command this pid never ran"},
            }
        )
    )
    try:
        assert stop_recorded(record, timeout=5) == ["worker"]
        assert ours.wait(5) == -signal.SIGTERM
        assert stranger.poll() is None, "a pid running another command is left alone"
    finally:
        os.kill(stranger.pid, signal.SIGKILL)
        stranger.wait()
