"""`rls relay <service>` for every service: started alone on a store (the API elsewhere, or not running), it
publishes what the store holds — the outbox of the referral, agreements and consent services, the notifications'
deliveries, the audit trail's integrity checkpoints — and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from services.agreements.domain import organisation_aggregate_id
from services.agreements.main import build_application as agreements_application
from services.agreements.settings import AgreementsSettings
from services.audit.application import Auditor
from services.audit.domain import Action, Channel
from services.audit.main import build_application as audit_application
from services.audit.settings import AuditSettings
from services.common.clock import ManualClock
from services.common.envelope import event_id
from services.consent.main import build_application as consent_application
from services.consent.settings import ConsentSettings
from services.contract import topics
from services.notifications import inbound
from services.notifications.application import SubscriptionRequest
from services.notifications.domain import DeliveryChannel
from services.notifications.main import build_application as notifications_application
from services.notifications.settings import NotificationsSettings
from services.referral.main import build_application as referral_application
from services.referral.settings import ReferralSettings
from tests.consent.conftest import T0
from tests.consent.test_application import WORKER, terms
from tests.helpers import read_topic, wait_for
from tests.notifications.conftest import Story
from tests.referral.fakes import FakeDirectory
from tests.referral.test_clocks import submission


@dataclass(frozen=True)
class Seeded:
    """What the test stored, and where the relay must publish it."""

    topic: str
    event_id: str | None
    """The CloudEvent id expected on the topic (None: any record, for checkpoints, whose id derives from the store)."""
    env: dict[str, str]


def seed_referral(var: Path, bootstrap: str) -> Seeded:
    settings = ReferralSettings(var_dir=var)
    with referral_application(settings) as referrals:
        referral, _ = referrals.submit(submission("AAOR"), "worker", None, FakeDirectory())
    return Seeded(topics.REFERRAL, event_id(referral.id, 1), {})


def seed_agreements(var: Path, bootstrap: str) -> Seeded:
    org = f"relay-{uuid.uuid4().hex[:8]}"
    with agreements_application(AgreementsSettings(var_dir=var)) as agreements:
        agreements.register_organisation(org, "Centre", "COMMUNITY_ORGANISATION", "Québec", ["CRISIS_24_7"])
    return Seeded(topics.AGREEMENTS, event_id(organisation_aggregate_id(org), 1), {})


def seed_consent(var: Path, bootstrap: str) -> Seeded:
    with consent_application(ConsentSettings(var_dir=var), clock=ManualClock(T0)) as consents:
        consent, _ = consents.record_consent(terms(), WORKER)
    return Seeded(topics.CONSENT, event_id(consent.consent_id, 1), {})


def seed_notifications(var: Path, bootstrap: str) -> Seeded:
    org = f"relay-{uuid.uuid4().hex[:8]}"
    story = Story(from_org="relay-sender", to_org=org)
    event = story.submitted()
    with notifications_application(NotificationsSettings(var_dir=var)) as notifications:
        notifications.subscribe(SubscriptionRequest(org, DeliveryChannel.KAFKA_TOPIC), "admin")
        inbound.handler(notifications)(event, Tracking("rls.referral.v1#0", 1))
    return Seeded(topics.org_referrals(org), event.id, {})


def seed_audit(var: Path, bootstrap: str) -> Seeded:
    topic = f"t{uuid.uuid4().hex[:8]}.{topics.AUDIT_CHECKPOINTS}"
    with audit_application(AuditSettings(var_dir=var)) as audit:
        audit.record_inquiry(Auditor("auditor-1", "cai", Channel.CLI), Action.TRAIL, "inquiries", {})
    env = {"AUDIT_CHECKPOINT_TOPIC": topic, "AUDIT_CHECKPOINT_INTERVAL_S": "0.5"}
    return Seeded(topic, None, env)


SEEDS: dict[str, Callable[[Path, str], Seeded]] = {
    "referral": seed_referral,
    "agreements": seed_agreements,
    "consent": seed_consent,
    "notifications": seed_notifications,
    "audit": seed_audit,
}


@pytest.mark.parametrize("service", list(SEEDS))
def test_rls_relay_publishes_the_services_store_and_stops_on_sigterm(
    service: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    seeded = SEEDS[service](tmp_path, kafka_bootstrap)  # the store is <var>/<service>.db, as by default
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "RLS_VAR_DIR": str(tmp_path), **seeded.env}
    relay = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "relay", service],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def published() -> bool:
            events = [e for _, e in read_topic(kafka_bootstrap, seeded.topic) if e is not None]
            return any(seeded.event_id in (None, e.id) for e in events)

        wait_for(published, timeout=60, interval=0.5)
    finally:
        relay.send_signal(signal.SIGTERM)
        _, errors = relay.communicate(timeout=60)
    assert relay.returncode == 0, errors.decode()[-2000:]
