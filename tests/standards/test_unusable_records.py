"""Records the board cannot use are dead-lettered with a reason and store nothing; stored values it cannot derive are
left out of a rebuild by key; the agents go on either way. The worker's own agents, tables as dicts, no broker."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from services.common.backoff import Backoff
from services.common.consumer import DeadLetterSink
from services.common.envelope import CloudEvent
from services.contract.hours_standards import in_force
from services.standards.inbound import PoisonRecordError, call_report, referral_step, schedule_declared
from services.standards.settings import StandardsSettings
from services.standards.worker import Worker

REFERRALS, CALLS, AGREEMENTS = "rls.referral.v1", "rls.infosocial.calls.v1", "rls.agreements.v1"


def referral(name: str, at: str, referral_id: str = "r1", event_id: str | None = None) -> tuple[Any, bytes]:
    """A referral event's record: an AAOR request by phone to org-b (its call-back clock starts at `submitted`)."""
    data: dict[str, Any] = {
        "referral_id": referral_id, "subject_id": "s", "from_org": "org-a", "from_service": "AAOR", "to_org": "org-b",
        "to_service": "AAOR", "channel": "PHONE", "urgency": "ROUTINE", "status": "SUBMITTED", "occurred_at": at,
        "information_url": "u",
    }  # fmt: skip
    if name == "submitted":
        data["accompaniment"] = "NONE"
    else:
        data.update(status="RECEIVED", previous_status="SUBMITTED", version=2, actor_org="org-b")
    event = CloudEvent(
        id=event_id or f"{referral_id}-{name}",
        source="/rls/referral",
        type=f"ca.qc.rls.referral.{name}.v1",
        time=datetime(2026, 3, 14, tzinfo=UTC),
        data=data,
    )
    return event.to_kafka()


def call(call_id: str, region: str, **times: str | None) -> tuple[bytes, Any, bytes]:
    data = {"call_id": call_id, "region": region, "offered_at": "2026-03-14T09:00:00-04:00", "anonymous": True, **times}
    event = CloudEvent(
        id=f"{region}-{call_id}-{json.dumps(times, sort_keys=True)}",
        source="/rls/infosocial",
        type="ca.qc.rls.infosocial.call-reported.v1",
        time=datetime(2026, 3, 14, tzinfo=UTC),
        data=data,
    )
    headers, value = event.to_kafka()
    return region.encode(), headers, value


def hours(occurred_at: str, opens: str = "00:00") -> tuple[Any, bytes]:
    data = {
        "org_id": "org-b", "service": "CRISIS_24_7", "effective_from": "2026-03-02", "occurred_at": occurred_at,
        "weekly": [{"day": d, "opens": opens, "closes": "24:00", "channels": ["PHONE"]}
                   for d in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")],
    }  # fmt: skip
    event = CloudEvent(
        id=f"hours-{occurred_at}-{opens}",
        source="/rls/agreements",
        type="ca.qc.rls.agreements.service-hours-set.v1",
        time=datetime(2026, 3, 1, tzinfo=UTC),
        data=data,
    )
    return event.to_kafka()


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (lambda: referral_step(*referral("called-back", "2026-03-14T10:00:00")), "occurred_at (timezone_aware)"),
        (lambda: referral_step(*referral("submitted", "9999-12-31T23:00:00-05:00")), "occurred_at (out_of_range"),
        (lambda: referral_step(*referral("submitted", "1999-12-31T23:00:00Z")), "occurred_at (out_of_range"),
        (lambda: call_report(*call("1", "03", answered_at="9999-12-31T23:00:00-05:00")), "answered_at (out_of_range"),
        (lambda: schedule_declared(*hours("2026-02-20T10:00:00")), "occurred_at (timezone_aware)"),
    ],
    ids=["naive", "year-9999", "year-1999", "call-year-9999", "schedule-naive"],
)
def test_a_time_without_utc_offset_or_out_of_range_is_poison(record: Any, reason: str) -> None:
    with pytest.raises(PoisonRecordError, match="^" + re.escape(f"invalid data: {reason}")):
        record()


