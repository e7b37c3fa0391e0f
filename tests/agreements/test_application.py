"""The application on both event stores (a SQLite file and a real PostgreSQL server): volumes counted once in
effect from duplicated and out-of-order referral events, the review reminder once across a restart."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from services.agreements import inbound
from services.agreements.application import AcceptedReferral, Agreements
from services.agreements.domain import Agreement
from services.agreements.outbound import AgreementsOutbound
from services.agreements.terms import Volume
from services.common.clock import ManualClock
from services.common.consumer import DeadLetterSink, RecordProcessor, tracking_for
from services.common.kafka import Outgoing
from services.contract import topics
from services.contract.agreements_events import EVENTS
from tests.agreements.conftest import CSSS, OUTSIDER, REGIONAL, accepted, actor, register_network, service_terms

SPECIALISED = "SPECIALISED_SERVICES"
Open = Callable[[str], Agreements]


@dataclass
class FakeRecord:
    """What the consumer reads from Kafka (topic, partition, offset, headers, value)."""

    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]]
    value: bytes | None
    key: bytes | None = None


@dataclass
class FakeDeadLetters:
    sent: list[tuple[str, bytes | None]] = field(default_factory=list)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, value))


def in_force(agreements: Agreements, clock: ManualClock, **changes: Any) -> Agreement:
    agreement, _ = agreements.draft(service_terms(**changes), actor(CSSS))
    agreements.sign(agreement.id, actor(CSSS))
    return agreements.sign(agreement.id, actor(REGIONAL))


def integration_events(agreements: Agreements) -> list[Outgoing]:
    """Every integration event the relay would publish, from the notification log."""
    mapper = AgreementsOutbound(lambda i, v: agreements.repository.get(i, version=v))
    notifications = agreements.recorder.select_notifications(start=0, limit=10_000, inclusive_of_start=False)
    return [m for n in notifications for m in mapper(agreements.mapper.to_domain_event(n))]


def names(outgoing: list[Outgoing]) -> list[str]:
    return [o.event.type.split(".")[-2] for o in outgoing]


@pytest.fixture
def app_on_store(open_app: Open, store_url: str) -> Agreements:
    agreements = open_app(store_url)
    register_network(agreements)
    return agreements


def test_accepted_referrals_are_counted_once_per_agreement_service_and_year(
    app_on_store: Agreements, clock: ManualClock
) -> None:
    agreements = app_on_store
    agreement = in_force(agreements, clock, end=date(2028, 12, 31), volumes=(Volume(SPECIALISED, 8),))
    agreement_id = str(agreement.id)
    year_one = [datetime(2027, 3, day, 14, tzinfo=UTC) for day in range(1, 10)]
    # Out of order across the two agreement years, duplicated copies, a second acceptance of a counted referral,
    # references without agreement id (found by coverage) and one no agreement covers.
    stream = [
        accepted("r-8", datetime(2028, 2, 1, tzinfo=UTC), agreement_id),
        accepted("r-1", year_one[0], agreement_id),
        accepted("r-2", year_one[1], None),
        accepted("r-1", year_one[0], agreement_id),
        accepted("r-3", year_one[2], agreement_id),
        accepted("r-9", datetime(2028, 1, 15, tzinfo=UTC), None),
        accepted("r-4", year_one[3], agreement_id),
        accepted("r-2", year_one[6], agreement_id),
        accepted("r-5", year_one[4], None),
        accepted("r-x", year_one[5], None, from_org=OUTSIDER),
        accepted("r-6", year_one[5], agreement_id),
        accepted("r-4", year_one[3], agreement_id),
        accepted("r-7", year_one[8], agreement_id),
    ]
    dead = FakeDeadLetters()
    processor = RecordProcessor(
        agreements, inbound.handler(agreements), DeadLetterSink(dead.send_raw), "test", inbound.DECLARED
    )
    records = [FakeRecord(topics.REFERRAL, 0, offset, *e.to_kafka()) for offset, e in enumerate(stream)]
    outcomes = [processor.process(r) for r in records]
    redelivered = [processor.process(r) for r in records[:5]]  # the batch again after a crash
    clock.now = datetime(2028, 6, 1, tzinfo=UTC)
    lines = [(line.period_start, line.used, line.per_year) for line in agreements.volume_use(agreement.id)]
    published = integration_events(agreements)
    crossings = [
        (o.event.type, o.event.data["used"], o.event.data["period_start"])
        for o in published
        if "volume" in o.event.type
    ]
    assert outcomes == ["applied"] * len(stream) and redelivered == ["skipped"] * 5 and dead.sent == []
    assert lines == [(date(2027, 1, 1), 7, 8), (date(2028, 1, 1), 2, 8)]
    assert crossings == [("ca.qc.rls.agreements.volume-threshold-reached.v1", 7, "2027-01-01")]
    assert agreements.position(f"{topics.REFERRAL}#0") == len(stream)


def test_replicas_counting_against_one_volume_at_once_both_count(
    open_app: Open, store_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas consume other partitions of the referral topic and count against the same volume at once. The
    one that read the volume before the other's count went through conflicted, and raised: after its consumer's
    retries met the same, the referral was dead-lettered and never counted (1 to 3 of 600 in a stress run)."""
    first = open_app(store_url)
    register_network(first)
    second = open_app(store_url)
    agreement = in_force(first, clock, end=date(2028, 12, 31), volumes=(Volume(SPECIALISED, 8),))
    at = datetime(2027, 3, 1, 14, tzinfo=UTC)

    def referral(referral_id: str) -> AcceptedReferral:
        return AcceptedReferral(referral_id, CSSS, REGIONAL, SPECIALISED, str(agreement.id), at)

    read_volume = first._find_volume
    reads = []

    def read_then_the_other_counts(use_id: uuid.UUID) -> Any:
        found = read_volume(use_id)
        reads.append(found)
        if len(reads) == 1:  # between this replica's read and its write, the other one's count goes through
            assert second.count_accepted_referral(referral("r-other"))
        return found

    monkeypatch.setattr(first, "_find_volume", read_then_the_other_counts)
    assert first.count_accepted_referral(referral("r-this"))
    assert len(reads) == 2  # read again after the conflict
    clock.now = datetime(2027, 6, 1, tzinfo=UTC)
    first_year = second.volume_use(agreement.id)[0]
    assert (first_year.period_start, first_year.used) == (date(2027, 1, 1), 2)


