"""`rls audit …` end to end on a real broker: replay, state, verify (with published checkpoints), report, trail."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import cli
from services.common.integrity.checkpoints import CheckpointPublisher
from services.common.kafka import KafkaPublisher
from services.contract import topics
from tests.audit.conftest import Auth, PrefixedPublisher, relay_everything
from tests.audit.test_integrity import RawStore
from tests.audit.test_replay_and_states import World, live_history


@pytest.mark.integration
def test_replay_state_verify_report_and_trail_from_the_command_line(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    dev_key_file: Path,
    kafka_bootstrap: str,
) -> None:
    world = World(service_settings, client_for, auth, tmp_path)
    snapshots = live_history(world)
    prefix = f"t{uuid.uuid4().hex[:8]}."
    publisher = PrefixedPublisher(kafka_bootstrap, prefix)
    sink = KafkaPublisher(kafka_bootstrap, "audit-cli-test-checkpoints")
    try:
        for app, mapper in world.outboxes():
            relay_everything(app, mapper, publisher)
            checkpoints = CheckpointPublisher(
                app.recorder, sink, application=app.name, topic=prefix + topics.AUDIT_CHECKPOINTS, source="/rls/test"
            )
            assert checkpoints.run_once() is not None
    finally:
        publisher.close()
        sink.close()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RLS_VAR_DIR": str(tmp_path),  # the services' stores are <var>/<service>.db, as by default
        "RLS_DEV_KEY_FILE": str(dev_key_file),
        **{
            f"AUDIT_{name}": prefix + topic
            for name, topic in (
                ("REFERRAL_TOPIC", topics.REFERRAL),
                ("AGREEMENTS_TOPIC", topics.AGREEMENTS),
                ("DECISIONS_TOPIC", topics.CONSENT_DECISIONS),
                ("CONSENT_TOPIC", topics.CONSENT),
                ("CHECKPOINT_TOPIC", topics.AUDIT_CHECKPOINTS),
            )
        },
    }
    runner = CliRunner()

    def rls(*args: str) -> Any:
        return runner.invoke(cli, ["audit", *args, "--auditor", "auditor-9", "--org", "cai"], env=env)

    expected_events = len(world.messages()) + 3  # and the three checkpoints
    replayed = rls("replay")
    moment = snapshots[1][0].isoformat()
    state = rls("state", "referral", world.ids["referral"], "--as-of", moment)
    verified = rls("verify", "--service", "referral", "--service", "agreements", "--service", "consent")
    RawStore(f"sqlite:///{tmp_path / 'referral.db'}", "referrals").flip_byte(2)
    tampered = rls("verify", "--service", "referral")
    report = rls(
        "report", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json", "--output", str(tmp_path / "r.json")
    )
    trail = rls("trail")

    assert replayed.exit_code == 0, replayed.output
    assert "events/s" in replayed.stdout and f"audit database: {expected_events} events" in replayed.stdout
    assert state.exit_code == 0 and json.loads(state.stdout)["state"]["status"] == "FIRST_CONTACT_MADE"
    assert verified.exit_code == 0, verified.output
    assert "referral: OK" in verified.stdout and "1 of 1 checkpoints matched" in verified.stdout
    assert tampered.exit_code == 1
    assert "referral: FAILED — altered: event #2" in tampered.stdout
    assert report.exit_code == 0, report.output
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["clocks_decided"] >= 1
    actions = [json.loads(line)["action"] for line in trail.stdout.splitlines()]
    assert actions == ["REPLAY", "STATE", "VERIFY", "VERIFY", "REPORT", "TRAIL"]
    assert {json.loads(line)["auditor"] for line in trail.stdout.splitlines()} == {"auditor-9"}


def test_verify_refuses_a_service_without_an_event_store_before_reading_anything(
    tmp_path: Path, dev_key_file: Path
) -> None:
    """A misspelt `--service` verified nothing and exited 0; now it is a usage error naming the known services."""
    env = {
        "RLS_VAR_DIR": str(tmp_path),
        "RLS_DEV_KEY_FILE": str(dev_key_file),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    }
    result = CliRunner().invoke(cli, ["audit", "verify", "--service", "refferal", "--auditor", "auditor-9"], env=env)
    assert result.exit_code == 2, result.output
    assert "no event store of refferal; known services: agreements, audit, consent, notifications, referral" in (
        " ".join(result.output.replace("│", " ").split())
    )
