"""Referral flow benchmark: API throughput, and submit → `rls.org.<id>.referrals.v1` latency at a fixed rate.

Starts the platform as `make run` does (local Kafka unless KAFKA_BOOTSTRAP_SERVERS is set; the five services as
processes with SQLite event stores in a scratch directory; the demo network), then:

1. throughput: CONCURRENCY clients submit referrals as fast as the API accepts them for THROUGHPUT_S seconds;
2. latency: referrals submitted at RATE per second (open loop) for LATENCY_S seconds; each one's latency is the time
   from its scheduled submission to its arrival on the receiving organisation's topic.

With `--secure` the same measures run twice in one invocation, on a plaintext broker and then on the production
shape (SASL_SSL with SCRAM-SHA-512 and TLS, ACLs, every service on its own principal, the receiving organisation
reading with the credentials `POST /v1/kafka-credentials` gave it), and the latencies are printed side by side.
With `--store postgresql` they run on SQLite and then with every store on PostgreSQL (one database, a schema per
service: `POSTGRES_DSN`, else a throw-away local server), side by side too.

Usage: `.venv/bin/python bench/referral_flow.py [--rate 50] [--seconds 20] [--concurrency 8] [--secure]
[--store postgresql]`
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr

from services.common.auth import load_dev_key, mint_dev_token
from services.common.envelope import CloudEvent
from services.common.kafka_security import KafkaAccess
from services.contract import topics
from services.contract.topics import org_referrals
from services.runtime import demo
from services.runtime.kafka_security import service_principal
from services.runtime.launcher import Platform
from services.runtime.postgres_local import throwaway
from services.runtime.registry import PROCESSES, SERVICES
from services.runtime.settings import RuntimeSettings

TARGET = demo.CRISIS_CENTRE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Arrivals:
    """Follows the receiving organisation's topic and notes when each referral arrives."""

    def __init__(self, access: KafkaAccess, topic: str) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(**access.client_config(), group_id=None, fetch_max_wait_ms=20)
        self._topic = topic
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        while not self._consumer.partitions_for_topic(self._topic):
            time.sleep(0.2)
        partitions = [TopicPartition(self._topic, p) for p in self._consumer.partitions_for_topic(self._topic)]
        self._consumer.assign(partitions)
        self._consumer.seek_to_beginning(*partitions)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=50).values():
                now = time.monotonic()
                for record in records:
                    event = CloudEvent.from_kafka(record.headers, record.value)
                    if event.type.endswith("submitted.v1") and event.subject:
                        self.seen.setdefault(event.subject, now)

    def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ids <= self.seen.keys() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def referral(n: int) -> dict[str, str]:
    return {
        "subject_id": f"BENCH-{n:06d}",
        "from_org": demo.CSSS,
        "from_service": "AAOR",
        "to_org": TARGET,
        "to_service": "CRISIS_24_7",
        "channel": "PHONE",
        "urgency": "URGENT",
        "reason_code": "FAMILY_CRISIS",
    }


def submit(client: httpx.Client, n: int) -> str | None:
    response = client.post("/v1/referrals", json=referral(n), headers={"Idempotency-Key": f"bench-{uuid.uuid4()}"})
    return str(response.json()["id"]) if response.status_code == 201 else None


