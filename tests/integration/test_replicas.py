"""Two API processes of one service (`rls serve agreements`) on one PostgreSQL store: both accept requests,
Idempotency-Key and If-Match hold across them, the outbox relay and the loops run in one of them at a time, and when
that one is SIGKILLed the other takes over within seconds — every event on the topic once (by CloudEvent id)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.cryptography import AESCipher

from services.common.auth import PLATFORM_ORG, load_dev_key, mint_dev_token
from services.common.clock import system_clock
from services.contract import topics
from services.runtime import demo
from tests.helpers import free_port, read_topic, wait_for

LOOPS = ("agreements-relay", "integrity-checkpoints", "agreements-scheduler")
"""What runs once per store (the consumers share the topic's partitions through their group instead)."""
TAKEOVER_S = 10.0


@dataclass
class Replica:
    name: str
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def leads(self, loop: str) -> bool:
        return f"{loop}: this process leads" in self.log.read_text(errors="replace")


@dataclass
class Replicas:
    pair: list[Replica]
    key: bytes
    bootstrap: str

    def call(self, replica: int, method: str, path: str, org: str, *roles: str, **kwargs: Any) -> httpx.Response:
        token = mint_dev_token(self.key, org, roles, f"{org}-user", "rls", timedelta(hours=1))
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.pair[replica].url + path, headers=headers, timeout=30, **kwargs)

    def leader(self, loop: str) -> Replica:
        found: Replica = wait_for(
            lambda: next((r for r in self.pair if r.leads(loop) and r.process.poll() is None), None)
        )
        return found

    def published(self, subjects: set[str]) -> list[str]:
        """The CloudEvent ids on `rls.agreements.v1` about `subjects`, in topic order (a duplicate shows twice)."""
        records = read_topic(self.bootstrap, topics.AGREEMENTS)
        return [e.id for _, e in records if e is not None and e.subject in subjects]


