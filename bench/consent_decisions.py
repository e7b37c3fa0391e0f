"""Consent decisions benchmark: the engine and `decide()` in process, then `POST /v1/decisions` and
`POST /v1/disclosures` over HTTP beside Open Policy Agent answering the same consent route, in one run.

    .venv/bin/python bench/consent_decisions.py [--rates 200,500,1000] [--seconds 10] [--store URL] [--workers 1]
        [--no-opa] [--idempotency-keys]

In process, it also times two processes deciding at once on the same store (as API processes scaled out on one
SQLite file: their writes take turns, `services/common/writer_lock.py`).

Every HTTP figure comes from one open-loop generator (request i is due at start + i/rate; latency counts from that
due time, so a slow answer delays nobody's clock), driving in turn the consent service (`rls serve consent --workers
N` in processes of its own; every decision recorded, sealed and in the outbox before it is answered) and `opa run
--server` evaluating route A-1 (`bench/opa/consent_a1.rego`: a consent of the subject covers recipient, purpose and
time; permitted = requested ∩ consented) over the same consents of `--subjects` people. OPA records nothing. It is
built once from the Go module proxy into ~/.cache/rls/tools (outside git); without Go the comparison is skipped,
saying so. The saturation rate of each is the highest rate of a rising ladder whose p99 stays under 10 ms. Synthetic
data only; Kafka is not needed (relay and consumers off).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.persistence import Tracking

from services.common.auth import load_dev_key, mint_dev_token
from services.common.group_commit import GroupCommit
from services.common.heap import settle_heap
from services.common.service import application_env
from services.consent import inbound
from services.consent.api_models import DecisionCreate
from services.consent.application import Actor, Consents, ConsentTerms, DecisionRequest
from services.consent.engine import evaluate
from services.consent.settings import ConsentSettings
from services.contract.codes import InfoCategory, OrgKind, ServiceCode
from tests.consent.conftest import agreement_event, organisation_event
from tests.helpers import free_port, service_process, wait_for, wait_ready, workers_of

ORGS = [f"org-{n:03d}" for n in range(40)]
DISCLOSER = "csss-bench"
CATEGORIES = [c.value for c in InfoCategory]
OPA_VERSION = "v1.22.4"
OPA_POLICY = Path(__file__).parent / "opa" / "consent_a1.rego"
SATURATED_P99_S = 0.010
LADDER = (200, 300, 500, 700, 1000, 1500, 2000, 3000, 4000, 6000)
"""Rates tried, in order, until p99 reaches 10 ms (the saturation rate is the last one under it)."""


def consents_of(rnd: random.Random, subjects: int) -> list[ConsentTerms]:
    """One to three consents per person, the same for the platform and for OPA."""
    now = datetime.now(UTC)
    return [
        ConsentTerms(
            subject_id=f"S-{s:05d}",
            subject_birth_date=date(1950 + rnd.randint(0, 60), rnd.randint(1, 12), rnd.randint(1, 28)),
            grantor_role="SELF",
            grantor_mandate_ref=None,
            grantor_scope=None,
            method="WRITTEN",
            purposes=tuple(rnd.sample(["REFERRAL", "JOINT_FOLLOW_UP", "SERVICE_ON_BEHALF"], 2)),
            recipient_org_ids=tuple(rnd.sample(ORGS, 2)),
            recipient_kinds=(),
            categories=tuple(rnd.sample(CATEGORIES, 4)),
            valid_from=now - timedelta(days=rnd.randint(1, 300)),
            valid_until=now + timedelta(days=rnd.randint(1, 300)),
        )
        for s in range(subjects)
        for _ in range(rnd.randint(1, 3))
    ]


def seed(app: Consents, consents: list[ConsentTerms]) -> float:
    """Organisations, service agreements, and the consents (recorded by 16 concurrent writers: group commit);
    returns the consents recorded per second."""
    now = datetime.now(UTC)
    offset = 0
    offset += 1
    inbound.handler(app)(
        organisation_event(DISCLOSER, OrgKind.CSSS, now - timedelta(days=400)), Tracking("bench#0", offset)
    )
    for n, org in enumerate(ORGS):
        kind = [OrgKind.COMMUNITY_ORGANISATION, OrgKind.ESTABLISHMENT, OrgKind.PROFESSIONAL][n % 3]
        events = [organisation_event(org, kind, now - timedelta(days=400))]
        if n % 4 == 0:
            events.append(
                agreement_event(
                    "activated",
                    now - timedelta(days=100),
                    agreement_id=f"ag-{org}",
                    parties=(DISCLOSER, org),
                    on_behalf=((DISCLOSER, (ServiceCode.CRISIS_24_7,)),),
                )
            )
        for event in events:
            offset += 1
            inbound.handler(app)(event, Tracking("bench#0", offset))
    actor = Actor("bench", DISCLOSER)
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda terms: app.record_consent(terms, actor), consents))
    return len(consents) / (time.perf_counter() - start)


def opa_data(consents: list[ConsentTerms]) -> dict[str, Any]:
    """The same consents as OPA's data document (instants in nanoseconds since the epoch)."""
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for c in consents:
        by_subject.setdefault(c.subject_id, []).append(
            {
                "recipient_org_ids": list(c.recipient_org_ids),
                "purposes": list(c.purposes),
                "categories": list(c.categories),
                "valid_from_ns": int(c.valid_from.timestamp() * 1e9),
                "valid_until_ns": None if c.valid_until is None else int(c.valid_until.timestamp() * 1e9),
            }
        )
    return {"consents": by_subject}