def test_volume_thresholds_are_announced_once_per_period(app_on_store: Agreements, clock: ManualClock) -> None:
    agreements = app_on_store
    agreement = in_force(agreements, clock, start=date(2026, 1, 1), end=date(2027, 12, 31))
    for n in range(12):
        at = datetime(2026, 11, 25, 16, tzinfo=UTC) + timedelta(hours=n)
        agreements.count_accepted_referral(AcceptedReferral(f"r-{n}", CSSS, REGIONAL, SPECIALISED, None, at))
        agreements.count_accepted_referral(AcceptedReferral(f"r-{n}", CSSS, REGIONAL, SPECIALISED, None, at))
    next_year = datetime(2027, 2, 1, tzinfo=UTC)
    for n in range(8):
        agreements.count_accepted_referral(
            AcceptedReferral(f"s-{n}", CSSS, REGIONAL, SPECIALISED, str(agreement.id), next_year)
        )
    crossings = [
        (names([o])[0], o.event.data["used"], o.event.data["percent"], o.event.data["period_start"])
        for o in integration_events(agreements)
        if "volume" in o.event.type
    ]
    assert crossings == [
        ("volume-threshold-reached", 8, 80, "2026-01-01"),
        ("volume-exceeded", 10, 100, "2026-01-01"),
        ("volume-threshold-reached", 8, 80, "2027-01-01"),
    ]


def test_review_reminder_is_emitted_once_across_a_restart(open_app: Open, store_url: str, clock: ManualClock) -> None:
    first = open_app(store_url)
    register_network(first)
    # In force from today; reviews every 6 months from the start date: the first one due on 1 January 2027.
    agreement = in_force(first, clock, start=date(2026, 1, 1), review_every_months=6)
    clock.now = datetime(2027, 1, 2, tzinfo=UTC)
    moved = [first.tick(), first.tick()]
    first.close()
    clock.advance(timedelta(minutes=5))
    reopened = open_app(store_url)
    after_restart = reopened.tick()
    due = [o for o in integration_events(reopened) if o.event.type.endswith("review-due.v1")]
    assert moved == [1, 0] and after_restart == 0
    assert [(o.event.data["agreement_id"], o.event.data["due_at"]) for o in due] == [
        (str(agreement.id), "2027-01-01T00:00:00-05:00")
    ]
    reviewed = reopened.review(agreement.id, actor(REGIONAL))
    assert (reviewed.review_due, reviewed.next_review_on) == (False, date(2027, 7, 1))