def start_replica(name: str, env: dict[str, str], log: Path) -> Replica:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "agreements"],
            env={**env, "AGREEMENTS_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, f"http://127.0.0.1:{port}", log, process)


def ready(replica: Replica) -> bool:
    assert replica.process.poll() is None, replica.log.read_text()[-3000:]
    try:
        return httpx.get(replica.url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def replicas(postgres_dsn: str, kafka_bootstrap: str, dev_key_file: Path, tmp_path: Path) -> Iterator[Replicas]:
    """Two replicas of the agreements service on one PostgreSQL schema nobody created beforehand, started at once."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RLS_VAR_DIR": str(tmp_path),
        "RLS_DEV_KEY_FILE": str(dev_key_file),
        "AGREEMENTS_EVENT_STORE": f"{postgres_dsn}?schema=agreements_{uuid.uuid4().hex[:8]}",
        "AGREEMENTS_CIPHER_KEY": AESCipher.create_key(32),
        "AGREEMENTS_CHECKPOINT_INTERVAL_S": "1",
        "AGREEMENTS_CONSUMER_GROUP": f"replicas-{uuid.uuid4().hex[:8]}",
    }
    pair = [start_replica(name, env, tmp_path / f"{name}.log") for name in ("a", "b")]
    try:
        for replica in pair:
            wait_for(lambda r=replica: ready(r), timeout=90, interval=0.3)  # type: ignore[misc]
        yield Replicas(pair, load_dev_key(dev_key_file), kafka_bootstrap)
    finally:
        for replica in pair:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in pair:
            try:
                replica.process.wait(30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(10)


def network(suffix: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Three organisations of their own and the collaboration agreement between them (demo shapes)."""
    organisations = [{**o, "id": f"{o['id']}-{suffix}"} for o in demo.ORGANISATIONS[:3]]
    parties = [o["id"] for o in organisations]
    agreement = {**demo.agreements(system_clock().date())[1], "parties": parties, "services": ["CRISIS_24_7"]}
    return organisations, agreement


def register(replicas: Replicas, organisations: list[dict[str, Any]]) -> None:
    for n, organisation in enumerate(organisations):  # alternately on each replica
        response = replicas.call(n % 2, "POST", "/v1/organisations", PLATFORM_ORG, "admin", json=organisation)
        assert response.status_code == 201, response.text


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """The calls started together (a barrier), their responses in order."""
    barrier = threading.Barrier(len(calls))
    responses: list[httpx.Response | None] = [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait()
        responses[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return [r for r in responses if r is not None]


def test_an_idempotent_retry_on_the_other_replica_returns_the_first_result(replicas: Replicas) -> None:
    organisations, agreement = network(uuid.uuid4().hex[:6])
    register(replicas, organisations)
    drafter = organisations[0]["id"]
    for attempt in range(5):
        key = {"Idempotency-Key": f"draft-{attempt}"}
        first, retry = at_once(
            *(
                lambda n=n, key=key: replicas.call(
                    n, "POST", "/v1/agreements", drafter, "coordinator", json=agreement, headers=key
                )
                for n in (0, 1)
            )
        )
        assert first.status_code == retry.status_code == 201, (first.text, retry.text)
        assert first.json() == retry.json()
        assert [r.headers.get("Idempotent-Replayed") for r in (first, retry)].count("true") == 1


def test_if_match_holds_across_replicas(replicas: Replicas) -> None:
    organisations, agreement = network(uuid.uuid4().hex[:6])
    register(replicas, organisations)
    drafted = replicas.call(0, "POST", "/v1/agreements", organisations[0]["id"], "coordinator", json=agreement)
    assert drafted.status_code == 201, drafted.text
    path = f"/v1/agreements/{drafted.json()['id']}/sign"
    revision = drafted.headers["ETag"]
    both = at_once(
        *(
            lambda n=n: replicas.call(
                n, "POST", path, organisations[n]["id"], "coordinator", headers={"If-Match": revision}
            )
            for n in (0, 1)
        )
    )
    assert sorted(r.status_code for r in both) == [200, 409], [r.text for r in both]
    refused = next(r for r in both if r.status_code == 409)
    assert refused.json()["type"].endswith("version-conflict")


def test_the_relay_runs_once_and_the_standby_takes_over_when_the_leader_is_killed(
    replicas: Replicas, report_figure: Callable[[str], None]
) -> None:
    for loop in LOOPS:
        leaders = [r.name for r in replicas.pair if r.leads(loop)] if replicas.leader(loop) else []
        assert len(leaders) == 1, (loop, leaders)
    before, _ = network(uuid.uuid4().hex[:6])
    register(replicas, before)
    subjects = {o["id"] for o in before}
    wait_for(lambda: len(set(replicas.published(subjects))) == len(before), timeout=30)

    leader = replicas.leader("agreements-relay")
    standby = next(r for r in replicas.pair if r is not leader)
    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(10)
    killed_at = time.monotonic()
    after, _ = network(uuid.uuid4().hex[:6])
    survivor = replicas.pair.index(standby)
    for organisation in after:  # accepted meanwhile by the survivor's API
        response = replicas.call(survivor, "POST", "/v1/organisations", PLATFORM_ORG, "admin", json=organisation)
        assert response.status_code == 201, response.text
    subjects |= {o["id"] for o in after}
    wait_for(lambda: len(set(replicas.published(subjects))) == len(before) + len(after), timeout=TAKEOVER_S)
    takeover_s = time.monotonic() - killed_at
    report_figure(f"replicas: the standby relay published the survivor's writes {takeover_s:.1f} s after SIGKILL")

    published = replicas.published(subjects)
    assert len(published) == len(set(published)) == len(before) + len(after), "an event lost or published twice"
    wait_for(lambda: all(standby.leads(loop) for loop in LOOPS), timeout=TAKEOVER_S)  # each lease is retried apart
