"""The board's worker on the real broker: topics of its own per test, worker processes of its own (killed by pid,
never the broker's), the board read back from its compacted topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.kafka import KafkaPublisher, Outgoing, ensure_topics, make_admin
from services.standards.views import BoardView

PARTITIONS = 3


@dataclass(frozen=True)
class BoardTopics:
    """Topics named for one test: the shared broker's platform topics are other tests' business."""

    prefix: str

    @property
    def referral(self) -> str:
        return f"{self.prefix}.rls.referral.v1"

    @property
    def agreements(self) -> str:
        return f"{self.prefix}.rls.agreements.v1"

    @property
    def calls(self) -> str:
        return f"{self.prefix}.rls.infosocial.calls.v1"

    @property
    def board(self) -> str:
        return f"{self.prefix}.rls.standards.board.v1"

    def environment(self, app_id: str, data_dir: Path) -> dict[str, str]:
        return {
            "STANDARDS_APP_ID": app_id,
            "STANDARDS_REFERRAL_TOPIC": self.referral,
            "STANDARDS_AGREEMENTS_TOPIC": self.agreements,
            "STANDARDS_CALLS_TOPIC": self.calls,
            "STANDARDS_BOARD_TOPIC": self.board,
            "RLS_VAR_DIR": str(data_dir),
            "STANDARDS_BROKER_SESSION_TIMEOUT_S": "6",
        }


def fresh_topics(bootstrap: str) -> BoardTopics:
    topics = BoardTopics("t" + uuid.uuid4().hex[:10])
    admin = make_admin(bootstrap, "tests-standards")
    try:
        ensure_topics(admin, [topics.referral, topics.agreements, topics.calls], partitions=PARTITIONS)
    finally:
        admin.close()
    return topics


class WorkerProcess:
    """`python -m services.standards.worker`, restartable; its output appended to one log."""

    def __init__(self, bootstrap: str, topics: BoardTopics, app_id: str, var: Path) -> None:
        self.env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, **topics.environment(app_id, var / app_id)}
        self.log = var / f"{app_id}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.standards.worker"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def revive(self) -> bool:
        """Starts the worker again if it exited by itself, as its supervisor would (Compose's `restart`, a pod's
        restart policy): a faust worker exits on aiokafka's fetcher `KeyError` (robinhood/aiokafka#19), seen here
        13 s after a restart. Whether it had to."""
        if self.process is None or self.process.poll() is None:
            return False
        self.start()
        return True

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the group."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def worker(bootstrap: str, topics: BoardTopics, var: Path, app_id: str | None = None) -> Iterator[WorkerProcess]:
    process = WorkerProcess(bootstrap, topics, app_id or f"board-{uuid.uuid4().hex[:8]}", var)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def publish(bootstrap: str, records: Iterable[Outgoing]) -> None:
    publisher = KafkaPublisher(bootstrap, "tests-standards")
    try:
        publisher.publish(list(records))
    finally:
        publisher.close()


def read_board(bootstrap: str, topic: str) -> dict[str, dict[str, Any]]:
    """The board as its topic holds it now: the latest record of every row (deleted rows gone)."""
    view = BoardView(bootstrap, topic, "tests-board-reader")
    view.read_to_end()
    return {key: data for key, (_, data) in view.snapshot().items()}


def wait_for_board(
    bootstrap: str, topic: str, expected: dict[str, dict[str, Any]], timeout: float = 120.0
) -> dict[str, dict[str, Any]]:
    """Reads the board until it equals `expected` or the time is up; returns the last reading."""
    deadline = time.monotonic() + timeout
    board = read_board(bootstrap, topic)
    while board != expected and time.monotonic() < deadline:
        time.sleep(1.0)
        board = read_board(bootstrap, topic)
    return board


def differences(expected: dict[str, Any], board: dict[str, Any]) -> list[str]:
    """The first ten rows that differ, each with only its differing fields: (expected, on the board)."""
    keys = sorted(k for k in set(expected) | set(board) if expected.get(k) != board.get(k))
    return [f"{k}: {_fields_apart(expected.get(k) or {}, board.get(k) or {})}" for k in keys[:10]]


def _fields_apart(expected: dict[str, Any], found: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        f: (expected.get(f), found.get(f))
        for f in sorted(set(expected) | set(found))
        if expected.get(f) != found.get(f)
    }
