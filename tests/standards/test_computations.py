"""The board's computations without a broker: durations, calls, hours, percentiles, rows moved by value changes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.contract.duration_standards import DurationPolicy, duration_outcomes
from services.contract.hours_standards import open_minutes, openings
from services.contract.referral_events import ClockState, DurationStandard
from services.standards.bounds import Period, bucket
from services.standards.calls import call_mark, merge
from services.standards.domain import CallStats, Conformance, Rows, percentile
from services.standards.hours import hours_rows
from services.standards.referrals import HistoryStep
from services.standards.settings import StandardsSettings

BOUNDS = StandardsSettings().bounds()
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def steps(service: str, *names: str | tuple[str, int]) -> list[HistoryStep]:
    """A referral to org-b's `service`: each name an hour after the previous; (name, term) for plan steps."""
    history = [HistoryStep("submitted", T0, "org-b", service)]
    for n, item in enumerate(names, start=1):
        name, term = item if isinstance(item, tuple) else (item, None)
        history.append(HistoryStep(name, T0 + timedelta(hours=n), "org-b", service, term))
    return history


def outcome(history: list[HistoryStep], standard: DurationStandard) -> tuple[ClockState, int | None]:
    found = [o for o in duration_outcomes(history, DurationPolicy()) if o.standard == standard]
    assert len(found) == 1
    return found[0].state, found[0].limit


M = "meeting-recorded"


def test_aaor_is_breached_at_the_fourth_meeting_and_met_when_it_ends_within_three() -> None:
    assert outcome(steps("AAOR", M, M, M, M), DurationStandard.AAOR_MEETINGS) == (ClockState.BREACHED, 3)
    assert outcome(steps("AAOR", M, M, M, "closed"), DurationStandard.AAOR_MEETINGS) == (ClockState.MET, 3)
    assert outcome(steps("AAOR", M, M), DurationStandard.AAOR_MEETINGS) == (ClockState.RUNNING, 3)


def test_a_consultation_goes_by_the_plans_term_capped_at_12_until_the_plan_is_revised() -> None:
    plan_8 = ("intervention-plan-set", 8)
    assert outcome(steps("SOCIAL_CONSULT", plan_8, *[M] * 9), DurationStandard.CONSULT_MEETINGS)[0] == "BREACHED"
    revised = ("intervention-plan-revised", 14)
    history = steps("PSYCH_CONSULT", plan_8, *[M] * 8, revised, *[M] * 6, "closed")
    assert outcome(history, DurationStandard.CONSULT_MEETINGS) == (ClockState.MET, 14)
    plan_15 = ("intervention-plan-set", 15)
    assert outcome(steps("SOCIAL_CONSULT", plan_15, *[M] * 13), DurationStandard.CONSULT_MEETINGS)[0] == "BREACHED"
    late = steps("SOCIAL_CONSULT", *[M] * 13, ("intervention-plan-revised", 20), "closed")
    assert outcome(late, DurationStandard.CONSULT_MEETINGS)[0] == "BREACHED"  # a revision after the fact


def test_a_person_followed_in_consultation_has_a_plan_in_the_record() -> None:
    assert outcome(steps("SOCIAL_CONSULT", M, "closed"), DurationStandard.CONSULT_PLAN)[0] == "BREACHED"
    assert outcome(steps("SOCIAL_CONSULT", M, ("intervention-plan-set", 6)), DurationStandard.CONSULT_PLAN)[0] == "MET"
    assert outcome(steps("SOCIAL_CONSULT", M), DurationStandard.CONSULT_PLAN)[0] == "RUNNING"


def test_a_redirect_starts_the_next_receivers_episode() -> None:
    history = steps("AAOR", M, M, "redirected")
    history += [HistoryStep(M, T0 + timedelta(hours=9 + n), "org-c", "SOCIAL_CONSULT") for n in range(2)]
    found = {(o.org, o.standard): o.state for o in duration_outcomes(history, DurationPolicy())}
    assert found == {
        ("org-b", "AAOR_MEETINGS"): "MET",
        ("org-c", "CONSULT_MEETINGS"): "RUNNING",
        ("org-c", "CONSULT_PLAN"): "RUNNING",
    }