class Board:
    """The worker's agents fed records by hand: tables as dicts, dead letters recorded."""

    def __init__(self, tmp_path: Path) -> None:
        self.worker = Worker(StandardsSettings(var_dir=str(tmp_path)))
        self.worker.referrals, self.worker.calls, self.worker.schedules = {}, {}, {}
        self.dead: list[tuple[int, str]] = []

        async def dead_letter(event: Any, reason: str) -> None:
            self.dead.append((event.message.offset, reason))

        self.worker._dead_letter = dead_letter  # type: ignore[method-assign]

    def feed(self, topic: str, *records: tuple[Any, ...]) -> None:
        """Runs the topic's agent over the records (key, headers, value; or headers, value), offsets from 0."""

        class Stream:
            async def events(self) -> AsyncIterator[Any]:
                for offset, record in enumerate(records):
                    key, headers, value = record if len(record) == 3 else (b"r", *record)
                    message = SimpleNamespace(topic=topic, partition=0, offset=offset, key=key, headers=headers,
                                              value=value)  # fmt: skip
                    yield SimpleNamespace(message=message)

        asyncio.run(self.worker.app.agents[f"apply-{topic}"].fun(Stream()))

    def rows(self) -> dict[str, tuple[int, int]]:
        return {k.topic_key(): (r.met, r.breached) for k, r in self.worker.state.board.rows.items()}  # type: ignore[attr-defined]

    def calls(self) -> dict[str, tuple[int, int, int]]:
        return {
            k.topic_key(): (s.offered, s.answered, s.abandoned)  # type: ignore[attr-defined]
            for k, s in self.worker.state.calls.rows.items()
        }


MET = {"board|org-b|AAOR|AAOR_CALLBACK|DAY|2026-03-14": (1, 0), "board|org-b|AAOR|AAOR_CALLBACK|MONTH|2026-03": (1, 0)}


def test_a_naive_time_is_dead_lettered_and_the_referrals_later_events_still_count(tmp_path: Path) -> None:
    board = Board(tmp_path)
    board.feed(
        REFERRALS,
        referral("submitted", "2026-03-14T09:00:00-04:00"),
        referral("called-back", "2026-03-14T10:00:00"),
        referral("called-back", "2026-03-14T10:00:00-04:00", event_id="r1-called-back-again"),
    )
    assert board.dead == [(1, "invalid data: occurred_at (timezone_aware)")]
    assert [step["at"] for step in board.worker.referrals["r1"].values()] == [
        "2026-03-14T09:00:00-04:00",
        "2026-03-14T10:00:00-04:00",
    ]
    assert board.rows() == MET


@pytest.mark.parametrize(
    "headers",
    [
        lambda h: [*h, ("content-type", None)],
        lambda h: [*h[:-1], ("content-type", b"\xff")],
    ],
    ids=["null-header", "binary-content-type"],
)
def test_a_malformed_envelope_is_dead_lettered_and_the_agent_goes_on(tmp_path: Path, headers: Any) -> None:
    board = Board(tmp_path)
    submitted = referral("submitted", "2026-03-14T09:00:00-04:00")
    called_back = referral("called-back", "2026-03-14T09:30:00-04:00")
    board.feed(REFERRALS, submitted, (headers(called_back[0]), called_back[1]), called_back)
    assert [offset for offset, _ in board.dead] == [1]
    assert board.rows() == MET


def test_a_record_with_an_unknown_member_is_dead_lettered_without_its_name(tmp_path: Path) -> None:
    """The schema's fields are named; the unknown member's name is the producer's text, maybe a person's."""
    board = Board(tmp_path)
    headers, value = referral("submitted", "2026-03-14T09:00:00-04:00")
    data = json.loads(value)
    board.feed(REFERRALS, (headers, json.dumps({**data, "Jean Tremblay": 1, "urgency": 3}).encode()))
    assert board.dead == [(0, "invalid data: urgency (enum), <key> (extra_forbidden)")]


@pytest.mark.usefixtures("collector_paused")
def test_a_deeply_nested_value_is_dead_lettered(tmp_path: Path) -> None:
    board = Board(tmp_path)
    headers, _ = referral("submitted", "2026-03-14T09:00:00-04:00")
    board.feed(REFERRALS, (headers, b"[" * 200_000))
    assert board.dead == [(0, "record value is not JSON (RecursionError)")]


def test_a_record_whose_change_cannot_be_derived_is_dead_lettered_and_nothing_stored(tmp_path: Path) -> None:
    board = Board(tmp_path)
    legacy = {"naive": {"name": "submitted", "at": "2026-03-14T09:00:00", "to_org": "org-b", "to_service": "AAOR",
                        "channel": "PHONE", "urgency": "ROUTINE", "planned": None}}  # fmt: skip
    board.worker.referrals["r1"] = legacy  # stored by a version that let a naive time through
    board.feed(
        REFERRALS,
        referral("called-back", "2026-03-14T10:00:00-04:00"),
        referral("submitted", "2026-03-14T09:00:00-04:00", referral_id="r2"),
        referral("called-back", "2026-03-14T09:30:00-04:00", referral_id="r2"),
    )
    assert board.dead == [(0, "change not derivable (TypeError)")]
    assert board.worker.referrals["r1"] == legacy
    assert board.rows() == MET  # r2's


