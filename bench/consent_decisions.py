"""Consent decisions benchmark: in-process latency per decision and REST latency at a fixed request rate.

    .venv/bin/python bench/consent_decisions.py [--rate 200] [--seconds 10]

Prints p50/p99 of (1) the pure engine (`evaluate`), (2) the application's `decide` (facts from the read model,
evaluation, the decision recorded in a SQLite event store), and (3) `POST /v1/decisions` over HTTP against a
uvicorn server, requests sent open-loop at `--rate` per second (latency counted from the scheduled send time, so
a slow response delays nobody's clock). Synthetic data only; Kafka is not needed (relay and consumers off).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eventsourcing.persistence import Tracking

from services.common.auth import load_dev_key, mint_dev_token
from services.common.service import application_env
from services.consent import inbound
from services.consent.api_models import DecisionCreate
from services.consent.application import Actor, Consents, ConsentTerms, DecisionRequest
from services.consent.engine import evaluate
from services.consent.main import build_app
from services.consent.settings import ConsentSettings
from services.contract.codes import InfoCategory, OrgKind, ServiceCode
from tests.consent.conftest import agreement_event, organisation_event

SUBJECTS = 2000
ORGS = [f"org-{n:03d}" for n in range(40)]
DISCLOSER = "csss-bench"
CATEGORIES = [c.value for c in InfoCategory]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def seed(app: Consents, rnd: random.Random) -> None:
    """Organisations, service agreements, and one to three consents per person."""
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
    for s in range(SUBJECTS):
        for _ in range(rnd.randint(1, 3)):
            app.record_consent(
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
                ),
                actor,
            )


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
    (10, {"context": {"subject_deceased_on": "2026-01-15", "requester_role": "SPOUSE"}}),
    (10, {"subject_birth_date": "2012-03-04", "context": {"minor": {"youth_protection_intervention": False}}}),
    (5, {"context": {"anonymous": True, "danger_assessment": DANGER}, "purpose": "EMERGENCY"}),
]
"""The mix of requests: ordinary referrals, and each kind of legal input the engine reads (weights in %)."""


def ask(rnd: random.Random) -> dict[str, Any]:
    [legal] = rnd.choices([extra for _, extra in LEGAL_INPUTS], weights=[w for w, _ in LEGAL_INPUTS])
    return {
        "subject_id": f"S-{rnd.randrange(SUBJECTS):05d}",
        "discloser_org_id": DISCLOSER,
        "recipient_org_id": rnd.choice(ORGS),
        "purpose": rnd.choice(["REFERRAL", "JOINT_FOLLOW_UP", "SERVICE_ON_BEHALF"]),
        "recipient_service": "CRISIS_24_7",
        "categories": rnd.sample(CATEGORIES, 3),
        **legal,
    }


def request_of(body: dict[str, Any]) -> DecisionRequest:
    """The request as the REST API reads the same body."""
    return DecisionCreate.model_validate(body).request()


def percentiles(samples_s: list[float]) -> str:
    ordered = sorted(samples_s)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e6:8.1f} µs   p99 {p99 * 1e6:8.1f} µs   (n={len(ordered)})"


def in_process(app: Consents, rnd: random.Random, n: int) -> None:
    recorded = [app.decide(request_of(ask(rnd)), Actor("bench", DISCLOSER))[0] for _ in range(200)]  # warm-up
    engine = []
    for i in range(n):
        r = recorded[i % len(recorded)]
        start = time.perf_counter()
        evaluate(r.input, r.facts)
        engine.append(time.perf_counter() - start)
    print(f"engine evaluate()          {percentiles(engine)}")
    decide = []
    for _ in range(n // 10):
        body = request_of(ask(rnd))
        start = time.perf_counter()
        app.decide(body, Actor("bench", DISCLOSER))
        decide.append(time.perf_counter() - start)
    print(f"application decide()       {percentiles(decide)}  (read model + engine + SQLite write)")


def rest(base: str, token: str, rnd: random.Random, rate: float, seconds: float) -> list[float]:
    """Open loop: request i is due at start + i/rate; a pool of blocking keep-alive connections sends them.

    http.client in threads rather than an asyncio client: the load generator must cost far less than the server,
    or its own scheduling delays show up as server latency.
    """
    bodies = [json.dumps(ask(rnd)).encode() for _ in range(int(rate * seconds))]
    address = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    tickets = itertools.count()
    start = time.monotonic() + 0.5

    def worker() -> None:
        connection = http.client.HTTPConnection(address[0], int(address[1]), timeout=10)
        for _ in range(3):  # warm the connection
            connection.request("POST", "/v1/decisions", bodies[0], headers)
            connection.getresponse().read()
        while (i := next(tickets)) < len(bodies):
            scheduled = start + i / rate
            time.sleep(max(0.0, scheduled - time.monotonic()))
            connection.request("POST", "/v1/decisions", bodies[i], headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"POST /v1/decisions answered {response.status}")
            latencies.append(time.monotonic() - scheduled)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


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


def serve(store: str, scratch: str, port: int) -> None:
    """The consent service in its own process (the load generator must not share its interpreter)."""
    settings = bench_settings(store, scratch, port)
    uvicorn.run(build_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="REST requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="REST run duration")
    parser.add_argument("--n", type=int, default=20000, help="in-process evaluations")
    parser.add_argument("--store", default=None, help="event store URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    rnd = random.Random(20261125)
    with tempfile.TemporaryDirectory() as scratch:
        store = args.store or f"sqlite:///{Path(scratch) / 'bench.db'}"
        with Consents(env=application_env(bench_settings(store, scratch))) as app:
            seed(app, rnd)
            in_process(app, rnd, args.n)

        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(store, scratch, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        key = load_dev_key(Path(scratch) / "key")
        token = mint_dev_token(key, DISCLOSER, ["intake"], "bench", "rls", timedelta(hours=1))
        try:
            latencies = rest(base, token, rnd, args.rate, args.seconds)
        finally:
            server.terminate()
            server.join(10)
        print(f"REST POST /v1/decisions    {percentiles(latencies)}  at {args.rate:.0f} req/s for {args.seconds:.0f} s")
        print(f"event store: {store.split(':', 1)[0]}")


if __name__ == "__main__":
    main()
