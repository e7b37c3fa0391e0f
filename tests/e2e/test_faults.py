"""Faults on the real platform (`rls run`'s processes, its own broker): SIGKILL the referral service while requests
are in flight, SIGKILL the broker under load; the supervisor starts each again, clients retry with the same
Idempotency-Keys, and every acknowledged referral is on `rls.referral.v1` and on the receiver's topic exactly once.
Then a PHI canary: after a full flow, the canary is nowhere in plaintext — no topic, no log, no store file, no
metric."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from services.common.auth import load_dev_key, mint_dev_token
from services.common.clock import system_clock
from services.common.kafka import make_admin
from services.contract import topics
from services.referral.domain import referral_id_for
from services.runtime import demo
from services.runtime.launcher import Platform
from tests.helpers import demo_consent, read_topic, running_platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

RECEIVER = demo.CRISIS_CENTRE
CANARY = "CANARY-7c1e9b-PHI"


@dataclass
class Live:
    platform: Platform
    var: Path
    key: bytes

    def url(self, service: str) -> str:
        return self.platform.urls[service]

    def headers(self, org: str, *roles: str) -> dict[str, str]:
        token = mint_dev_token(self.key, org, roles, f"{org}-worker", "rls", timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    def ready(self, service: str) -> bool:
        try:
            return httpx.get(self.url(service) + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The platform as `rls run` starts it, with a broker of its own (this module kills it)."""
    var = tmp_path_factory.mktemp("faults")
    with running_platform(var, say=print) as platform:
        yield Live(platform, var, load_dev_key(platform.settings.signing_key_file))


def referral(n: str) -> dict[str, Any]:
    return {
        "subject_id": f"S-FAULT-{n}",
        "from_org": demo.CSSS,
        "from_service": "AAOR",
        "to_org": RECEIVER,
        "to_service": "CRISIS_24_7",
        "channel": "PHONE",
        "urgency": "URGENT",
        "reason_code": "FAMILY_CRISIS",
    }


@dataclass
class Load:
    """Clients submitting referrals, each with its own Idempotency-Key; what was acknowledged, what must be retried."""

    live: Live
    acknowledged: dict[str, str] = field(default_factory=dict)
    replayed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, client: httpx.Client, key: str) -> bool:
        headers = {**self.live.headers(demo.CSSS, "intake"), "Idempotency-Key": key}
        try:
            response = client.post(self.live.url("referral") + "/v1/referrals", json=referral(key), headers=headers)
        except httpx.HTTPError:
            response = None
        with self.lock:
            if response is None or response.status_code != 201:
                self.failed.add(key)
                return False
            self.acknowledged[key] = response.json()["id"]
            self.failed.discard(key)
            if response.headers.get("Idempotent-Replayed") == "true":
                self.replayed.add(key)  # recorded before the crash, its first answer lost
        return True

    def run(self, keys: list[str], clients: int = 4) -> list[threading.Thread]:
        work: queue.Queue[str] = queue.Queue()
        for key in keys:
            work.put(key)

        def client_loop() -> None:
            with httpx.Client(timeout=10) as client:
                while True:
                    try:
                        key = work.get_nowait()
                    except queue.Empty:
                        return
                    self.submit(client, key)

        threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        return threads

    def retry_failed(self, deadline_s: float = 90) -> None:
        """Retries every request whose answer was lost, with the same Idempotency-Key, until acknowledged."""
        deadline = time.monotonic() + deadline_s
        with httpx.Client(timeout=10) as client:
            while self.failed and time.monotonic() < deadline:
                for key in sorted(self.failed):
                    self.submit(client, key)
                time.sleep(0.5)
        assert not self.failed, f"never acknowledged: {sorted(self.failed)[:5]}"


def submitted_copies(bootstrap: str, topic: str, wanted: set[str]) -> tuple[Counter[str], Counter[str]]:
    """Per referral id: distinct `submitted` events, and records carrying them (re-sent copies share the id)."""
    events: Counter[str] = Counter()
    records: Counter[str] = Counter()
    seen: set[str] = set()
    for _, event in read_topic(bootstrap, topic, idle_s=0.5):
        if event is None or event.type != "ca.qc.rls.referral.submitted.v1" or event.subject not in wanted:
            continue
        records[event.subject or ""] += 1
        if event.id not in seen:
            seen.add(event.id)
            events[event.subject or ""] += 1
    return events, records