REPORT = {"call_id": "c1", "region": "03", "offered_at": "2026-03-02T14:00:00+00:00", "anonymous": True}
REPORTS = [
    REPORT,
    {**REPORT, "answered_at": "2026-03-02T14:03:59.500000+00:00", "ended_at": "2026-03-02T14:30:00+00:00"},
    {**REPORT, "abandoned_at": "2026-03-02T14:05:00+00:00", "anonymous": False},
    {**REPORT, "referral_id": "r-1"},
]


@given(st.permutations(REPORTS), st.integers(0, 3))
def test_reports_of_a_call_merge_in_any_order_and_twice(order: list[dict[str, Any]], again: int) -> None:
    merged: dict[str, Any] | None = None
    for report in [*order, order[again]]:
        merged = merge(merged, {"answered_at": None, "abandoned_at": None, "ended_at": None, **report})
    assert merged is not None
    assert merged["answered_at"] == REPORTS[1]["answered_at"] and merged["abandoned_at"] is None
    assert (merged["anonymous"], merged["referral_id"]) == (True, "r-1")
    mark = call_mark(merged, BOUNDS)
    assert (mark.outcome, mark.wait_s, mark.within) == ("ANSWERED", 240, True)


def test_an_abandoned_call_is_decided_and_not_answered_in_time_a_waiting_one_is_only_offered() -> None:
    stats = CallStats()
    for wait, outcome_ in ((30, "ANSWERED"), (100, "ABANDONED"), (None, "WAITING"), (241, "ANSWERED")):
        record = {**REPORT, "answered_at": None, "abandoned_at": None}
        if outcome_ != "WAITING":
            key = "answered_at" if outcome_ == "ANSWERED" else "abandoned_at"
            record[key] = (T0 + timedelta(seconds=wait or 0)).isoformat()
        stats.add(call_mark(record, BOUNDS), 1)
    assert (stats.offered, stats.answered, stats.abandoned, stats.within) == (4, 2, 1, 1)
    assert stats.pct_within == 33.3
    assert stats.p90_wait_s == 241


