"""`rls serve consent` killed by SIGKILL during a burst of decisions (group commit at work), as one process and as two
workers on one port and one SQLite store (`--workers 2`, every process killed at once, as when the host falls): after
a restart every decision answered to a caller is in the store, sealed, and on `rls.consent.decisions.v1`; asked again
with the same Idempotency-Key, each is answered as it was (none twice with different outcomes)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import Tracking

from services.audit.verification import verify_store
from services.common.integrity.sealing import SealedStore
from services.consent import inbound
from services.consent.application import Actor, ConsentTerms
from services.consent.main import build_application
from services.consent.settings import ConsentSettings
from services.contract import topics
from services.contract.codes import OrgKind
from tests.consent.conftest import organisation_event
from tests.helpers import free_port, read_topic, service_env, service_process, wait_for, wait_ready, workers_of

pytestmark = pytest.mark.integration

CLIENTS = 8
KILL_AFTER = 150
"""Answers received before the kill (the clients keep sending: requests are in flight when it falls)."""
SUBJECTS = 20


def seed(settings: ConsentSettings, discloser: str, recipient: str) -> None:
    """The two organisations, and a consent to `recipient` for half the subjects (answers differ by subject)."""
    now = datetime.now(UTC)
    with build_application(settings) as consents:
        handle = inbound.handler(consents)
        for offset, (org, kind) in enumerate(((discloser, OrgKind.CSSS), (recipient, OrgKind.ESTABLISHMENT)), 1):
            handle(organisation_event(org, kind, now - timedelta(days=400)), Tracking("seed#0", offset))
        for n in range(0, SUBJECTS, 2):
            terms = ConsentTerms(
                subject_id=f"S-{n:05d}",
                subject_birth_date=date(1980, 1, 1),
                grantor_role="SELF",
                grantor_mandate_ref=None,
                grantor_scope=None,
                method="WRITTEN",
                purposes=("REFERRAL",),
                recipient_org_ids=(recipient,),
                recipient_kinds=(),
                categories=("IDENTIFICATION", "REFERRAL_REASON"),
                valid_from=now - timedelta(days=30),
                valid_until=None,
            )
            consents.record_consent(terms, Actor("seed", discloser))


@dataclass(frozen=True)
class Seeded:
    """A consent service's settings and store, seeded (`seed`), not started: where it will listen, with what."""

    run: str
    port: int
    env: dict[str, str]
    settings: ConsentSettings
    headers: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, subject: int, categories: list[str]) -> dict[str, Any]:
        """A decision about subject `subject` (those of even number consented), from the discloser to the
        recipient."""
        return {
            "subject_id": f"S-{subject:05d}",
            "discloser_org_id": f"csss-{self.run}",
            "recipient_org_id": f"org-{self.run}",
            "purpose": "REFERRAL",
            "categories": categories,
        }


@pytest.fixture
def seeded(kafka_bootstrap: str, tmp_path: Path, dev_key_file: Path, token: Callable[..., str]) -> Seeded:
    run = uuid.uuid4().hex[:8]
    port = free_port()
    env = {
        **service_env("consent", kafka_bootstrap, tmp_path, dev_key_file, port),
        "CONSENT_CONSUMERS_ENABLED": "false",
    }
    settings = ConsentSettings(
        event_store=env["CONSENT_EVENT_STORE"], var_dir=tmp_path, dev_key_file=dev_key_file, port=port
    )
    seed(settings, f"csss-{run}", f"org-{run}")
    headers = {"Authorization": f"Bearer {token(f'csss-{run}', 'intake')}", "Content-Type": "application/json"}
    return Seeded(run, port, env, settings, headers)


Answer = tuple[str, str, tuple[str, ...]]
"""(decision id, outcome, permitted categories)"""


def answer_of(payload: dict[str, Any]) -> Answer:
    return payload["decision_id"], payload["outcome"], tuple(payload["permitted_categories"])


def burst(
    port: int,
    headers: dict[str, str],
    bodies: Callable[[str], bytes],
    run: str,
    answered: dict[str, Answer],
    sent: set[str],
    killed: threading.Event,
) -> None:
    """`CLIENTS` keep-alive clients sending decisions (one Idempotency-Key each) until the server falls."""

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while not killed.is_set():
            key = f"{run}-{number}-{n}"
            n += 1
            sent.add(key)
            try:
                connection.request("POST", "/v1/decisions", bodies(key), {**headers, "Idempotency-Key": key})
                response = connection.getresponse()
                payload = json.loads(response.read())
            except (OSError, http.client.HTTPException):
                return  # the server fell with this request in flight
            assert response.status == 200, payload
            answered[key] = answer_of(payload)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