DANGER = {
    "act": "SUICIDE",
    "risk": "DEATH",
    "at_risk": "USER",
    "urgent": True,
    "recipient_role": "HELPER",
    "authorised_by": "DSP-DIR-1",
}
LEGAL_INPUTS: list[tuple[int, dict[str, Any]]] = [
    (60, {}),
    (15, {"purpose": "EMERGENCY", "context": {"danger_assessment": DANGER}}),
    (
        10,
        {
            "purpose": "USER_REQUESTED_TRANSFER",
            "context": {"subject_deceased_on": "2026-01-15", "requester_role": "SPOUSE"},
        },
    ),
    (
        10,
        {
            "purpose": "USER_REQUESTED_TRANSFER",
            "subject_birth_date": "2012-03-04",
            "context": {"minor": {"youth_protection_intervention": False}, "requester_role": "PARENT"},
        },
    ),
    (5, {"context": {"anonymous": True, "danger_assessment": DANGER}, "purpose": "EMERGENCY"}),
]
"""The mix of requests: ordinary referrals, and each kind of legal input the engine reads (weights in %)."""


def ask(rnd: random.Random, subjects: int, legal: bool = True) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if legal:
        [extra] = rnd.choices([extra for _, extra in LEGAL_INPUTS], weights=[w for w, _ in LEGAL_INPUTS])
    return {
        "subject_id": f"S-{rnd.randrange(subjects):05d}",
        "discloser_org_id": DISCLOSER,
        "recipient_org_id": rnd.choice(ORGS),
        "purpose": rnd.choice(["REFERRAL", "JOINT_FOLLOW_UP", "SERVICE_ON_BEHALF"]),
        "recipient_service": "CRISIS_24_7",
        "categories": rnd.sample(CATEGORIES, 3),
        **extra,
    }


def request_of(body: dict[str, Any]) -> DecisionRequest:
    """The request as the REST API reads the same body."""
    return DecisionCreate.model_validate(body).request()


def percentiles(samples_s: list[float]) -> str:
    ordered = sorted(samples_s)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e6:8.1f} µs   p99 {p99 * 1e6:8.1f} µs   (n={len(ordered)})"


