"""Standards board benchmark: board lag at a steady rate, and replay of a million Info-Social calls into the board.

On topics of its own (and a faust worker of its own, `python -m services.standards.worker`):

1. lag: call reports published at 50 events/s for 20 s, each in a region of its own, so that each event creates its
   rows; the time from publishing an event to its row's first record on the board topic (event on topic → board
   updated), p50 and p99;
2. replay: 1,000,000 call reports (18 regions, 90 days) published first, then, in the same run and on the same topic,
   a bare kafka-python consumer reading every record and doing nothing, the board's worker consuming them from
   offset 0 into its tables and rows (until its committed offsets reach the end, worker start included), and the
   bare consumer again; events/s of each.

Uses KAFKA_BOOTSTRAP_SERVERS when set, else starts a local broker (from the Maven cache, as `make run` does) on free
ports and stops it at the end.

Usage: `PYTHONPATH=. .venv/bin/python bench/standards_board.py [--calls 1000000] [--rate 50] [--seconds 20]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from bench.audit_replay import line, on_a_broker, raw_consume
from services.common.kafka import ensure_topics, make_admin
from services.contract.infosocial_events import InfoSocialCallV1
from services.standards.inbound import call_event

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
REGIONS = [f"{n:02d}" for n in range(1, 19)]


class Worker:
    """The board's worker on topics named `<prefix>.<topic>`."""

    def __init__(self, bootstrap: str, prefix: str, scratch: Path) -> None:
        self.app_id = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "STANDARDS_APP_ID": self.app_id,
            "STANDARDS_CALLS_TOPIC": f"{prefix}.calls",
            "STANDARDS_REFERRAL_TOPIC": f"{prefix}.referral",
            "STANDARDS_AGREEMENTS_TOPIC": f"{prefix}.agreements",
            "STANDARDS_BOARD_TOPIC": f"{prefix}.board",
            "RLS_VAR_DIR": str(scratch),
            "STANDARDS_BROKER_SESSION_TIMEOUT_S": "6",
        }
        self.log = open(scratch / f"{self.app_id}.log", "wb")  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.standards.worker"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def topics_for(bootstrap: str) -> str:
    prefix = f"bench.{uuid.uuid4().hex[:8]}"
    admin = make_admin(bootstrap, "bench-standards")
    ensure_topics(admin, [f"{prefix}.{t}" for t in ("calls", "referral", "agreements")])
    admin.close()
    return prefix


def report(n: int, region: str, offered: datetime) -> InfoSocialCallV1:
    wait = timedelta(seconds=(n * 37) % 400)
    answered = {"answered_at": offered + wait} if n % 10 else {"abandoned_at": offered + wait}
    return InfoSocialCallV1(call_id=f"call-{n}", region=region, offered_at=offered, anonymous=n % 3 == 0, **answered)


def lag(bootstrap: str, scratch: Path, rate: int, seconds: int) -> None:
    prefix = topics_for(bootstrap)
    worker = Worker(bootstrap, prefix, scratch)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    board = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        while not board.partitions_for_topic(f"{prefix}.board") and not stop.is_set():
            time.sleep(0.2)
        parts = [TopicPartition(f"{prefix}.board", p) for p in board.partitions_for_topic(f"{prefix}.board")]
        board.assign(parts)
        board.seek_to_beginning(*parts)
        while not stop.is_set():
            for records in board.poll(timeout_ms=100).values():
                for record in records:
                    region = record.key.decode().split("|")[1]
                    seen.setdefault(region, time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        send(producer, prefix, report(0, "warm-up", T0))  # the worker is up once its row is on the board
        while "warm-up" not in seen:
            time.sleep(0.1)
        sent: dict[str, float] = {}
        started = time.monotonic()
        for n in range(rate * seconds):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
            region = f"lag-{n}"
            sent[region] = time.monotonic()
            send(producer, prefix, report(n, region, T0 + timedelta(minutes=n)))
        deadline = time.monotonic() + 30
        while len(set(sent) & set(seen)) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        watcher.join()
        board.close()
        producer.close()
        worker.stop()
    lags = sorted(1000 * (seen[r] - t) for r, t in sent.items() if r in seen)
    p50, p99 = statistics.median(lags), lags[int(0.99 * (len(lags) - 1))]
    seen_of = f"{len(lags)} of {len(sent)} seen"
    print(f"board lag at {rate} events/s for {seconds} s ({seen_of}): p50 {p50:.0f} ms, p99 {p99:.0f} ms")


def send(producer: KafkaProducer, prefix: str, call: InfoSocialCallV1) -> None:
    headers, value = call_event(call, "/bench").to_kafka()
    producer.send(f"{prefix}.calls", key=call.region.encode(), value=value, headers=headers)


def committed(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return sum(o.offset for o in admin.list_group_offsets(group).get(group, {}).values() if o.offset > 0)
    finally:
        admin.close()


def replay(bootstrap: str, scratch: Path, calls: int) -> None:
    prefix = topics_for(bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)
    started = time.monotonic()
    spacing = timedelta(days=90) / calls
    for n in range(calls):
        send(producer, prefix, report(n, REGIONS[n % len(REGIONS)], T0 + n * spacing))
    producer.flush()
    producer.close()
    print(f"published {calls:,} call reports in {time.monotonic() - started:.1f} s")
    names = [f"{prefix}.calls"]
    raw_first = line("bare kafka-python consumer", *raw_consume(bootstrap, names, True))
    started = time.monotonic()
    worker = Worker(bootstrap, prefix, scratch)
    try:
        while committed(bootstrap, worker.app_id) < calls:
            time.sleep(0.5)
        board = line("standards board worker", calls, time.monotonic() - started)
    finally:
        worker.stop()
    raw_again = line("bare consumer again", *raw_consume(bootstrap, names, True))
    print(f"  board / raw = {100 * board / max(raw_first, raw_again):.0f} %")


def run(bootstrap: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        lag(bootstrap, Path(scratch), args.rate, args.seconds)
        replay(bootstrap, Path(scratch), args.calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    on_a_broker(lambda bootstrap: run(bootstrap, args))


if __name__ == "__main__":
    sys.exit(main())
