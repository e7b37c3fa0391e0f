"""Helpers shared by integration and end-to-end tests: read topics, wait for conditions, run the platform,
headless Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition as AIOTopicPartition
from kafka import KafkaConsumer, TopicPartition

from services.common.clock import system_clock
from services.common.envelope import CloudEvent
from services.common.kafka_security import Brokers, access_of
from services.runtime import demo
from services.runtime.launcher import Minter, Platform
from services.runtime.registry import PROCESSES
from services.runtime.settings import RuntimeSettings

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""What headless Chromium needs here (run as root, on a closed network)."""


def chromium_path() -> str:
    """Debian's Chromium (`make test` installs it)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("headless Chromium is needed (apt-get install chromium; `make test` and .ci/run install it)")
    return path


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and never handed out before in this run: the system may give a port it just gave again once
    its socket is closed (seen: a service and the broker of one platform given the same port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@contextmanager
def running_platform(
    var: Path,
    kafka_bootstrap: str | None = None,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
    mint: Minter | None = None,
) -> Iterator[Platform]:
    """The platform as `rls run` starts it, every port free, the demo network loaded: on `kafka_bootstrap`, or with a
    broker of its own (a platform whose demo network must not meet another's on `rls.agreements.v1`). `env` is set
    only while it starts: its processes keep it, no other test sees it. `mint` signs the demo loader's tokens
    (production mode: the test identity provider's keys)."""
    patch = pytest.MonkeyPatch()
    for name in PROCESSES:  # the console too: never on a default port beside another run
        patch.setenv(f"{name.upper()}_PORT", str(free_port()))
    patch.setenv("RLS_VAR_DIR", str(var))
    if kafka_bootstrap:
        patch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    else:
        patch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        patch.setenv("RLS_KAFKA_PORT", str(free_port()))
        patch.setenv("RLS_KAFKA_CONTROLLER_PORT", str(free_port()))
    for key, value in (env or {}).items():
        patch.setenv(key, value)
    platform = Platform(RuntimeSettings(), mint=mint)
    try:
        try:
            platform.start(say=say)
        finally:
            patch.undo()
        yield platform
    finally:
        platform.stop()


RawRecord = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]
"""A record as Kafka may hold it: key, value, headers (any of them without a value)."""


def produce_raw(bootstrap: str, topic: str, records: list[RawRecord]) -> None:
    """Writes the records on partition 0 as they are: aiokafka's `send` refuses a record with neither key nor value,
    its accumulator (what `send` hands records to) does not."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2_000_000)
        await producer.start()
        try:
            for key, value, headers in records:
                if key is None and value is None:
                    await producer.client._wait_on_metadata(topic)
                    sent = await producer._message_accumulator.add_message(
                        AIOTopicPartition(topic, 0), None, None, 30, headers=headers
                    )
                    await sent
                else:
                    await producer.send_and_wait(topic, value=value, key=key, headers=headers, partition=0)
        finally:
            await producer.stop()

    asyncio.run(go())


def read_topic(brokers: Brokers, topic: str, idle_s: float = 1.0) -> list[tuple[Any, CloudEvent | None]]:
    """Every record of `topic` from offset 0, with its CloudEvent (None when it is not one)."""
    consumer = KafkaConsumer(
        **access_of(brokers).client_config(),
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=int(idle_s * 1000),
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    if not partitions:
        consumer.close()
        return []
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    records = []
    for record in consumer:
        try:
            records.append((record, CloudEvent.from_kafka(record.headers, record.value)))
        except ValueError:
            records.append((record, None))
        if all(consumer.position(tp) >= ends[tp] for tp in partitions):
            break
    consumer.close()
    return records


def topic_size(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    size = sum(consumer.end_offsets(partitions).values()) if partitions else 0
    consumer.close()
    return size


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Polls `condition` until it returns something truthy; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def demo_referral(to_org: str, to_service: str, subject_id: str, **extra: Any) -> dict[str, Any]:
    """A referral from the demo CSSS's AAOR (by phone, urgent, family crisis) — the body of `POST /v1/referrals`."""
    return {
        "subject_id": subject_id,
        "from_org": demo.CSSS,
        "from_service": "AAOR",
        "to_org": to_org,
        "to_service": to_service,
        "channel": "PHONE",
        "urgency": "URGENT",
        "reason_code": "FAMILY_CRISIS",
        **extra,
    }


def demo_consent(
    subject_id: str,
    recipient_org: str,
    categories: Sequence[str] = ("IDENTIFICATION", "CONTACT"),
    valid_from: str | None = None,
) -> dict[str, Any]:
    """The person's own written consent, valid from `valid_from` (default: an hour ago), to refer `categories`
    (default: identification and contact details) to `recipient_org` — the body of `POST /v1/consents`."""
    return {
        "subject_id": subject_id,
        "subject_birth_date": "1980-05-17",
        "granted_by": {"role": "SELF"},
        "method": "WRITTEN",
        "purposes": ["REFERRAL"],
        "recipients": [{"org_id": recipient_org}],
        "categories": list(categories),
        "valid_from": valid_from or (system_clock() - timedelta(hours=1)).isoformat(),
    }


def service_env(service: str, kafka_bootstrap: str, var: Path, dev_key_file: Path, port: int) -> dict[str, str]:
    """What `service_process` needs to serve `service` on `port` in dev mode, its SQLite store in `var`."""
    prefix = service.upper()
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RLS_MODE": "dev",
        "RLS_VAR_DIR": str(var),
        "RLS_DEV_KEY_FILE": str(dev_key_file),
        f"{prefix}_EVENT_STORE": f"sqlite:///{var / (service + '.db')}",
        f"{prefix}_PORT": str(port),
    }


@contextmanager
def service_process(
    service: str, env: Mapping[str, str], log: Path, *arguments: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`rls serve <service> [arguments]` in a process group of its own, with `env` added to this one's; what is left
    of the group (its workers too, with `--workers`) is killed on the way out."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", service, *arguments],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):  # the workers, too, whatever became of the first process
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def workers_of(pid: int) -> list[int]:
    """The worker processes `rls serve --workers` (uvicorn's supervisor, `pid`) has started, not its other children
    (multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children if b"spawn_main" in _command_line(int(child))]


def _command_line(pid: int) -> bytes:
    """A process's command line; empty once it has exited (a worker killed and not yet replaced, or gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def wait_ready(base_url: str, process: subprocess.Popen[Any], path: str = "/readyz") -> None:
    """Until `path` answers 200 (the process must not exit meanwhile)."""

    def ready() -> bool:
        assert process.poll() is None, f"the process exited ({process.args})"
        try:
            return httpx.get(base_url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout=60, interval=0.2)


def spied(target: Any, monkeypatch: pytest.MonkeyPatch, method: str, seen: Callable[..., Any]) -> list[Any]:
    """What `seen` makes of the arguments of each call of `target`'s `method`, in order (the call goes on)."""
    calls: list[Any] = []
    original = getattr(target, method)

    def spy(*arguments: Any) -> Any:
        calls.append(seen(*arguments))
        return original(*arguments)

    monkeypatch.setattr(target, method, spy)
    return calls


def waiting_on_a_lock(dsn: str) -> bool:
    """Whether a session of the PostgreSQL server at `dsn` waits for a lock (a statement blocked behind a
    transaction a test holds open)."""
    with psycopg.connect(dsn, autocommit=True) as watcher:
        row = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()
    return bool(row and row[0])
