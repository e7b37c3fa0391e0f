"""`rls run` (what `make run` calls) on its embedded defaults, then the README walkthrough as written."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.runtime.registry import PROCESSES
from tests.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:begin -->\s*```bash\n(.*?)```", readme, re.S)
    assert block, "README has the walkthrough block"
    return block.group(1)


class Launcher:
    """`rls run` in a child process, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if any("ready in" in line for line in self.lines):
                return time.monotonic() - started
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("rls run did not get ready:\n" + "".join(self.lines[-40:]))

    def info(self) -> dict[str, object]:
        text = "".join(self.lines)
        start = text.index("{")
        document: dict[str, object] = json.JSONDecoder().raw_decode(text[start:])[0]
        return document


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_starts_everything_the_walkthrough_works_and_stop_leaves_nothing_listening(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    ports = {name: free_port() for name in PROCESSES}
    kafka_port, controller_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS",)}
    env.update(
        {
            "RLS_VAR_DIR": str(tmp_path / "var"),
            "RLS_KAFKA_PORT": str(kafka_port),
            "RLS_KAFKA_CONTROLLER_PORT": str(controller_port),
            "REFERRAL_PUBLIC_URL": f"http://127.0.0.1:{ports['referral']}",
        }
    )
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    all_ports = [*ports.values(), kafka_port, controller_port]

    first = Launcher(env)
    try:
        first_ready = first.wait_ready(timeout=180)
        info = first.info()
        assert set(info["services"]) == set(PROCESSES)  # type: ignore[arg-type]  # the console is listed too
        script = walkthrough().replace("127.0.0.1:8001", f"127.0.0.1:{ports['referral']}")
        walk_env = {**env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}"}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=walk_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        documents = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        on_topic = [d for d in documents if d.get("type") == "ca.qc.rls.referral.submitted.v1"]
        assert on_topic, result.stdout
        assert on_topic[0]["data"]["to_org"] == "centre-crise-quebec"
        first.process.wait(60)  # `make stop` in the walkthrough stopped it
    finally:
        if first.process.poll() is None:
            first.process.send_signal(signal.SIGINT)
            first.process.wait(60)
    assert first.process.returncode == 0
    assert not [p for p in all_ports if listening(p)], "nothing is left listening"

    second = Launcher(env)
    try:
        second_ready = second.wait_ready(timeout=120)
        assert second.info()["demo"] == info["demo"]  # the data is reused, the demo not loaded twice
        restarted = kill_a_service_and_see_it_restarted(second, tmp_path / "var", "notifications")
    finally:
        second.process.send_signal(signal.SIGINT)  # Ctrl-C
        second.process.wait(60)
    assert not [p for p in all_ports if listening(p)]
    assert not Path(f"/proc/{restarted}").exists(), "the restarted process was stopped too"
    report_figure(f"rls run ready: first {first_ready:.1f} s (jar cache present), second {second_ready:.1f} s")
    assert second_ready < 45


def kill_a_service_and_see_it_restarted(launcher: Launcher, var: Path, name: str) -> int:
    """SIGKILL one service: the platform goes on, the supervisor starts it again and says so; its new pid."""
    processes = var / "run" / "processes.json"
    killed = json.loads(processes.read_text())[name]["pid"]
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(f"supervisor: {name} restarted" in line for line in launcher.lines):
        time.sleep(0.2)
    assert any(f"supervisor: {name} (pid {killed}) exited" in line for line in launcher.lines), launcher.lines[-10:]
    assert any(f"supervisor: {name} restarted" in line for line in launcher.lines), launcher.lines[-10:]
    assert launcher.process.poll() is None, "the platform kept running"
    restarted: int = json.loads(processes.read_text())[name]["pid"]
    assert restarted != killed
    return restarted
