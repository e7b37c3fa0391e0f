"""Acknowledged retired store ids: a store re-created lawfully (its database re-installed) is a `replaced-store`
finding until a network auditor acknowledges its retired id, with a reason; then its checkpoints are reported as
acknowledged, and the verification passes. Tampering stays a finding. The checkpoints are read from a list here (the
relay's own publisher writes them); `test_a_recreated_store_acknowledged_on_a_real_broker` reads them from Kafka."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka.errors import KafkaTimeoutError
from typer.testing import CliRunner

from services.audit.application import AuditQueries
from services.audit.domain import StoreAcknowledgement
from services.audit.main import build_app
from services.audit.settings import AuditSettings
from services.cli import cli
from services.common.clock import ManualClock
from services.common.eventstore import StoreRef, persistence_env
from services.common.integrity.checkpoints import Checkpoint, CheckpointPublisher, checkpoint_of
from services.common.integrity.sealing import SealedStore
from services.common.kafka import KafkaPublisher
from services.contract import topics
from tests.audit.conftest import Auth
from tests.audit.test_integrity import Counter, Counters, ListSink, RawStore

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ACKNOWLEDGEMENTS = "/v1/integrity/acknowledgements"
REASON = "Base de données réinstallée le 2026-11-20 (billet CHG-4711)"


def checkpoint_now(app: Counters, sink: Any, topic: str = topics.AUDIT_CHECKPOINTS) -> None:
    """What the service's relay does every interval: the chain head on the checkpoint topic."""
    publisher = CheckpointPublisher(app.recorder, sink, application=app.name, topic=topic, source="/rls/test")
    assert publisher.run_once() is not None


def store_id_of(app: Counters) -> str:
    assert isinstance(app.recorder, SealedStore)
    store_id = app.recorder.store_id()
    assert store_id is not None
    return store_id


class Referrals(Counters):
    """A store of the referral service's application, as the registry locates it (`<var>/referral.db`)."""

    name = "referrals"


def reinstall(
    path: Path, sink: Any, topic: str = topics.AUDIT_CHECKPOINTS, application: type[Counters] = Counters
) -> tuple[str, str]:
    """A store recorded and checkpointed, then its database re-installed (a new file: a new store id), recorded and
    checkpointed again; returns the retired store id and the current one."""
    url = f"sqlite:///{path}"
    with application(env=persistence_env(url)) as app:
        app.save(Counter(), Counter())
        checkpoint_now(app, sink, topic)
        retired = store_id_of(app)
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    with application(env=persistence_env(url)) as app:
        app.save(Counter())
        checkpoint_now(app, sink, topic)
        current = store_id_of(app)
    return retired, current


@dataclass
class World:
    """The audit service over one re-installed store (`counters`), its checkpoints read from `sink`."""

    settings: AuditSettings
    client_for: Callable[[FastAPI], TestClient]
    store: Path
    sink: ListSink
    retired: str
    current: str
    api: TestClient | None = None
    elsewhere: list[Checkpoint] = field(default_factory=list)
    """Checkpoints published by another publisher than the sink's (a second installation, say)."""
    store_url: str | None = None
    """Where the counters' store is, when not at `store` (a PostgreSQL server, say)."""

    def start(self) -> TestClient:
        def stores(_: Any) -> list[StoreRef]:
            return [StoreRef("counters", "counters", self.store_url or f"sqlite:///{self.store}")]

        app = build_app(self.settings, clock=ManualClock(NOW), stores=stores)
        queries: AuditQueries = app.state.queries
        queries.checkpoints = self.checkpoints
        self.api = self.client_for(app)
        return self.api

    def checkpoints(self) -> list[Checkpoint]:
        return [c for m in self.sink.sent if (c := checkpoint_of(m.event))] + self.elsewhere

    def integrity(self, auditor: dict[str, str], service: str = "counters") -> dict[str, Any]:
        assert self.api is not None
        response = self.api.get(f"/v1/integrity?service={service}", headers=auditor)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @property
    def queries(self) -> AuditQueries:
        assert self.api is not None
        queries: AuditQueries = self.api.app.state.queries  # type: ignore[attr-defined]
        return queries

    def audit_store(self) -> RawStore:
        """The audit service's own store, as someone with access to its database would write into it."""
        return RawStore(self.settings.event_store_url, "audit")

    def trail(self, auditor: dict[str, str]) -> list[tuple[str, str, str]]:
        assert self.api is not None
        entries = self.api.get("/v1/inquiries", headers=auditor).json()
        return [(e["action"], e["target"], e["outcome"]) for e in entries]


