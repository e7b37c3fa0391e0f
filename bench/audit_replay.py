"""Audit replay benchmark: `rls audit replay` throughput beside the raw consume rate of a bare kafka-python consumer.

Publishes N integration events (default 100,000; a realistic mix of referral lifecycles, consent decisions with their
input and facts, disclosures, consents and agreements, built from the contract's payload models) on topics of its own,
then, in the same run and on the same topics, `--rounds` times (default 3):

1. raw: a bare kafka-python consumer (default settings) reads every record from offset 0 and does nothing with it;
2. replay: the audit replay reads the same records into a fresh SQLite audit database (parse, classify, store);

and raw once more at the end. The two alternate because this machine's speed drifts within a minute (a raw run moved
between 30k and 50k records/s from one minute to the next).

The figure that matters is replay / raw, of the medians (also printed: the slowest replay against the fastest raw).
Both are measured twice: with kafka-python's record batch CRC checks (its default, and the replay's: an audit
verifies what it reads), and without them. Without the `crc32c` C extension,
kafka-python checks CRCs in pure Python, which costs most of the raw consume time.

Uses KAFKA_BOOTSTRAP_SERVERS when set, else starts a local broker (from the Maven cache, as `make run` does) on free
ports and stops it at the end.

Usage: `.venv/bin/python bench/audit_replay.py [--events 100000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.audit.inbound import KafkaReplay
from services.audit.views import HistoryDB
from services.common.envelope import CloudEvent, event_id, event_type, schema_uri
from services.common.kafka import ensure_topics, make_admin
from services.contract import topics
from services.contract.agreements_events import AgreementStateV1
from services.contract.consent_events import (
    BasisV1,
    ConsentDecidedV1,
    ConsentFactV1,
    ConsentRecordedV1,
    DecisionContextV1,
    DecisionFactsV1,
    DecisionInputV1,
    DisclosureRegisteredV1,
)
from services.contract.referral_events import ReferralChangedV1, ReferralSubmittedV1
from services.runtime.kafka_local import LocalKafka, ensure_jars, find_java
from services.runtime.settings import RuntimeSettings

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
ORGS = [f"org-{n:02d}" for n in range(20)]
STEPS = ("received", "accepted", "first-contact-made", "follow-up-started", "closed")
STATUSES = ("RECEIVED", "ACCEPTED", "FIRST_CONTACT_MADE", "FOLLOW_UP_STARTED", "CLOSED")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cloud_event(context: str, name: str, aggregate: uuid.UUID, version: int, at: datetime, data: Any) -> CloudEvent:
    type_ = event_type(context, name)
    return CloudEvent(
        id=event_id(aggregate, version),
        source=f"/rls/{context}",
        type=type_,
        time=at,
        subject=str(aggregate),
        dataschema=schema_uri(type_),
        correlationid=str(aggregate),
        data=data.model_dump(mode="json"),
    )


def case(n: int) -> Iterator[tuple[str, str, CloudEvent]]:
    """One person's referral and what goes with it: 10 events (5 referral, 1 consent, 2 decisions, 1 disclosure,
    1 agreement change)."""
    at = T0 + timedelta(minutes=7 * n)
    referral_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-referral-{n}")
    subject = f"S-{n:07d}"
    source, target = ORGS[n % len(ORGS)], ORGS[(n * 7 + 3) % len(ORGS)]
    common: dict[str, Any] = {
        "referral_id": str(referral_id),
        "subject_id": subject,
        "from_org": source,
        "from_service": "AAOR",
        "to_org": target,
        "to_service": "SOCIAL_CONSULT",
        "channel": "PHONE",
        "urgency": "ROUTINE",
        "information_url": f"https://referral.example/v1/referrals/{referral_id}/information",
        "agreement_id": f"ag-{n % 50}",
    }
    submitted = ReferralSubmittedV1(**common, status="SUBMITTED", occurred_at=at, accompaniment="NONE")
    yield topics.REFERRAL, str(referral_id), cloud_event("referral", "submitted", referral_id, 1, at, submitted)
    previous = "SUBMITTED"
    for version, (step, status) in enumerate(zip(STEPS, STATUSES, strict=True), start=2):
        moment = at + timedelta(hours=6 * version)
        changed = ReferralChangedV1(
            **common,
            status=status,
            occurred_at=moment,
            previous_status=previous,
            version=version,
            actor_org=target,
            outcome="SERVICES_GIVEN" if step == "closed" else None,
        )
        previous = status
        yield topics.REFERRAL, str(referral_id), cloud_event("referral", step, referral_id, version, moment, changed)
    consent_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-consent-{n}")
    consent = ConsentRecordedV1(
        consent_id=str(consent_id),
        subject_id=subject,
        grantor_role="SELF",
        age_band_at_start="ADULT",
        method="WRITTEN",
        purposes=["REFERRAL"],
        recipient_org_ids=[target],
        recipient_kinds=[],
        categories=["IDENTIFICATION", "CONTACT", "REFERRAL_REASON"],
        valid_from=at - timedelta(days=1),
        valid_until=at + timedelta(days=365),
        recorded_by_org=source,
        occurred_at=at - timedelta(days=1),
    )
    yield (
        topics.CONSENT,
        str(consent_id),
        cloud_event("consent", "recorded", consent_id, 1, consent.occurred_at, consent),
    )
    fact = ConsentFactV1(
        consent_id=str(consent_id),
        grantor_role="SELF",
        grantor_scope=None,
        age_band_at_start="ADULT",
        age_band_at_decision="ADULT",
        method="WRITTEN",
        purposes=["REFERRAL"],
        recipient_org_ids=[target],
        recipient_kinds=[],
        categories=["IDENTIFICATION", "CONTACT", "REFERRAL_REASON"],
        valid_from=consent.valid_from,
        valid_until=consent.valid_until,
        withdrawn_at=None,
    )
    for k, kind in enumerate(("DECISION", "DISCLOSURE")):
        decision_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-decision-{n}-{k}")
        moment = at + timedelta(hours=1 + k)
        basis = BasisV1(
            regime="LSSSS_17_27_3",
            route="A-1",
            article="19",
            status="VERIFIED",
            categories=["IDENTIFICATION", "CONTACT"],
            consent_id=str(consent_id),
        )
        decided = ConsentDecidedV1(
            decision_id=str(decision_id),
            kind=kind,
            outcome="PERMIT_PARTIAL",
            permitted_categories=["IDENTIFICATION", "CONTACT"],
            denied_categories=["ASSESSMENT"],
            basis=[basis],
            obligations=["REGISTER_ENTRY", "MINIMUM_NECESSARY"],
            regime="LSSSS_17_27_3",
            regime_version="LSSSS-17-27.3+0123456789ab",
            reasons=[],
            input=DecisionInputV1(
                subject_id=subject,
                discloser_org_id=source,
                recipient_org_id=target,
                purpose="REFERRAL",
                categories=["IDENTIFICATION", "CONTACT", "ASSESSMENT"],
                at=moment,
                regime="LSSSS_17_27_3",
                regime_version="LSSSS-17-27.3+0123456789ab",
                context=DecisionContextV1(),
            ),
            facts=DecisionFactsV1(
                recipient_kind="COMMUNITY_ORGANISATION", consents=[fact], agreements=[], restrictions=[]
            ),
            requested_by_org=source,
            register_entry_id=f"reg-{n}" if kind == "DISCLOSURE" else None,
            occurred_at=moment,
        )
        yield (
            topics.CONSENT_DECISIONS,
            str(decision_id),
            cloud_event("consent", "decided", decision_id, 1, moment, decided),
        )
    register_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-register-{n}")
    entry = DisclosureRegisteredV1(
        register_entry_id=f"reg-{n}",
        decision_id=str(decision_id),
        at=at + timedelta(hours=2),
        subject_id=subject,
        discloser_org_id=source,
        recipient_org_id=target,
        categories=["IDENTIFICATION", "CONTACT"],
        purpose="REFERRAL",
        route="A-1",
        article="19",
        bases=[basis],
        obligations=["REGISTER_ENTRY"],
        regime="LSSSS_17_27_3",
        occurred_at=at + timedelta(hours=2),
    )
    yield (
        topics.CONSENT,
        str(register_id),
        cloud_event("consent", "disclosure-registered", register_id, 1, entry.occurred_at, entry),
    )
    agreement_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-agreement-{n % 50}")
    state = AgreementStateV1(
        agreement_id=f"ag-{n % 50}",
        version=1,
        kind="SERVICE_108",
        status="ACTIVE",
        title="Entente de service",
        parties=[source, target],
        signed_by=[source, target],
        services=["SOCIAL_CONSULT"],
        clientele="Adults",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        volumes=[{"service": "SOCIAL_CONSULT", "per_year": 500}],
        occurred_at=at,
        revision=n + 1,
    )
    yield topics.AGREEMENTS, f"ag-{n % 50}", cloud_event("agreements", "reviewed", agreement_id, n + 1, at, state)


def publish(bootstrap: str, prefix: str, count: int) -> float:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)
    started, sent, n = time.monotonic(), 0, 0
    while sent < count:
        for topic, key, event in case(n):
            if sent == count:
                break
            headers, value = event.to_kafka()
            producer.send(prefix + topic, key=key.encode(), value=value, headers=headers)
            sent += 1
        n += 1
    producer.flush()
    producer.close()
    return time.monotonic() - started


def raw_consume(bootstrap: str, names: list[str], check_crcs: bool) -> tuple[int, float]:
    """A bare consumer (default settings but `check_crcs`): every record from offset 0 to the end offsets, nothing
    done with them."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, check_crcs=check_crcs
    )
    partitions = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or [])]
    consumer.assign(partitions)
    ends = consumer.end_offsets(partitions)
    consumer.seek_to_beginning(*partitions)
    pending = {tp for tp in partitions if ends[tp] > 0}
    started, count = time.monotonic(), 0
    while pending:
        for tp, records in consumer.poll(timeout_ms=500).items():
            count += len(records)
            if consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    elapsed = time.monotonic() - started
    consumer.close()
    return count, elapsed


