"""The referral outbox relay killed by SIGKILL in the middle of a batch loses nothing and re-sends with the same ids.

The kill comes from a hook in the relay process (`dying_relay`): after the broker acknowledged exactly half of the
batch, before the position is stored — the same moment on a fast machine and a slow one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.common.clock import system_clock
from services.common.envelope import event_id
from services.common.service import application_env
from services.contract import topics
from services.referral.application import Referrals
from services.referral.domain import Referral, Step
from services.referral.settings import ReferralSettings
from tests.helpers import read_topic, wait_for

pytestmark = pytest.mark.integration

EVENTS = 6000
PER_REFERRAL = 3  # submitted, received, accepted
KILL_AFTER = EVENTS // 2


def seed(store_url: str, var_dir: Path) -> set[str]:
    """Stores EVENTS events (three per referral) in a few large transactions (fast), returns the referral ids
    (encrypted with the development key the relay process will find under `var_dir`)."""
    ids = set()
    env = application_env(ReferralSettings(event_store=store_url, var_dir=var_dir))
    with Referrals(env=env) as referrals:
        for _ in range(EVENTS // PER_REFERRAL // 500):
            batch = [
                Referral(
                    id=uuid.uuid4(),
                    subject_id=f"S-{n:05d}",
                    from_org="crash-a",
                    from_service="AAOR",
                    to_org="crash-b",
                    to_service="CRISIS_24_7",
                    channel="PHONE",
                    urgency="URGENT",
                    reason_code="HOUSING",
                    accompaniment="NONE",
                    agreement_id=None,
                    agreement_kind=None,
                    submitted_by="seed",
                    submitted_at=system_clock(),
                    request_digest="-",
                )
                for n in range(500)
            ]
            for referral in batch:
                for command in ("receive", "accept"):
                    referral.perform(command, Step("crash-b", "seed", system_clock()), system_clock())
            referrals.record(*batch)
            ids |= {str(r.id) for r in batch}
    return ids


def produced(consumer: KafkaConsumer, partitions: list[TopicPartition], baseline: int) -> int:
    return sum(consumer.end_offsets(partitions).values()) - baseline


def start_relay(store_url: str, bootstrap: str, var_dir: Path, *, dying: bool = False) -> subprocess.Popen[bytes]:
    """`rls relay referral` on the store (one batch: every event); `dying`: killed half-way through its batch."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REFERRAL_EVENT_STORE": store_url,
        "RLS_VAR_DIR": str(var_dir),
        "REFERRAL_RELAY_BATCH_SIZE": str(EVENTS),
        "RLS_TEST_KILL_AFTER": str(KILL_AFTER),
    }
    command = ["tests.integration.dying_relay"] if dying else ["services.cli", "relay", "referral"]
    return subprocess.Popen(
        [sys.executable, "-m", *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_relay_killed_mid_batch_then_restarted_publishes_everything_in_order(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 'referral.db'}"
    ids = seed(store_url, tmp_path)
    watcher = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    partitions = [TopicPartition(topics.REFERRAL, p) for p in watcher.partitions_for_topic(topics.REFERRAL) or []]
    baseline = sum(watcher.end_offsets(partitions).values())

    dying = start_relay(store_url, kafka_bootstrap, tmp_path, dying=True)
    assert dying.wait(120) == -signal.SIGKILL
    assert produced(watcher, partitions, baseline) == KILL_AFTER  # acknowledged, the position not stored

    restarted = start_relay(store_url, kafka_bootstrap, tmp_path)
    try:
        wait_for(lambda: produced(watcher, partitions, baseline) == KILL_AFTER + EVENTS, timeout=120, interval=0.2)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)
    watcher.close()

    ours = [
        (record, event)
        for record, event in read_topic(kafka_bootstrap, topics.REFERRAL)
        if event is not None and event.subject in ids
    ]
    sequence: dict[str, list[str]] = defaultdict(list)
    for record, event in ours:
        assert event is not None
        sequence[event.subject or ""].append(event.id)
        assert record.key.decode() == event.subject  # keyed by aggregate id: one partition per referral
    assert set(sequence) == ids
    for subject, seen in sequence.items():
        expected = [event_id(uuid.UUID(subject), version) for version in range(1, PER_REFERRAL + 1)]
        assert set(seen) == set(expected)  # every stored event; re-sent copies carry the same id
        assert list(dict.fromkeys(seen)) == expected  # first copies in version order: order per aggregate
    assert len(ours) == EVENTS + KILL_AFTER  # the half acknowledged before the crash, sent again