@pytest.fixture
def world(
    audit_settings: Callable[..., AuditSettings], client_for: Callable[[FastAPI], TestClient], tmp_path: Path
) -> World:
    sink = ListSink()
    store = tmp_path / "counters.db"
    retired, current = reinstall(store, sink)
    world = World(audit_settings(), client_for, store, sink, retired, current)
    world.start()
    return world


@pytest.fixture
def network(auth: Auth) -> dict[str, str]:
    return auth("ministere", "network-auditor", sub="auditor-7")


def acknowledge(world: World, auditor: dict[str, str], store_id: str, **overrides: Any) -> Any:
    assert world.api is not None
    body = {"application": "counters", "store_id": store_id, "reason": REASON, **overrides}
    return world.api.post(ACKNOWLEDGEMENTS, json=body, headers=auditor)


def test_a_reinstalled_store_is_a_finding_until_its_retired_id_is_acknowledged(
    world: World, network: dict[str, str]
) -> None:
    before = world.integrity(network)
    made = acknowledge(world, network, world.retired)
    after = world.integrity(network)

    [store] = before["stores"]
    assert before["ok"] is False
    assert store["first_finding"].startswith(f"replaced-store: store: store id {world.retired}")
    assert made.status_code == 201, made.text
    acknowledgement = made.json()
    assert acknowledgement == {
        "id": acknowledgement["id"],
        "application": "counters",
        "store_id": world.retired,
        "reason": REASON,
        "auditor": "auditor-7",
        "org": "ministere",
        "at": "2026-11-25T15:00:00Z",
        "checkpoints": 1,
        "up_to_event": 2,
    }
    [store] = after["stores"]
    assert after["ok"] is True and store["ok"] is True and store["findings"] == []
    assert store["acknowledged_stores"] == [
        {"store_id": world.retired, "acknowledgement_id": acknowledgement["id"], "checkpoints": 1, "up_to_event": 2}
    ]
    assert store["notes"] == [
        f"acknowledged retired store: store id {world.retired} published 1 checkpoint(s) up to event #2; "
        f"acknowledged as retired by auditor-7 (ministere) on 2026-11-25T15:00:00+00:00: acknowledgement "
        f"{acknowledgement['id']}"
    ]
    assert store["other_store_ids_with_checkpoints"] == [world.retired]  # still named, no longer a finding


def test_acknowledgements_are_listed_and_on_the_trail_without_their_reason(
    world: World, network: dict[str, str]
) -> None:
    assert world.api is not None
    made = acknowledge(world, network, world.retired).json()
    listed = world.api.get(ACKNOWLEDGEMENTS, headers=network)
    trail = world.api.get("/v1/inquiries", headers=network).json()

    assert listed.status_code == 200 and listed.json() == [made]
    assert [(e["action"], e["target"], e["outcome"]) for e in trail] == [
        ("ACKNOWLEDGE", f"counters/{world.retired}", "OK"),
        ("ACKNOWLEDGEMENTS", "acknowledgements", "OK"),
        ("TRAIL", "inquiries", "ASKED"),
    ]
    assert REASON not in str(trail)