def in_process(app: Consents, rnd: random.Random, n: int, subjects: int) -> None:
    recorded = [app.decide(request_of(ask(rnd, subjects)), Actor("bench", DISCLOSER))[0] for _ in range(200)]
    settle_heap()  # as the service settles its heap at start: full collections skip what seeding built
    engine = []
    for i in range(n):
        r = recorded[i % len(recorded)]
        start = time.perf_counter()
        evaluate(r.input, r.facts)
        engine.append(time.perf_counter() - start)
    print(f"engine evaluate()          {percentiles(engine)}")
    decide = []
    for _ in range(n // 10):
        body = request_of(ask(rnd, subjects))
        start = time.perf_counter()
        app.decide(body, Actor("bench", DISCLOSER))
        decide.append(time.perf_counter() - start)
    print(f"application decide()       {percentiles(decide)}  (read model + engine + the store's write, one caller)")
    requests = [request_of(ask(rnd, subjects)) for _ in range(n // 4)]
    half = len(requests) // 2
    alone = concurrent_decisions(app, requests[:half], OneTransactionEach(app.write))
    grouped = concurrent_decisions(app, requests[half:], GroupCommit(app.write))
    print(
        f"application decide(), 16 concurrent callers: one transaction each p50/p99 {alone}; "
        f"group commit p50/p99 {grouped}"
    )


PROCESS_CALLERS, PROCESS_SECONDS = 4, 5.0


def deciding_process(store: str, scratch: str, seed: int, subjects: int, results: Any) -> None:
    """One process of `processes_deciding`: `PROCESS_CALLERS` threads deciding for `PROCESS_SECONDS`; puts its
    latencies (s) on `results`."""
    rnd = random.Random(seed)
    with Consents(env=application_env(bench_settings(store, scratch))) as app:
        actor = Actor("bench", DISCLOSER)
        requests = iter([request_of(ask(rnd, subjects)) for _ in range(int(4000 * PROCESS_SECONDS))])
        app.decide(next(requests), actor)  # the read model caught up
        latencies: list[float] = []
        taken = threading.Lock()
        stop = time.monotonic() + PROCESS_SECONDS

        def caller() -> None:
            while time.monotonic() < stop:
                with taken:
                    request = next(requests)
                begin = time.perf_counter()
                app.decide(request, actor)
                latencies.append(time.perf_counter() - begin)

        callers = [threading.Thread(target=caller) for _ in range(PROCESS_CALLERS)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join()
    results.put(latencies)


def processes_deciding(store: str, scratch: str, subjects: int, processes: int = 2) -> str:
    """`processes` processes deciding at once on one store, as API processes scaled out on one SQLite file do: their
    writes take turns on the store (`services.common.writer_lock`)."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    workers = [
        spawn.Process(target=deciding_process, args=(store, scratch, 1000 + n, subjects, results))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies = sorted(latency for _ in workers for latency in results.get(timeout=PROCESS_SECONDS + 120))
    for worker in workers:
        worker.join()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return (
        f"{processes} processes x {PROCESS_CALLERS} callers on one store: p50/p99 {p50 * 1e3:.1f}/{p99 * 1e3:.1f} ms,"
        f" {len(latencies) / PROCESS_SECONDS:.0f} decisions/s"
    )


class OneTransactionEach:
    """The store as it was written before group commit: each caller its own transaction, concurrently (SQLite
    serialises them, a waiting writer sleeping in its busy handler)."""

    def __init__(self, write: Callable[[Any], Any]) -> None:
        self.record = write
        self.batches = 0


def concurrent_decisions(
    app: Consents, requests: list[DecisionRequest], committer: GroupCommit | OneTransactionEach
) -> str:
    """16 threads deciding `requests` as fast as they can through `committer`: latencies, rate and transactions."""
    app.group_commit = committer  # type: ignore[assignment]
    actor = Actor("bench", DISCLOSER)
    latencies: list[float] = []

    def decide(request: DecisionRequest) -> None:
        begin = time.perf_counter()
        app.decide(request, actor)
        latencies.append(time.perf_counter() - begin)

    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(decide, requests))
    rate = len(requests) / (time.perf_counter() - start)
    transactions = f", {committer.batches} transactions" if committer.batches else ""
    ordered = sorted(latencies)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"{p50 * 1e3:.1f}/{p99 * 1e3:.1f} ms, {rate:.0f} decisions/s{transactions}"


@dataclass(frozen=True)
class Target:
    """An HTTP endpoint under load: where, which bodies (one per request, cycled), which headers, and whether each
    request carries an Idempotency-Key of its own."""

    name: str
    port: int
    pids: list[int]
    path: str
    bodies: list[bytes]
    headers: dict[str, str]
    keyed: bool = False


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the server processes used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    rate: float
    latencies: list[float]
    errors: int
    cpu_s: float
    generator_cpu_s: float
    """The load generator's own CPU time (this process: the machine's two cores serve it too)."""

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies) or [float("inf")]
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    def per_core(self) -> float:
        """Requests one core of server CPU answers per second at this run's cost per request."""
        return max(1, len(self.latencies) + self.errors) / self.cpu_s if self.cpu_s > 0 else float("inf")

    def line(self) -> str:
        p50, p99, worst = self.quantile(0.5), self.quantile(0.99), max(self.latencies, default=float("inf"))
        requests = max(1, len(self.latencies) + self.errors)
        return (
            f"p50 {p50 * 1e3:8.2f} ms  p99 {p99 * 1e3:8.2f} ms  max {worst * 1e3:8.2f} ms  "
            f"errors {self.errors:4d}  server CPU {self.cpu_s / requests * 1e3:5.2f} ms/request  "
            f"(generator {self.generator_cpu_s / requests * 1e3:4.2f})  (n={len(self.latencies)})"
        )


def drive(target: Target, rate: float, seconds: float, clients: int = 16) -> Run:
    """Open loop: request i is due at start + i/rate; a pool of blocking keep-alive connections sends them.

    http.client in threads rather than an asyncio client: the load generator must cost far less than the server,
    or its own scheduling delays show up as server latency. A request answered otherwise than 200, or not within
    2 s, is an error.
    """
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    tickets = itertools.count()
    start = time.monotonic() + 0.5
    run = uuid.uuid4().hex  # the keys of this run: none asked before

    def headers(i: int) -> dict[str, str]:
        return {**target.headers, "Idempotency-Key": f"{run}-{i}"} if target.keyed else target.headers

    def worker() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=2)
        while (i := next(tickets)) < total:
            scheduled = start + i / rate
            time.sleep(max(0.0, scheduled - time.monotonic()))
            try:
                connection.request("POST", target.path, target.bodies[i % len(target.bodies)], headers(i))
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=2)
                ok = False
            if ok:
                latencies.append(time.monotonic() - scheduled)
            else:
                errors += 1
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    used, own = cpu_seconds(target.pids), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Run(rate, latencies, errors, cpu_seconds(target.pids) - used, time.process_time() - own)


WARMING_REQUESTS = 20
"""Requests a server process answers before measuring, each on a connection of its own (whichever worker takes it)."""


def warm(target: Target) -> None:
    """One request before measuring, however long it takes (the service's read model catches up with the store),
    then `WARMING_REQUESTS` a worker."""
    url = f"http://127.0.0.1:{target.port}{target.path}"
    for _ in range(1 + WARMING_REQUESTS * len(target.pids)):
        httpx.post(url, content=target.bodies[0], headers=target.headers, timeout=300).raise_for_status()


def saturation(target: Target, seconds: float) -> float | None:
    """The highest rate of `LADDER` answered with p99 under 10 ms and no error (None: not even the first)."""
    best = None
    for rate in LADDER:
        run = drive(target, rate, seconds)
        if run.errors or run.quantile(0.99) >= SATURATED_P99_S:
            break
        best = float(rate)
    return best


def bench_settings(store: str, scratch: str, port: int = 0) -> ConsentSettings:
    """The service's settings: the seeding application and the server read the same (encrypted) store."""
    return ConsentSettings(
        event_store=store,
        relay_enabled=False,
        consumers_enabled=False,
        var_dir=Path(scratch),
        dev_key_file=Path(scratch) / "key",
        port=port,
    )


@contextmanager
def consent_service(store: str, scratch: str, workers: int) -> Iterator[tuple[int, list[int]]]:
    """`rls serve consent --workers N` on the store, relay and consumers off (Kafka is not needed); its port and the
    process ids of the workers answering on it (all killed on the way out)."""
    port = free_port()
    env = {
        "RLS_MODE": "dev",
        "RLS_VAR_DIR": scratch,
        "RLS_DEV_KEY_FILE": str(Path(scratch) / "key"),
        "CONSENT_EVENT_STORE": store,
        "CONSENT_PORT": str(port),
        "CONSENT_RELAY_ENABLED": "false",
        "CONSENT_CONSUMERS_ENABLED": "false",
    }
    with service_process("consent", env, Path(scratch) / "consent.log", "--workers", str(workers)) as server:
        wait_ready(f"http://127.0.0.1:{port}", server, "/healthz")
        if workers > 1:
            wait_for(lambda: len(workers_of(server.pid)) >= workers, timeout=60)
        yield port, [server.pid] if workers == 1 else workers_of(server.pid)


def opa_binary() -> Path | None:
    """`opa` from $RLS_OPA, the cache, or built there with Go (None, and why, when neither is possible)."""
    if os.environ.get("RLS_OPA"):
        return Path(os.environ["RLS_OPA"])
    cache = Path(os.environ.get("RLS_CACHE_DIR", Path.home() / ".cache" / "rls")) / "tools" / f"opa-{OPA_VERSION}"
    binary = cache / "opa"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        print(f"OPA comparison skipped: Go is not installed (needed once to build opa {OPA_VERSION}; or set RLS_OPA)")
        return None
    print(f"building opa {OPA_VERSION} from the Go module proxy into {cache} (once) ...", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", f"github.com/open-policy-agent/opa@{OPA_VERSION}"],
        env={**os.environ, "GOBIN": str(cache)},
        check=True,
    )
    return binary


@contextmanager
def opa_server(binary: Path, data: dict[str, Any], scratch: str) -> Iterator[tuple[int, int]]:
    data_file = Path(scratch) / "data.json"
    data_file.write_text(json.dumps(data))
    port = free_port()
    command = [str(binary), "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"]
    command += ["--skip-version-check", str(OPA_POLICY), str(data_file)]
    process = subprocess.Popen(command)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, "/health")
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(10)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:6.1f}×" if theirs > 0 else "   n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,500,1000", help="HTTP requests per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each HTTP run")
    parser.add_argument("--ladder-seconds", type=float, default=4.0, help="duration of each saturation step")
    parser.add_argument("--n", type=int, default=20000, help="in-process evaluations")
    parser.add_argument("--subjects", type=int, default=10000, help="people with consents on file")
    parser.add_argument("--store", default=None, help="event store URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--workers", type=int, default=1, help="consent API processes sharing the store")
    parser.add_argument("--no-opa", action="store_true", help="skip the comparison with Open Policy Agent")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="each of our requests with an Idempotency-Key of its own"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    rnd = random.Random(20261125)
    consents = consents_of(rnd, args.subjects)
    with tempfile.TemporaryDirectory() as scratch:
        store = args.store or f"sqlite:///{Path(scratch) / 'bench.db'}"
        with Consents(env=application_env(bench_settings(store, scratch))) as app:
            seeded = seed(app, consents)
            print(f"seeded {len(consents)} consents of {args.subjects} people: {seeded:.0f} consents/s (16 writers)")
            in_process(app, rnd, args.n, args.subjects)
        print(f"application decide(), {processes_deciding(store, scratch, args.subjects)}")
        token = mint_dev_token(load_dev_key(Path(scratch) / "key"), DISCLOSER, ["intake"], "bench", "rls", timedelta(1))
        requests = [ask(rnd, args.subjects) for _ in range(int(max(rates) * args.seconds))]
        encoded = [json.dumps(r).encode() for r in requests]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        binary = None if args.no_opa else opa_binary()
        with (
            consent_service(store, scratch, args.workers) as (port, pids),
            opa_or_none(binary, consents, scratch) as opa_server_,
        ):
            decisions = Target("ours", port, pids, "/v1/decisions", encoded, headers, args.idempotency_keys)
            disclosures = Target("ours", port, pids, "/v1/disclosures", encoded, headers, args.idempotency_keys)
            opa = None
            if opa_server_ is not None:
                inputs = [json.dumps({"input": r}).encode() for r in requests]
                opa_port, opa_pid = opa_server_
                json_only = {"Content-Type": "application/json"}
                opa = Target("opa", opa_port, [opa_pid], "/v1/data/rls/consent/decision", inputs, json_only)
            for target in (decisions, disclosures, *([opa] if opa else [])):
                warm(target)
            per_core: dict[str, float] = {}
            for rate in rates:
                ours = drive(decisions, rate, args.seconds)
                per_core.setdefault("POST /v1/decisions", ours.per_core())
                print(f"{rate:6.0f}/s  POST /v1/decisions    {ours.line()}")
                disclosed = drive(disclosures, rate, args.seconds)
                print(f"{rate:6.0f}/s  POST /v1/disclosures  {disclosed.line()}")
                if opa is not None:
                    theirs = drive(opa, rate, args.seconds)
                    per_core.setdefault(f"OPA {OPA_VERSION}", theirs.per_core())
                    print(f"{rate:6.0f}/s  OPA {OPA_VERSION} (A-1)     {theirs.line()}")
                    print(
                        f"{rate:6.0f}/s  ours/OPA              p50 {ratio(ours.quantile(0.5), theirs.quantile(0.5))}"
                        f"   p99 {ratio(ours.quantile(0.99), theirs.quantile(0.99))}"
                    )
            capacity = ", ".join(f"{name} {rate:.0f}/s" for name, rate in per_core.items())
            print(f"one core's worth of server CPU (at {rates[0]:.0f}/s): {capacity}")
            print(f"saturation (p99 < 10 ms, {args.ladder_seconds:.0f} s per step of {LADDER}):")
            print(f"  POST /v1/decisions: {saturation(decisions, args.ladder_seconds) or 'below the first step'}/s")
            if opa is not None:
                print(f"  OPA {OPA_VERSION}: {saturation(opa, args.ladder_seconds) or 'below the first step'}/s")
        where = f"event store: {store.split(':', 1)[0]}, {args.workers} API process(es)"
        print(f"{where}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


@contextmanager
def opa_or_none(binary: Path | None, consents: list[ConsentTerms], scratch: str) -> Iterator[tuple[int, int] | None]:
    if binary is None:
        yield None
        return
    with opa_server(binary, opa_data(consents), scratch) as server:
        yield server


if __name__ == "__main__":
    main()