def replay(bootstrap: str, names: list[str], check_crcs: bool) -> tuple[int, float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        history = HistoryDB(f"sqlite:///{Path(scratch) / 'audit-history.db'}")
        stats = KafkaReplay(bootstrap, names, history, check_crcs=check_crcs).run()
        return stats.read, stats.seconds, history.count()


def line(label: str, count: int, seconds: float) -> float:
    rate = count / seconds
    print(f"  {label:28} {count:>9,} records in {seconds:6.2f} s = {rate:>9,.0f} records/s")
    return rate


def run(bootstrap: str, events: int, rounds: int) -> None:
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    names = [prefix + t for t in (topics.REFERRAL, topics.AGREEMENTS, topics.CONSENT_DECISIONS, topics.CONSENT)]
    admin = make_admin(bootstrap, "bench-audit")
    ensure_topics(admin, names, with_dlq=False)
    admin.close()
    seconds = publish(bootstrap, prefix, events)
    print(f"published {events:,} events on {len(names)} topics in {seconds:.1f} s")
    for check_crcs in (True, False):
        print(f"record batch CRC checks {'on (the default of both)' if check_crcs else 'off'}:")
        raws, ours = [], []
        for _ in range(rounds):  # interleaved: the machine's speed drifts within a minute
            raws.append(line("bare kafka-python consumer", *raw_consume(bootstrap, names, check_crcs)))
            read, elapsed, stored = replay(bootstrap, names, check_crcs)
            ours.append(line(f"audit replay ({stored:,} stored)", read, elapsed))
        raws.append(line("bare consumer again", *raw_consume(bootstrap, names, check_crcs)))
        load = " / ".join(f"{n:.2f}" for n in os.getloadavg())
        ratio, worst = statistics.median(ours) / statistics.median(raws), min(ours) / max(raws)
        print(f"  medians: replay {statistics.median(ours):,.0f}, raw {statistics.median(raws):,.0f} records/s")
        print(
            f"  replay / raw = {100 * ratio:.0f} % of the medians (target: at least 60 %); slowest / fastest "
            f"{100 * worst:.0f} %"
        )
        print(f"  load average {load} on {os.cpu_count()} cores")


def on_a_broker(run: Callable[[str], None]) -> None:
    """Runs `run(bootstrap)` on KAFKA_BOOTSTRAP_SERVERS, else on a local broker started for it and stopped after."""
    settings = RuntimeSettings()
    if settings.external_kafka:
        run(settings.external_kafka)
        return
    with tempfile.TemporaryDirectory() as scratch:
        broker = LocalKafka(
            ensure_jars(settings.kafka_version, settings.cache_dir),
            Path(scratch),
            free_port(),
            free_port(),
            "1g",
            find_java(settings.java_home),
        )
        broker.start(timeout=120)
        try:
            run(broker.bootstrap)
        finally:
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="raw and replay runs, alternating, each")
    args = parser.parse_args()
    on_a_broker(lambda bootstrap: run(bootstrap, args.events, args.rounds))


if __name__ == "__main__":
    sys.exit(main())