def test_acknowledgements_survive_a_restart_of_the_service(world: World, network: dict[str, str]) -> None:
    assert world.api is not None
    made = acknowledge(world, network, world.retired).json()
    world.api.__exit__(None, None, None)  # the service stops
    world.start()
    assert world.api.get(ACKNOWLEDGEMENTS, headers=network).json() == [made]
    assert world.integrity(network)["ok"] is True


def test_a_store_id_is_acknowledged_once(world: World, network: dict[str, str]) -> None:
    first = acknowledge(world, network, world.retired)
    again = acknowledge(world, network, world.retired, reason="Une autre raison")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"].endswith(":store-already-acknowledged")
    assert first.json()["id"] in again.json()["detail"] and world.retired not in again.json()["detail"]
    assert world.api is not None
    assert [a["reason"] for a in world.api.get(ACKNOWLEDGEMENTS, headers=network).json()] == [REASON]


@pytest.mark.parametrize(
    ("which", "field", "message", "error"),
    [
        ("current", "store_id", "the store id is the application's current one", "StoreNotRetiredError"),
        (
            "unknown",
            "store_id",
            "no checkpoint of the application was published under the store id",
            "StoreNotRetiredError",
        ),
        (
            "other-application",
            "application",
            "no event store of this application here; known applications: audit, counters",
            "UnknownApplicationError",
        ),
    ],
)
def test_only_a_retired_store_id_of_a_known_application_is_acknowledged(
    world: World, network: dict[str, str], which: str, field: str, message: str, error: str
) -> None:
    """Refused, naming the field at fault but never the values given (services.common.problems), and on the trail
    like every attempt."""
    store_id = {"current": world.current, "unknown": str(uuid.uuid4())}.get(which, world.retired)
    application = "referrals" if which == "other-application" else "counters"
    refused = acknowledge(world, network, store_id, application=application)

    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    [named] = refused.json()["errors"]
    assert named["field"] == field and named["message"] == message
    assert refused.json()["detail"] == message
    assert store_id not in refused.text and application not in refused.text
    assert world.api is not None
    assert world.api.get(ACKNOWLEDGEMENTS, headers=network).json() == []
    assert world.integrity(network)["ok"] is False
    assert world.trail(network)[0] == ("ACKNOWLEDGE", f"{application}/{store_id}", f"FAILED: {error}")


@pytest.mark.parametrize(
    "reason",
    [None, "", "   \n", "x" * 2001],
    ids=["missing", "empty", "blank", "too-long"],
)
def test_an_acknowledgement_needs_a_reason_of_bounded_length(
    world: World, network: dict[str, str], reason: str | None
) -> None:
    assert world.api is not None
    body: dict[str, Any] = {"application": "counters", "store_id": world.retired}
    if reason is not None:
        body["reason"] = reason
    refused = world.api.post(ACKNOWLEDGEMENTS, json=body, headers=network)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["reason"]
    assert world.api.get(ACKNOWLEDGEMENTS, headers=network).json() == []