@given(st.lists(st.integers(0, 900), min_size=1, max_size=60))
def test_the_90th_percentile_is_the_nearest_rank(waits: list[int]) -> None:
    ordered = sorted(waits)
    assert percentile(Counter(waits), 90) == ordered[-(-9 * len(waits) // 10) - 1]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), max_size=20), st.data())
def test_rows_are_the_sum_of_the_current_values_whatever_the_changes(
    values: list[tuple[str, bool]], data: st.DataObject
) -> None:
    rows: Rows[str, bool] = Rows(Conformance)
    current: dict[int, list[tuple[str, bool]]] = {}
    for n, mark in enumerate(values):
        index = data.draw(st.integers(0, n))  # a new value, or one that changes
        rows.replace(current.get(index, []), [mark])
        current[index] = [mark]
    expected = Counter(m for marks in current.values() for m in marks)
    assert {(k, True): r.met for k, r in rows.rows.items() if r.met} == {
        k: v for k, v in expected.items() if k[1]
    }  # fmt: skip
    assert all(not row.empty for row in rows.rows.values())


def schedule(effective: str, weekly: list[dict[str, Any]], exceptions: list[dict[str, Any]] | None = None) -> Any:
    return {
        "org_id": "csss-a", "service": "AAOR", "weekly": weekly, "exceptions": exceptions or [],
        "effective_from": effective, "timezone": "America/Montreal", "occurred_at": effective + "T00:00:00Z",
    }  # fmt: skip


def span(day: str, opens: str, closes: str, *channels: str) -> dict[str, Any]:
    return {"day": day, "opens": opens, "closes": closes, "channels": list(channels or ("PHONE", "IN_PERSON"))}


AAOR_72H = [span(d, "08:00", "20:00") for d in ("MON", "TUE", "WED", "THU", "FRI")] + [span("SAT", "09:00", "21:00")]


def test_aaor_conforms_with_70_hours_evenings_and_weekend_per_channel_each_day_of_the_week() -> None:
    versions = [schedule("2026-03-02", AAOR_72H)]
    rows = hours_rows("csss-a", "AAOR", versions, Period.DAY, (date(2026, 3, 1), date(2026, 3, 9)), BOUNDS)
    assert {(k.standard, k.bucket): (r.met, r.breached) for k, r in rows.items()} == {
        (standard, f"2026-03-{d:02d}"): (1, 0)
        for standard in ("AAOR_HOURS_PHONE", "AAOR_HOURS_IN_PERSON")
        for d in range(2, 9)
    }
    daytime = [span(d, "08:00", "17:00") for d in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")]
    week = (date(2026, 3, 2), date(2026, 3, 9))
    rows = hours_rows("csss-a", "AAOR", [schedule("2026-03-02", daytime)], Period.MONTH, week, BOUNDS)
    assert {k.standard: (r.met, r.breached) for k, r in rows.items()} == {
        "AAOR_HOURS_PHONE": (0, 7),  # 63 hours, no evening
        "AAOR_HOURS_IN_PERSON": (0, 7),
    }


def test_a_phone_only_evening_breaks_the_in_person_standard_only() -> None:
    weekly = [span(d, "08:00", "17:00") for d in ("MON", "TUE", "WED", "THU", "FRI")]
    weekly += [span(d, "17:00", "21:00", "PHONE") for d in ("MON", "TUE", "WED", "THU", "FRI")]
    weekly += [span("SAT", "09:00", "15:00"), span("SUN", "09:00", "14:00")]
    rows = hours_rows(
        "csss-a", "AAOR", [schedule("2026-03-02", weekly)], Period.MONTH, (date(2026, 3, 2), date(2026, 3, 3)), BOUNDS
    )
    assert {k.standard: r.met for k, r in rows.items()} == {"AAOR_HOURS_PHONE": 1, "AAOR_HOURS_IN_PERSON": 0}


def test_a_24_7_service_breaches_on_a_day_an_exception_closes_it() -> None:
    always = [span(d, "00:00", "24:00", "PHONE") for d in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")]
    closed = [{"date": "2026-03-04", "openings": [{"opens": "00:00", "closes": "12:00", "channels": ["PHONE"]}]}]
    versions = [{**schedule("2026-03-02", always, closed), "service": "CRISIS_24_7"}]
    assert open_minutes(openings(versions, date(2026, 3, 4))) == 720
    rows = hours_rows("c", "CRISIS_24_7", versions, Period.DAY, (date(2026, 3, 2), date(2026, 3, 6)), BOUNDS)
    assert [(k.bucket, r.met) for k, r in sorted(rows.items(), key=lambda i: i[0].bucket)] == [
        ("2026-03-02", 1), ("2026-03-03", 1), ("2026-03-04", 0), ("2026-03-05", 1),
    ]  # fmt: skip
    assert (
        hours_rows("c", "SPECIFIC_SERVICES", versions, Period.DAY, (date(2026, 3, 2), date(2026, 3, 6)), BOUNDS) == {}
    )


def test_buckets_are_local_days_months_and_hours_the_two_1am_of_a_dst_change_apart() -> None:
    zone = BOUNDS.zone
    late = datetime(2026, 3, 3, 3, 30, tzinfo=UTC)  # 22:30 on March 2nd in Montréal
    assert bucket(late, Period.DAY, zone) == "2026-03-02"
    assert bucket(late, Period.MONTH, zone) == "2026-03"
    first, second = datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert bucket(first, Period.HOUR, zone) != bucket(second, Period.HOUR, zone)
