"""Supervision of the processes `rls run` starts: the broker and the services.

A process that exits while the platform runs is started again after an exponential backoff (0.5 s doubling to
30 s, forgotten after a minute of good health), and the log says so. Every process started, first or again, is
recorded (pid and command line) in `var/run/processes.json`, so `rls stop` stops exactly what was started, even
when the launcher itself is gone, and never a process that merely reuses a recorded pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.common.backoff import Backoff

Start = Callable[[], subprocess.Popen[bytes]]
Say = Callable[[str], object]


@dataclass
class Child:
    """One supervised process: how to start it, the current process, when it started, when to start it again."""

    name: str
    start: Start
    process: subprocess.Popen[bytes]
    started_at: float
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Starts, watches and restarts named processes; stops them all (in reverse start order) at the end."""

    def __init__(self, record: Path, say: Say = print, clock: Callable[[], float] = time.monotonic) -> None:
        self._record = record
        self._say = say
        self._clock = clock
        self._children: dict[str, Child] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, start: Start) -> subprocess.Popen[bytes]:
        """Starts `name` now (`start` may wait until it is ready) and supervises it from then on."""
        process = start()
        with self._lock:
            self._children[name] = Child(name, start, process, self._clock())
            self._save()
        return process

    def process(self, name: str) -> subprocess.Popen[bytes]:
        with self._lock:
            return self._children[name].process

    def restarts(self, name: str) -> int:
        with self._lock:
            return self._children[name].restarts

    def check(self) -> None:
        """One round: notices the processes that exited and starts those whose backoff has passed."""
        with self._lock:
            for child in list(self._children.values()):
                if self._stop.is_set():
                    return
                self._check(child)

    def _check(self, child: Child) -> None:
        now = self._clock()
        if child.restart_at is None:
            code = child.process.poll()
            if code is None:
                return
            child.backoff.ran_for(now - child.started_at)
            delay = child.backoff.next_delay()
            child.restart_at = now + delay
            exited = f"{child.name} (pid {child.process.pid}) exited with code {code}"
            self._say(f"supervisor: {exited}; restarting in {delay:.1f} s")
        if now < child.restart_at:
            return
        try:
            child.process = child.start()
        except Exception as error:  # noqa: BLE001 -- any failure to start: try again later
            delay = child.backoff.next_delay()
            child.restart_at = self._clock() + delay
            self._say(f"supervisor: {child.name} did not start ({type(error).__name__}); retrying in {delay:.1f} s")
            return
        child.restart_at, child.started_at = None, self._clock()
        child.restarts += 1
        self._save()
        self._say(f"supervisor: {child.name} restarted (pid {child.process.pid}, restart #{child.restarts})")

    def watch(self, interval: float = 0.5) -> None:
        """Checks every `interval` seconds on a background thread until `stop_all`."""

        def loop() -> None:
            while not self._stop.wait(interval):
                self.check()

        self._thread = threading.Thread(target=loop, name="supervisor", daemon=True)
        self._thread.start()

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stops watching, then every process, the last started first (SIGTERM, then SIGKILL after `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for child in reversed(list(self._children.values())):
                stop_process(child.process, timeout)
            self._children.clear()
            self._record.unlink(missing_ok=True)

    def _save(self) -> None:
        self._record.parent.mkdir(parents=True, exist_ok=True)
        running = {
            c.name: {"pid": c.process.pid, "cmdline": started_cmdline(c.process.pid)} for c in self._children.values()
        }
        self._record.write_text(json.dumps(running, indent=2))


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cmdline(pid: int) -> str:
    """The command line of a running process ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def started_cmdline(pid: int, timeout: float = 2.0) -> str:
    """The command line of a process just started. The parent resumes when the child's exec has begun, before the
    kernel has set up its arguments: for that instant the command line reads empty, and an empty record would let
    `rls stop` pass the process over."""
    deadline = time.monotonic() + timeout
    while not (line := cmdline(pid)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return line


def stop_recorded(record: Path, timeout: float = 15.0) -> list[str]:
    """Stops the processes a supervisor recorded that still run the recorded command (a launcher that died left
    them); returns their names."""
    if not record.exists():
        return []
    stopped = []
    for name, entry in json.loads(record.read_text()).items():
        pid = int(entry["pid"])
        if entry["cmdline"] and cmdline(pid) == entry["cmdline"]:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while cmdline(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if cmdline(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(name)
    record.unlink(missing_ok=True)
    return stopped