def test_the_reason_is_never_logged(world: World, network: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    secret = f"raison-{uuid.uuid4()}"
    with caplog.at_level(logging.DEBUG):
        assert acknowledge(world, network, world.retired, reason=secret).status_code == 201
        acknowledge(world, network, world.retired, reason=secret + "!")  # refused (409)
        acknowledge(world, network, world.current, reason=secret)  # refused (422)
        assert world.api is not None
        world.api.get(ACKNOWLEDGEMENTS, headers=network)
    assert caplog.records and not [r for r in caplog.records if secret in r.getMessage()]


@pytest.mark.parametrize("role", ["auditor", "intake", "clinician", "coordinator", "admin", "service"])
def test_only_network_auditors_acknowledge_and_read_acknowledgements(world: World, auth: Auth, role: str) -> None:
    """An organisation's auditor reads its organisation's history; the stores are the whole network's."""
    caller = auth("csss-a", role)
    assert world.api is not None
    for response in (acknowledge(world, caller, world.retired), world.api.get(ACKNOWLEDGEMENTS, headers=caller)):
        assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith(":forbidden") and "network-auditor" in response.json()["detail"]
    assert world.integrity(auth("ministere", "network-auditor"))["ok"] is False


def test_a_store_rewritten_from_a_new_store_id_after_an_acknowledgement_is_still_a_finding(
    world: World, network: dict[str, str]
) -> None:
    """Tampering: the current store altered, its seals and store id deleted, re-sealed from a fresh id at start-up.
    The id it had is not acknowledged: a finding, beside the acknowledged one."""
    made = acknowledge(world, network, world.retired).json()
    raw = RawStore(f"sqlite:///{world.store}", "counters")
    raw.flip_byte(1)
    raw.drop_seals_from(1)
    raw.run([("DELETE FROM integrity_meta", ())])
    with Counters(env=persistence_env(f"sqlite:///{world.store}")) as reopened:  # start-up re-seals
        checkpoint_now(reopened, world.sink)

    [store] = world.integrity(network)["stores"]
    assert store["ok"] is False
    assert store["findings"] == [store["first_finding"]]
    assert store["first_finding"].startswith(f"replaced-store: store: store id {world.current} published 1 checkpoint")
    assert [a["acknowledgement_id"] for a in store["acknowledged_stores"]] == [made["id"]]


def test_a_retired_store_that_publishes_after_its_acknowledgement_is_a_finding_again(
    world: World, network: dict[str, str]
) -> None:
    """A retired store publishes no more: a checkpoint past the events its acknowledgement covers says it is in use
    (a second installation writing on, say)."""
    made = acknowledge(world, network, world.retired).json()
    world.elsewhere.append(Checkpoint(world.retired, 5, "00" * 32, NOW, "counters"))

    [store] = world.integrity(network)["stores"]
    assert store["ok"] is False and store["acknowledged_stores"] == []
    assert store["first_finding"].startswith(f"replaced-store: store: store id {world.retired} published 2 checkpoint")
    assert store["first_finding"].endswith(
        f"acknowledgement {made['id']} covers it up to event #2 only: it published checkpoints after it was "
        "acknowledged as retired"
    )


def test_an_acknowledgement_when_the_checkpoints_cannot_be_read_is_503(world: World, network: dict[str, str]) -> None:
    def unreachable() -> list[Checkpoint]:
        raise KafkaTimeoutError("no broker")

    assert world.api is not None
    queries: AuditQueries = world.api.app.state.queries  # type: ignore[attr-defined]
    queries.checkpoints = unreachable
    refused = acknowledge(world, network, world.retired)
    assert refused.status_code == 503 and refused.json()["type"].endswith(":dependency-unavailable")
    trail = world.api.get("/v1/inquiries", headers=network).json()
    assert (trail[0]["action"], trail[0]["outcome"]) == ("ACKNOWLEDGE", "FAILED: CheckpointsUnavailableError")


def test_a_retired_store_that_publishes_another_checkpoint_it_had_not_is_a_finding_again(
    world: World, network: dict[str, str]
) -> None:
    """An acknowledgement covers the checkpoints it counted, not only the events: another checkpoint under the
    retired id, even of an event it covers, was published after it; the same checkpoint read twice is one."""
    made = acknowledge(world, network, world.retired).json()
    world.elsewhere.append(world.checkpoints()[0])  # published twice
    assert world.integrity(network)["ok"] is True

    world.elsewhere.append(Checkpoint(world.retired, 1, "11" * 32, NOW, "counters"))
    [store] = world.integrity(network)["stores"]
    assert store["ok"] is False and store["acknowledged_stores"] == []
    assert store["first_finding"].endswith(
        f"acknowledgement {made['id']} covers 1 checkpoint(s) of it only: it published checkpoints after it was "
        "acknowledged as retired"
    )


def forged_state(world: World, **changes: Any) -> bytes:
    """An acknowledgement's row of the read model, encoded as the service encodes it."""
    state = {
        "application": "counters",
        "store_id": world.retired,
        "reason": "forged",
        "auditor": "auditor-7",
        "org": "ministere",
        "at": NOW,
        "checkpoints": 1,
        "up_to_event": 2,
    }
    return world.queries.audit.acknowledged.codec.encode(state | changes)


def test_a_row_written_into_the_read_model_clears_no_finding(world: World, network: dict[str, str]) -> None:
    """`integrity_acknowledgements` is a read model that nothing seals: verification takes the acknowledgements from
    the audit store's sealed events, so a row written there around the application clears nothing (the list, which
    reads the model, shows it)."""
    assert world.api is not None
    assert world.api.get(ACKNOWLEDGEMENTS, headers=network).json() == []  # the read model's tables exist now
    forged = str(StoreAcknowledgement.create_id("counters", world.retired))
    insert = "INSERT INTO integrity_acknowledgements (acknowledgement_id, position, state) VALUES (?, ?, ?)"
    world.audit_store().run([(insert, (forged, 10**6, forged_state(world, up_to_event=10**9)))])

    assert [a["id"] for a in world.api.get(ACKNOWLEDGEMENTS, headers=network).json()] == [forged]
    verified = world.integrity(network)
    [store] = verified["stores"]
    assert verified["ok"] is False and store["acknowledged_stores"] == [] and store["notes"] == []
    assert store["first_finding"].startswith(f"replaced-store: store: store id {world.retired} published 1")


def test_an_acknowledgement_stretched_in_the_read_model_covers_what_its_sealed_event_says(
    world: World, network: dict[str, str]
) -> None:
    made = acknowledge(world, network, world.retired).json()
    assert world.api is not None
    assert world.api.get(ACKNOWLEDGEMENTS, headers=network).json() == [made]  # in the read model now
    update = "UPDATE integrity_acknowledgements SET state = ? WHERE acknowledgement_id = ?"
    world.audit_store().run([(update, (forged_state(world, checkpoints=10**9, up_to_event=10**9), made["id"]))])
    world.elsewhere.append(Checkpoint(world.retired, 5, "00" * 32, NOW, "counters"))

    [store] = world.integrity(network)["stores"]
    assert store["ok"] is False and store["acknowledged_stores"] == []
    assert f"acknowledgement {made['id']} covers it up to event #2 only" in store["first_finding"]


def test_an_acknowledgement_whose_event_was_edited_in_the_store_covers_nothing(
    world: World, network: dict[str, str]
) -> None:
    """Its event re-written with a larger `up_to_event` no longer matches its seal: no acknowledgement, and an
    `altered` finding of the audit store itself."""
    made = acknowledge(world, network, world.retired).json()
    stretched = StoreAcknowledgement(
        application="counters",
        store_id=world.retired,
        reason=REASON,
        auditor="auditor-7",
        org="ministere",
        at=NOW,
        checkpoints=10**9,
        up_to_event=10**9,
    )
    [event] = stretched.collect_events()
    state = world.queries.audit.mapper.to_stored_event(event).state
    update = "UPDATE stored_events SET state = ? WHERE originator_id = ?"
    world.audit_store().run([(update, (state, uuid.UUID(made["id"]).hex))])

    [store] = world.integrity(network)["stores"]
    assert store["ok"] is False and store["acknowledged_stores"] == []
    assert store["first_finding"].startswith(f"replaced-store: store: store id {world.retired}")
    [audit] = world.integrity(network, service="audit")["stores"]
    assert audit["ok"] is False and audit["first_finding"].startswith("altered: ")
    assert f"aggregate {made['id']} v1" in audit["first_finding"]


def test_an_acknowledgement_for_an_application_whose_store_cannot_be_read_names_the_application(
    world: World, network: dict[str, str]
) -> None:
    """A database without the integrity tables: which store id is current is unknown, so none is shown retired."""
    for leftover in world.store.parent.glob(world.store.name + "*"):
        leftover.unlink()
    with closing(sqlite3.connect(world.store)) as db, db:
        db.execute("CREATE TABLE other (id INTEGER)")

    refused = acknowledge(world, network, world.retired)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    [named] = refused.json()["errors"]
    assert named["field"] == "application" and "its current store id is unknown" in named["message"]
    assert world.trail(network)[0] == ("ACKNOWLEDGE", f"counters/{world.retired}", "FAILED: StoreNotRetiredError")


def test_an_acknowledgement_when_the_stores_database_does_not_answer_is_503(
    world: World, network: dict[str, str]
) -> None:
    """As when the checkpoints cannot be read: a dependency down (`dependency-unavailable`), to retry."""
    assert world.api is not None
    world.api.__exit__(None, None, None)
    world.store_url = "postgresql://rls:secret@127.0.0.1:1/rls?schema=counters&connect_timeout=1"
    world.start()
    refused = acknowledge(world, network, world.retired)
    assert refused.status_code == 503 and refused.json()["type"].endswith(":dependency-unavailable")
    assert "127.0.0.1" not in refused.text and "secret" not in refused.text
    assert world.trail(network)[0] == ("ACKNOWLEDGE", f"counters/{world.retired}", "FAILED: StoreUnavailableError")


@pytest.mark.integration
def test_a_recreated_store_acknowledged_on_a_real_broker(
    audit_settings: Callable[..., AuditSettings],
    client_for: Callable[[FastAPI], TestClient],
    auth: Auth,
    tmp_path: Path,
    dev_key_file: Path,
    kafka_bootstrap: str,
) -> None:
    """The referral service's store re-installed, its checkpoints on the broker: `rls audit verify` fails, then passes
    once a network auditor acknowledged the retired id through the API (the CLI and the API share the store)."""
    topic = f"t{uuid.uuid4().hex[:8]}.{topics.AUDIT_CHECKPOINTS}"
    sink = KafkaPublisher(kafka_bootstrap, "audit-acknowledgement-test")
    try:
        retired, current = reinstall(tmp_path / "referral.db", sink, topic, Referrals)
    finally:
        sink.close()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RLS_VAR_DIR": str(tmp_path),
        "RLS_DEV_KEY_FILE": str(dev_key_file),
        "AUDIT_EVENT_STORE": f"sqlite:///{tmp_path / 'audit.db'}",
        "AUDIT_DATABASE": f"sqlite:///{tmp_path / 'audit-history.db'}",
        "AUDIT_CHECKPOINT_TOPIC": topic,
    }

    def verify() -> Any:
        return CliRunner().invoke(cli, ["audit", "verify", "--service", "referral", "--auditor", "auditor-9"], env=env)

    failed = verify()
    assert failed.exit_code == 1, failed.output
    assert f"referral: FAILED — replaced-store: store: store id {retired}" in failed.output

    from services.runtime.registry import event_stores

    settings = audit_settings(kafka_bootstrap_servers=kafka_bootstrap, checkpoint_topic=topic, var_dir=tmp_path)
    api = client_for(build_app(settings, stores=event_stores))
    network = auth("ministere", "network-auditor")
    current_refused = api.post(
        ACKNOWLEDGEMENTS, json={"application": "referrals", "store_id": current, "reason": REASON}, headers=network
    )
    made = api.post(
        ACKNOWLEDGEMENTS, json={"application": "referrals", "store_id": retired, "reason": REASON}, headers=network
    )
    assert current_refused.status_code == 422 and current_refused.json()["errors"][0]["field"] == "store_id"
    assert made.status_code == 201, made.text
    verified = api.get("/v1/integrity?service=referral", headers=network).json()
    assert verified["ok"] is True and verified["stores"][0]["acknowledged_stores"][0]["store_id"] == retired

    passed = verify()
    assert passed.exit_code == 0, passed.output
    assert "referral: OK" in passed.output
    assert f"note: acknowledged retired store: store id {retired}" in passed.output
    assert REASON not in passed.output
