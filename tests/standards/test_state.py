"""The worker's state without a broker: records decoded as the worker decodes them, in any order and twice, give the
rows of the plain-Python reference."""

from __future__ import annotations

import random
from typing import Any

import pytest

from services.common.kafka import Outgoing
from services.standards.calls import merge
from services.standards.inbound import call_report, referral_step
from services.standards.settings import StandardsSettings
from services.standards.state import BoardState
from tests.standards.histories import (
    ReferralHistory,
    call_outgoing,
    call_reports,
    expected_call_rows,
    expected_delay_rows,
    expected_duration_exceeded,
    expected_duration_rows,
    plan_call,
    plan_referral,
    unfinished_aaor,
)


def board_of(records: list[Outgoing]) -> dict[str, dict[str, Any]]:
    """What the worker's agents do with each record, tables as dicts."""
    state = BoardState(StandardsSettings().bounds())
    referrals: dict[str, dict[str, Any]] = {}
    calls: dict[str, dict[str, Any]] = {}
    for record in records:
        headers, value = record.event.to_kafka()
        if record.event.type.startswith("ca.qc.rls.referral."):
            step = referral_step(headers, value)
            if step is not None:
                old = referrals.get(step.referral_id)
                referrals[step.referral_id] = {**(old or {}), step.event_id: step.step}
                state.referral_changed(old, referrals[step.referral_id])
            continue
        report = call_report(record.key.encode(), headers, value)
        assert report is not None
        known = calls.get(report.call["call_id"])
        calls[report.call["call_id"]] = merge(known, report.call)
        state.call_changed(known, calls[report.call["call_id"]])
    return {p.key: p.payload.model_dump(mode="json") for p in state.take() if p.payload is not None}


@pytest.mark.parametrize("seed", range(4))
def test_the_rows_equal_the_reference_whatever_the_order_and_the_duplicates(seed: int) -> None:
    rng = random.Random(seed)
    history = ReferralHistory()
    history.run([plan_referral(rng) for _ in range(120)])
    reports, finals = call_reports([plan_call(rng) for _ in range(300)])
    expected = {**expected_delay_rows(history), **expected_duration_rows(history), **expected_call_rows(finals)}
    referral_records = history.outgoing("rls.referral.v1")
    call_records = call_outgoing(reports, "rls.infosocial.calls.v1")
    rng.shuffle(call_records)  # call reports merge in any order
    records = referral_records + call_records
    records += rng.sample(records, len(records) // 10)
    assert board_of(records) == expected
    assert {k.split("|")[3] for k in expected if k.startswith("board|")} >= {"CONSULT_PLAN"}


def test_the_referral_service_records_duration_exceeded_once_where_the_reference_says() -> None:
    """The producer's own event (`duration-exceeded`, at the meeting past the limit) agrees with the hand count."""
    rng, history = random.Random(7), ReferralHistory()
    history.run([plan_referral(rng) for _ in range(150)])
    exceeded = [r.event.data for r in history.outgoing("rls.referral.v1") if r.event.type.endswith("exceeded.v1")]
    expected = expected_duration_exceeded(history)
    assert sorted((d["referral_id"], d["meetings"]) for d in exceeded) == expected
    assert len(exceeded) == len(expected) > 0
    standards = {d["standard"] for d in exceeded}
    assert standards == {"AAOR_MEETINGS", "CONSULT_MEETINGS"}


def test_a_rebuild_deletes_the_rows_on_the_topic_it_no_longer_derives() -> None:
    """Live, an unfinished AAOR episode of 4 meetings breaches the limit of 3; restarted with a limit of 4 it counts
    nowhere: its rows on the topic are deleted, the rows derived again and the other kinds of keys are not."""
    history = ReferralHistory()
    history.run([unfinished_aaor(4)])
    records = history.outgoing("referrals")
    live = board_of(records)
    assert any("AAOR_MEETINGS" in key for key in live)
    state = BoardState(StandardsSettings(aaor_max_meetings=4).bounds())
    steps = [referral_step(*r.event.to_kafka()) for r in records]
    histories: dict[str, dict[str, Any]] = {}
    for step in steps:
        if step is not None:
            histories.setdefault(step.referral_id, {})[step.event_id] = step.step
    state.rebuild_referrals(histories.items())
    on_topic = [*live, "infosocial|03|DAY|2026-03-02", "hours|org-b|AAOR"]
    assert state.delete_not_derived(on_topic, "board|") == 2
    published = {p.key: p.payload for p in state.take()}
    assert {key for key, payload in published.items() if payload is None} == {
        key for key in live if "AAOR_MEETINGS" in key
    }
    assert {key for key, payload in published.items() if payload is not None} == set(expected_delay_rows(history))