def throughput(url: str, token: str, concurrency: int, seconds: float) -> tuple[float, set[str]]:
    deadline = time.monotonic() + seconds
    accepted: list[str] = []

    def worker(offset: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            n = offset
            while time.monotonic() < deadline:
                rid = submit(client, n)
                if rid:
                    accepted.append(rid)
                n += concurrency

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return len(accepted) / (time.monotonic() - started), set(accepted)


def fixed_rate(url: str, token: str, rate: float, seconds: float) -> tuple[dict[str, float], list[float]]:
    """Open loop: request i is due at start + i/rate whatever the previous ones did; returns due times by id."""
    due: dict[str, float] = {}
    http_latencies: list[float] = []
    local = threading.local()

    def send(i: int, at: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        time.sleep(max(0.0, at - time.monotonic()))
        started = time.monotonic()
        rid = submit(client, 1_000_000 + i)
        http_latencies.append(time.monotonic() - started)
        if rid:
            due[rid] = at

    start = time.monotonic() + 0.5
    with ThreadPoolExecutor(8) as pool:
        for i in range(int(rate * seconds)):
            pool.submit(send, i, start + i / rate)
    return due, http_latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def readers(platform: Platform, token_for: Callable[[str, list[str]], str]) -> tuple[KafkaAccess, KafkaAccess]:
    """Who reads the receiving organisation's topic and the referral topic: anyone on a plaintext broker; on a secured
    one, the organisation with its own credentials and the audit service's principal."""
    if platform.security is None:
        return KafkaAccess(platform.bootstrap), KafkaAccess(platform.bootstrap)
    issued = httpx.post(
        platform.urls["notifications"] + "/v1/kafka-credentials",
        json={"org_id": TARGET},
        headers={"Authorization": f"Bearer {token_for(TARGET, ['admin'])}"},
        timeout=30,
    )
    issued.raise_for_status()
    body = issued.json()
    ca_file = platform.settings.var_dir / f"{TARGET}-ca.pem"
    ca_file.write_text(body["ca_pem"])
    organisation = KafkaAccess(
        body["bootstrap"], "SASL_SSL", "SCRAM-SHA-512", body["username"], SecretStr(body["password"]), ca_file
    )
    return organisation, platform.security.access(platform.bootstrap, service_principal("audit"))


@dataclass(frozen=True)
class Setup:
    """One platform measured: its Kafka security and where its stores are."""

    security: str
    store: str

    @property
    def label(self) -> str:
        return f"{self.security}, {self.store}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on `POSTGRES_DSN`, else on a throw-away local server (fsync off, as in the test fixtures)."""
    dsn = RuntimeSettings().postgres_dsn
    with ExitStack() as stack:
        if not dsn:
            dsn = stack.enter_context(throwaway("rls-bench-pg", free_port())).dsn
        name = "rls_bench_" + uuid.uuid4().hex[:8]
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        yield dsn.rsplit("/", 1)[0] + f"/{name}"


def postgres_stores(database: str) -> dict[str, str]:
    """Every store in `database`, a schema per service (the README's one-database form)."""
    stores = {f"{name.upper()}_EVENT_STORE": f"{database}?schema={name}" for name in SERVICES}
    return {**stores, "AUDIT_DATABASE": f"{database}?schema=audit_history"}


def run(args: argparse.Namespace, setup: Setup) -> dict[str, float]:
    """Starts a platform as `setup` says, measures, stops it; returns the latency figures (ms)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"rls-bench-{setup.security}-{setup.store}-"))
    if setup.store == "sqlite":
        return measure(args, setup, scratch, {})
    with postgres_database() as database:
        return measure(args, setup, scratch, postgres_stores(database))


def measure(args: argparse.Namespace, setup: Setup, scratch: Path, stores: dict[str, str]) -> dict[str, float]:
    """One platform under `scratch` with the `stores` variables (none: SQLite under `scratch`), measured."""
    for name in SERVICES:
        os.environ.pop(f"{name.upper()}_EVENT_STORE", None)
    os.environ.pop("AUDIT_DATABASE", None)
    os.environ.update(
        {
            "RLS_VAR_DIR": str(scratch),
            "RLS_KAFKA_PORT": str(free_port()),
            "RLS_KAFKA_CONTROLLER_PORT": str(free_port()),
            "RLS_KAFKA_SECURITY": setup.security,
            **stores,
        }
    )
    os.environ.update({f"{name.upper()}_PORT": str(free_port()) for name in PROCESSES})
    settings = RuntimeSettings()
    platform = Platform(settings)
    try:
        info = platform.start(say=print)
        print(f"platform ready in {info['ready_after_s']} s ({setup.label}, scratch {scratch})")
        key = load_dev_key(settings.signing_key_file)

        def token_for(org: str, roles: list[str]) -> str:
            return mint_dev_token(key, org, roles, "bench", settings.jwt_audience, timedelta(hours=1))

        token = token_for(demo.CSSS, ["intake"])
        url = platform.urls["referral"]
        organisation, auditor = readers(platform, token_for)
        arrivals = Arrivals(organisation, org_referrals(TARGET))
        relayed = Arrivals(auditor, topics.REFERRAL)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            warm = {rid for rid in (submit(client, n) for n in range(5)) if rid}
        if not warm:
            raise SystemExit("the referral service refused the warm-up referrals; see the logs in " + str(scratch))
        arrivals.start()
        relayed.start()
        arrivals.wait_for(warm, timeout=60)

        rate, burst = throughput(url, token, args.concurrency, args.throughput_seconds)
        print(
            f"throughput: {rate:.0f} referrals/s accepted by the API "
            f"({args.concurrency} concurrent clients, {args.throughput_seconds:.0f} s)"
        )
        arrivals.wait_for(burst, timeout=120)
        print(f"  all {len(burst)} reached {org_referrals(TARGET)}: {burst <= arrivals.seen.keys()}")

        due, http = fixed_rate(url, token, args.rate, args.seconds)
        arrivals.wait_for(set(due), timeout=60)
        latencies = [(arrivals.seen[rid] - at) * 1000 for rid, at in due.items() if rid in arrivals.seen]
        first_hop = [(relayed.seen[rid] - at) * 1000 for rid, at in due.items() if rid in relayed.seen]
        lost = len(due) - len(latencies)
        figures = {
            "throughput": rate,
            "p50": statistics.median(latencies),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
            "relay_p50": statistics.median(first_hop),
            "relay_p99": percentile(first_hop, 99),
            "http_p50": statistics.median(http) * 1000,
            "http_p99": percentile(http, 99) * 1000,
        }
        print(
            f"latency at {args.rate:.0f} referrals/s for {args.seconds:.0f} s ({len(due)} referrals, {lost} missing):"
        )
        print(
            f"  submit → {org_referrals(TARGET)}: p50 {figures['p50']:.0f} ms, "
            f"p99 {figures['p99']:.0f} ms, max {figures['max']:.0f} ms"
        )
        print(
            f"  of which submit → {topics.REFERRAL}: "
            f"p50 {figures['relay_p50']:.0f} ms, p99 {figures['relay_p99']:.0f} ms"
        )
        print(f"  POST /v1/referrals alone: p50 {figures['http_p50']:.0f} ms, p99 {figures['http_p99']:.0f} ms")
        arrivals.stop()
        relayed.stop()
        return figures
    finally:
        platform.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--secure", action="store_true", help="also measure on SASL_SSL + ACLs, side by side")
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="postgresql: also on PostgreSQL, side by side",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the platform on `timeout`/kill too
    setups = [Setup("plaintext", "sqlite")]
    if args.secure:
        setups.append(Setup("sasl_ssl", "sqlite"))
    if args.store == "postgresql":
        setups.append(Setup("plaintext", "postgresql"))
    results = {setup.label: run(args, setup) for setup in setups}
    if len(results) > 1:
        print(f"\nsubmit → {org_referrals(TARGET)} at {args.rate:.0f} referrals/s, one run, same machine:")
        for label, figures in results.items():
            print(
                f"  {label:<21}  p50 {figures['p50']:4.0f} ms  p99 {figures['p99']:4.0f} ms  "
                f"(relay hop p50 {figures['relay_p50']:.0f} ms, p99 {figures['relay_p99']:.0f} ms; "
                f"throughput {figures['throughput']:.0f} referrals/s)"
            )


if __name__ == "__main__":
    main()