def test_every_version_and_change_is_read_back_after_reopening(
    open_app: Open, store_url: str, clock: ManualClock
) -> None:
    first = open_app(store_url)
    register_network(first)
    agreement = in_force(first, clock, start=date(2026, 1, 1))
    clock.advance(timedelta(days=1))
    proposal = first.amend(agreement.id, {"title": "Entente modifiée"}, actor(REGIONAL), summary="new title").proposal
    assert proposal is not None
    first.sign(agreement.id, actor(REGIONAL), proposal_id=proposal.id)
    first.sign(agreement.id, actor(CSSS), proposal_id=proposal.id)
    first.suspend(agreement.id, actor(CSSS), reason="audit")
    first.close()
    reopened = open_app(store_url)
    again = reopened.get_agreement(agreement.id)
    history = [(c.event, c.status.value, c.version) for c in reopened.history(agreement.id)]
    assert [v.terms.title for v in again.versions] == ["Entente de service", "Entente modifiée"]
    assert history == [
        ("drafted", "DRAFT", 1),
        ("signed", "DRAFT", 1),
        ("signed", "SIGNED", 1),
        ("activated", "ACTIVE", 1),
        ("amendment-proposed", "ACTIVE", 1),
        ("signed", "ACTIVE", 1),
        ("signed", "ACTIVE", 1),
        ("amended", "ACTIVE", 2),
        ("suspended", "SUSPENDED", 2),
    ]
    assert [a.id for a in reopened.list_agreements(party=REGIONAL, status="SUSPENDED")] == [agreement.id]
    assert [o.org_id for o in reopened.find_organisations(kind="CSSS")] == [CSSS]


def test_published_events_match_their_schemas_and_keep_their_ids(app_on_store: Agreements, clock: ManualClock) -> None:
    agreements = app_on_store
    agreement = in_force(agreements, clock)
    clock.now = datetime(2027, 1, 2, tzinfo=UTC)
    agreements.tick()
    agreements.terminate(agreement.id, "merged into a regional agreement", actor(REGIONAL))
    published, again = integration_events(agreements), integration_events(agreements)
    for outgoing in published:
        EVENTS[outgoing.event.type].model_validate(outgoing.event.data)
        assert outgoing.topic == topics.AGREEMENTS
    states = [o.event.data for o in published if o.event.subject == str(agreement.id)]
    assert names(published)[:5] == ["organisation-registered"] * 5
    assert [(s["status"], s["signed_by"]) for s in states] == [
        ("DRAFT", []),
        ("DRAFT", [CSSS]),
        ("SIGNED", [CSSS, REGIONAL]),
        ("ACTIVE", [CSSS, REGIONAL]),
        ("TERMINATED", [CSSS, REGIONAL]),
    ]
    assert states[3]["occurred_at"] == "2027-01-01T00:00:00-05:00"
    assert states[4]["reason"] == "merged into a regional agreement"
    assert [o.event.id for o in published] == [o.event.id for o in again]
    assert "S-TEST" not in json.dumps([o.event.data for o in published])


def test_a_referral_naming_an_unknown_agreement_is_dead_lettered(app_on_store: Agreements) -> None:
    dead = FakeDeadLetters()
    processor = RecordProcessor(
        app_on_store, inbound.handler(app_on_store), DeadLetterSink(dead.send_raw), "test", inbound.DECLARED
    )
    unknown = accepted("r-1", datetime(2027, 2, 1, tzinfo=UTC), "00000000-0000-4000-8000-000000000000")
    outcome = processor.process(FakeRecord(topics.REFERRAL, 1, 0, *unknown.to_kafka()))
    assert outcome == "dead-lettered" and [t for t, _ in dead.sent] == [f"{topics.REFERRAL}.dlq"]
    assert app_on_store.has_processed(tracking_for(topics.REFERRAL, 1, 0))


def test_events_recorded_before_the_lifecycle_existed_are_still_read(app_on_store: Agreements) -> None:
    agreements = app_on_store
    agreement_id, drafted_at = uuid.uuid4(), datetime(2026, 11, 20, 12, tzinfo=UTC)
    terms = service_terms().to_document()
    del terms["responsibilities"], terms["respects_community_orientations"]
    version_one = {
        "originator_topic": "services.agreements.domain:Agreement",
        "timestamp": drafted_at,
        "terms": terms,
        "drafted_by": "coordinator-1",
    }
    stored = StoredEvent(
        originator_id=agreement_id,
        originator_version=1,
        topic="services.agreements.domain:Agreement.Drafted",
        state=agreements.mapper.transcoder.encode(version_one),
    )
    agreements.recorder.insert_events([stored])
    agreement = agreements.get_agreement(agreement_id)
    signed = agreements.sign(agreement_id, actor(CSSS))
    assert (agreement.status.value, agreement.drafted_at, agreement.zone) == ("DRAFT", drafted_at, "America/Montreal")
    assert [s.party for s in signed.signatures.values()] == [CSSS]
    assert [a.id for a in agreements.list_agreements(party=REGIONAL)] == [agreement_id]