def post_mortem(live: Live) -> None:
    """Prints what a CI log needs to tell where referrals stopped: the referral store's relay position against its
    last event, the notifications consumer's lag (one line per assigned partition) and how long it has been
    rebalancing, its store's positions and deliveries, and the two services' logs with their threads' stacks."""
    for name in ("referral", "notifications"):
        with suppress(OSError):  # a service down is itself the answer: the rest is printed all the same
            os.kill(live.platform.process(name).pid, signal.SIGUSR1)  # their threads' stacks go to their logs
    time.sleep(1)
    queries = {
        "referral": ["SELECT * FROM tracking", "SELECT max(rowid) FROM stored_events"],
        "notifications": [
            "SELECT * FROM tracking",
            "SELECT status, count(*) FROM board_deliveries GROUP BY status",
            "SELECT count(*) FROM board_queue",
        ],
    }
    try:
        metrics = httpx.get(live.url("notifications") + "/metrics", timeout=10).text.splitlines()
    except httpx.HTTPError as error:
        metrics = [f"no /metrics: {error!r}"]
    watched = ("rls_consumer_lag{", "rls_consumer_rebalancing_seconds{", "no /metrics")
    print("notifications: the consumer's lag and rebalance:", *[m for m in metrics if m.startswith(watched)])
    for name, statements in queries.items():  # each step on its own: one failing leaves the others to tell
        with closing(sqlite3.connect(f"file:{live.var / name}.db?mode=ro", uri=True)) as db:
            for statement in statements:
                try:
                    print(f"{name}: {statement}: {db.execute(statement).fetchall()}")
                except sqlite3.Error as error:
                    print(f"{name}: {statement}: {error!r}")
        try:
            log_lines = (live.var / "log" / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError as error:
            log_lines = [repr(error)]
        print(f"--- {name}.log, last 150 lines ---", *log_lines[-150:], sep="\n")


def account(live: Live, load: Load, what: str, report: Callable[[str], None]) -> dict[str, int]:
    """Waits until every acknowledged referral is on both topics, then counts lost and duplicated ones."""
    bootstrap = live.platform.bootstrap
    wanted = set(load.acknowledged.values())
    receiver_topic = f"rls.org.{RECEIVER}.referrals.v1"

    def all_there() -> tuple[Counter[str], Counter[str], Counter[str], Counter[str]] | None:
        shared, shared_records = submitted_copies(bootstrap, topics.REFERRAL, wanted)
        own, own_records = submitted_copies(bootstrap, receiver_topic, wanted)
        return (shared, shared_records, own, own_records) if wanted <= set(shared) and wanted <= set(own) else None

    try:
        shared, shared_records, own, own_records = wait_for(all_there, timeout=120, interval=1.0)
    except AssertionError:
        shared, shared_records = submitted_copies(bootstrap, topics.REFERRAL, wanted)
        own, own_records = submitted_copies(bootstrap, receiver_topic, wanted)
        print(
            f"\nnot every referral arrived: {len(wanted - set(shared))} missing on {topics.REFERRAL}, "
            f"{len(wanted - set(own))} on {receiver_topic}"
        )
        post_mortem(live)
    ids_per_key = {key: str(referral_id_for(demo.CSSS, key)) for key in load.acknowledged}
    figures = {
        "acknowledged": len(wanted),
        "acknowledged_then_lost_answer": len(load.replayed),
        "lost": len(wanted - set(shared)) + len(wanted - set(own)),
        "duplicated": sum(1 for n in (*shared.values(), *own.values()) if n > 1)
        + sum(1 for key, rid in load.acknowledged.items() if ids_per_key[key] != rid),
        "resent_copies": sum(shared_records.values())
        - sum(shared.values())
        + sum(own_records.values())
        - sum(own.values()),
    }
    report(f"{what}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return figures


def test_a_referral_service_killed_with_requests_in_flight_loses_and_duplicates_nothing(
    live: Live, report_figure: Callable[[str], None]
) -> None:
    """Up to three rounds of SIGKILL under eight clients, until a request is caught recorded but unanswered (its
    retry is then answered `Idempotent-Replayed`); the answer a kill loses is a matter of microseconds."""
    started = time.monotonic()
    load = Load(live)
    run = uuid.uuid4().hex[:6]
    for round_ in range(3):
        kill_the_referral_service_under_load(live, load, [f"kill-ref-{run}-{round_}-{n:03d}" for n in range(80)])
        if load.replayed:
            break
    figures = account(live, load, f"referral service SIGKILL ({round_ + 1} rounds)", report_figure)
    report_figure(f"referral service SIGKILL: {time.monotonic() - started:.1f} s")
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["acknowledged"] == 80 * (round_ + 1)


def kill_the_referral_service_under_load(live: Live, load: Load, keys: list[str]) -> None:
    """Eight clients send `keys`; SIGKILL once 15 of them are acknowledged; the supervisor restarts it; retries."""
    before = len(load.acknowledged)
    threads = load.run(keys, clients=8)
    wait_for(lambda: len(load.acknowledged) >= before + 15, timeout=60, interval=0.02)
    killed = live.platform.process("referral")
    killed.kill()  # SIGKILL, eight clients mid-request
    for thread in threads:
        thread.join(120)
    assert load.failed, "some requests were in flight or sent while the service was down"
    wait_for(lambda: live.platform.process("referral").pid != killed.pid and live.ready("referral"), timeout=60)
    load.retry_failed()


def test_a_broker_killed_under_load_loses_and_duplicates_nothing_and_readiness_comes_back_fast(
    live: Live, report_figure: Callable[[str], None]
) -> None:
    started = time.monotonic()
    load = Load(live)
    run = uuid.uuid4().hex[:6]
    threads = load.run([f"kill-kafka-{run}-{n:03d}" for n in range(40)], clients=2)
    wait_for(lambda: len(load.acknowledged) >= 10, timeout=60, interval=0.05)
    broker = live.platform.process("kafka")
    broker.kill()
    wait_for(lambda: not live.ready("referral"), timeout=30, interval=0.2)  # the outage is noticed
    more = load.run([f"kill-kafka-{run}-late-{n:03d}" for n in range(20)], clients=2)  # accepted while it is down
    wait_for(lambda: live.platform.process("kafka").pid != broker.pid, timeout=60, interval=0.2)
    back = broker_answers_at(live)
    wait_for(lambda: live.ready("referral"), timeout=30, interval=0.2)
    recovered_s = time.monotonic() - back
    for thread in [*threads, *more]:
        thread.join(120)
    load.retry_failed()
    figures = account(live, load, "broker SIGKILL", report_figure)
    elapsed = time.monotonic() - started
    report_figure(f"broker SIGKILL: /readyz back {recovered_s:.1f} s after the broker answered; {elapsed:.1f} s")
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["acknowledged"] == 60
    assert recovered_s < 5


def broker_answers_at(live: Live) -> float:
    """Waits until the restarted broker answers; when it did."""

    def answers() -> bool:
        try:
            admin = make_admin(live.platform.bootstrap, "fault-test")
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    wait_for(answers, timeout=90, interval=0.2)
    return time.monotonic()


def test_a_phi_canary_is_nowhere_in_plaintext_after_a_full_flow(
    live: Live, report_figure: Callable[[str], None]
) -> None:
    information = {category: f"{CANARY} {category}" for category in ("IDENTIFICATION", "CONTACT", "ASSESSMENT")}
    subject = f"S-{CANARY}"[:40]
    worker = live.headers(demo.CSSS, "intake")
    body = {**referral("canary"), "subject_id": "S-CANARY-0001", "information": information}
    submitted = httpx.post(live.url("referral") + "/v1/referrals", json=body, headers=worker, timeout=15)
    assert submitted.status_code == 201, submitted.text
    rid = submitted.json()["id"]
    valid_from = (system_clock() - timedelta(hours=1)).isoformat()
    consent = demo_consent("S-CANARY-0001", RECEIVER, valid_from=valid_from)
    recorded = httpx.post(live.url("consent") + "/v1/consents", json=consent, headers=worker, timeout=15)
    assert recorded.status_code == 201, recorded.text
    receiver = live.headers(RECEIVER, "clinician")
    released = httpx.get(live.url("referral") + f"/v1/referrals/{rid}/information", headers=receiver, timeout=15)
    assert released.status_code == 200 and CANARY in released.text  # it does reach the reader, and only it
    refused = httpx.post(
        live.url("referral") + f"/v1/referrals/{rid}/refuse", json={"reason": f"{CANARY} refusal"}, headers=receiver
    )
    assert refused.status_code == 200, refused.text
    withdrawn = httpx.post(
        live.url("consent") + f"/v1/consents/{recorded.json()['id']}/withdraw",
        json={"reason": f"{CANARY} withdrawal"},
        headers=worker,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    wait_for(lambda: on_topic(live, rid), timeout=60)  # the flow reached the topics before they are scanned

    needle = CANARY.encode()
    found = [f"topic {name}" for name in all_topics(live) if needle in topic_bytes(live, name)]
    files = [path for path in live.var.rglob("*") if path.is_file()]
    found += [str(path.relative_to(live.var)) for path in files if needle in path.read_bytes()]
    metrics = {name: httpx.get(url + "/metrics", timeout=10).text for name, url in live.platform.urls.items()}
    found += [f"{name} /metrics" for name, text in metrics.items() if CANARY in text or "S-CANARY" in text]
    scanned = f"{len(all_topics(live))} topics, {len(files)} files (logs, stores, broker data), {len(metrics)} /metrics"
    report_figure(f"PHI canary: {scanned} scanned, found in {len(found)}")
    assert subject not in released.text
    assert found == [], found


def on_topic(live: Live, rid: str) -> bool:
    events = read_topic(live.platform.bootstrap, f"rls.org.{RECEIVER}.referrals.v1", idle_s=0.3)
    return any(e is not None and e.subject == rid and e.type.endswith("refused.v1") for _, e in events)


def all_topics(live: Live) -> list[str]:
    admin = make_admin(live.platform.bootstrap, "canary")
    try:
        return sorted(t for t in admin.list_topics() if not t.startswith("__"))
    finally:
        admin.close()


def topic_bytes(live: Live, topic: str) -> bytes:
    """Every key, value and header of every record of `topic`, as stored."""
    consumer = KafkaConsumer(bootstrap_servers=live.platform.bootstrap, group_id=None, consumer_timeout_ms=500)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    chunks: list[bytes] = []
    for record in consumer:
        chunks += [record.key or b"", record.value or b"", *(value for _, value in record.headers)]
        if all(consumer.position(tp) >= ends[tp] for tp in partitions):
            break
    consumer.close()
    return b"".join(chunks)