@pytest.mark.parametrize("workers", [1, 2])
def test_decisions_answered_before_a_sigkill_are_stored_sealed_and_published(
    seeded: Seeded, kafka_bootstrap: str, tmp_path: Path, workers: int
) -> None:
    run, env, settings, headers = seeded.run, seeded.env, seeded.settings, seeded.headers
    port, base_url = seeded.port, seeded.base_url

    def body(key: str) -> bytes:
        subject = int(key.rsplit("-", 1)[1]) % SUBJECTS
        return json.dumps(seeded.request(subject, ["IDENTIFICATION", "REFERRAL_REASON", "HEALTH"])).encode()

    answered: dict[str, Answer] = {}
    sent: set[str] = set()
    killed = threading.Event()
    serve = ("--workers", str(workers))
    with service_process("consent", env, tmp_path / "first.log", *serve) as first:
        wait_ready(base_url, first)
        if workers > 1:
            wait_for(lambda: len(workers_of(first.pid)) == workers, timeout=30)
        clients = threading.Thread(target=burst, args=(port, headers, body, run, answered, sent, killed))
        clients.start()
        wait_for(lambda: len(answered) >= KILL_AFTER, timeout=60, interval=0.01)
        os.killpg(first.pid, signal.SIGKILL)  # its workers too
        killed.set()
        first.wait(10)
        clients.join(60)
    in_flight = sent - set(answered)
    assert len(answered) >= KILL_AFTER and in_flight, "the kill must fall during the burst"

    with service_process("consent", env, tmp_path / "second.log", *serve) as second:
        wait_ready(base_url, second)
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            for key in sorted(sent):  # answered as it was, or recorded now: never a second, different answer
                again = client.post("/v1/decisions", content=body(key), headers={"Idempotency-Key": key})
                assert again.status_code == 200
                if key in answered:
                    assert answer_of(again.json()) == answered[key]
                    assert again.headers.get("Idempotent-Replayed") == "true"
            for decision_id, outcome, permitted in answered.values():
                stored = client.get(f"/v1/decisions/{decision_id}")
                assert stored.status_code == 200
                assert (stored.json()["outcome"], tuple(stored.json()["permitted_categories"])) == (outcome, permitted)
        returned = {decision_id for decision_id, _, _ in answered.values()}

        def published() -> set[str]:
            found = set()
            for _, event in read_topic(kafka_bootstrap, topics.CONSENT_DECISIONS):
                if event is not None and isinstance(event.data, dict):
                    found.add(event.data.get("decision_id"))
            return found & returned

        wait_for(lambda: published() == returned, timeout=60, interval=0.5)
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) in (0, -signal.SIGTERM)

    with build_application(settings) as consents:
        assert isinstance(consents.recorder, SealedStore)
        verification = verify_store(consents.recorder)
        assert verification.ok, verification.first
        sealed = {seal.originator_id for seal in consents.recorder.read_seals(0, 1_000_000)}
        assert returned <= sealed
    assert len(set(answered.values())) == len(answered), "one decision per key"


def test_a_worker_killed_alone_is_started_again_and_the_service_goes_on(seeded: Seeded, tmp_path: Path) -> None:
    """`rls serve consent --workers 2`: a worker killed by SIGKILL is replaced, and its port keeps answering."""
    request = seeded.request(0, ["IDENTIFICATION"])
    with service_process("consent", seeded.env, tmp_path / "serve.log", "--workers", "2") as supervisor:
        wait_ready(seeded.base_url, supervisor)
        wait_for(lambda: len(workers_of(supervisor.pid)) == 2, timeout=30)
        killed, kept = workers_of(supervisor.pid)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: killed not in workers_of(supervisor.pid) and len(workers_of(supervisor.pid)) == 2, timeout=30)
        assert kept in workers_of(supervisor.pid)
        for _ in range(20):  # a connection each: whichever worker takes it answers
            answer = httpx.post(f"{seeded.base_url}/v1/decisions", json=request, headers=seeded.headers, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcome"] == "PERMIT"
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(20) == 0