def test_a_rebuild_leaves_out_a_stored_value_it_cannot_derive_by_key_and_counts_every_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    board = Board(tmp_path)
    board.feed(
        REFERRALS,
        referral("submitted", "2026-03-14T09:00:00-04:00", referral_id="r2"),
        referral("called-back", "2026-03-14T09:30:00-04:00", referral_id="r2"),
    )
    stored = {"r1": {"naive": {"name": "submitted", "at": "2026-03-14T09:00:00", "to_org": "org-b",
                               "to_service": "AAOR", "channel": "PHONE", "urgency": "ROUTINE", "planned": None},
                     "aware": {"name": "called-back", "at": "2026-03-14T10:00:00-04:00", "to_org": "org-b",
                               "to_service": "AAOR", "channel": "PHONE", "urgency": "ROUTINE", "planned": None}},
              "r2": board.worker.referrals["r2"]}  # fmt: skip
    board.worker.referrals = stored  # as recovered from a changelog an earlier version wrote, r1 first
    board.worker.state.take()
    with caplog.at_level(logging.ERROR, logger="services.standards.worker"):
        asyncio.run(board.worker._rebuild_referrals())
    assert board.rows() == MET
    assert {p.key for p in board.worker.state.take()} == set(MET)
    assert [r.getMessage() for r in caplog.records] == [
        "referrals table: value of key r1 cannot be derived (TypeError): left out of the board"
    ]


def test_calls_of_two_regions_with_the_same_id_are_two_calls_whatever_the_order(tmp_path: Path) -> None:
    answered = call("1001", "03", answered_at="2026-03-14T09:01:00-04:00")
    abandoned = call("1001", "06", abandoned_at="2026-03-14T09:09:00-04:00")
    buckets = ("HOUR|2026-03-14T09:00:00-04:00", "DAY|2026-03-14", "MONTH|2026-03")
    expected = {
        **{f"infosocial|03|{bucket}": (1, 1, 0) for bucket in buckets},
        **{f"infosocial|06|{bucket}": (1, 0, 1) for bucket in buckets},
    }
    for order in ((answered, abandoned), (abandoned, answered)):
        board = Board(tmp_path)
        board.feed(CALLS, *order)
        assert sorted(board.worker.calls) == ["03|1001", "06|1001"]
        assert board.calls() == expected
        asyncio.run(board.worker._rebuild_calls())
        assert board.calls() == expected


def test_a_rebuild_ignores_calls_stored_under_their_id_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    board = Board(tmp_path)
    board.feed(CALLS, call("1001", "03", answered_at="2026-03-14T09:01:00-04:00"))
    current = board.calls()
    board.worker.calls["1001"] = {**board.worker.calls["03|1001"]}  # the key an earlier version wrote
    with caplog.at_level(logging.WARNING, logger="services.standards.worker"):
        asyncio.run(board.worker._rebuild_calls())
    assert board.calls() == current
    assert "1 value(s) under a call id alone" in caplog.text


def test_the_later_declared_schedule_wins_as_an_instant_not_as_text(tmp_path: Path) -> None:
    later = hours("2026-02-20T10:00:00-05:00", opens="00:00")  # 15:00 UTC
    earlier = hours("2026-02-20T14:00:00Z", opens="08:00")  # 14:00 UTC, later as text
    for order in ((later, earlier), (earlier, later)):
        board = Board(tmp_path)
        board.feed(AGREEMENTS, *order)
        kept = board.worker.schedules["hours|org-b|CRISIS_24_7"]["2026-03-02"]
        assert kept["occurred_at"] == "2026-02-20T10:00:00-05:00"
    versions = [schedule_declared(*earlier), schedule_declared(*later)]
    schedules = [v.schedule for v in versions if v is not None]
    for listed in (schedules, schedules[::-1]):
        assert in_force(listed, date(2026, 3, 2))["occurred_at"] == "2026-02-20T10:00:00-05:00"  # type: ignore[index]


@dataclass
class UnavailableKafka:
    """A publisher that cannot reach Kafka for its first `failures` sends."""

    failures: int
    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
        self.sent.append((topic, key, value, headers))


def test_a_dead_letter_is_tried_again_while_kafka_is_unavailable_and_the_record_never_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent waits on the record (its partition with it) until its dead letter is sent."""
    monkeypatch.setattr("services.standards.worker.Backoff", lambda: Backoff(initial=0.01))
    worker = Worker(StandardsSettings(var_dir=str(tmp_path)))
    kafka = UnavailableKafka(failures=3)
    worker.dead_letters = DeadLetterSink(kafka.send_raw)
    message = SimpleNamespace(topic=CALLS, partition=0, offset=4, key=b"03", value=b"{", headers=[])
    asyncio.run(worker._dead_letter(SimpleNamespace(message=message), "record value is not JSON"))  # type: ignore[arg-type]
    [(topic, key, value, headers)] = kafka.sent
    assert (topic, key, value) == (CALLS + ".dlq", b"03", b"{") and dict(headers)["dlq_offset"] == b"4"
    assert kafka.failures == 0
    assert worker.dead_lettered == {CALLS: 1} and worker.dead_letters_refused == {}
