"""Random histories for the board's acceptance tests: referrals driven through the referral service's own
application (its events mapped by its own contracts), meetings and plans on them, Info-Social calls — and the
plain-Python reference each board row must equal."""

from __future__ import annotations

import contextlib
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from services.common.clock import ManualClock
from services.common.kafka import Outgoing
from services.contract.duration_standards import MEETING, PLAN_REVISED, PLAN_SET
from services.contract.infosocial_events import InfoSocialCallV1
from services.referral.application import Referrals, Submission
from services.referral.domain import Meeting, PlanChange, ReferralError, Step
from services.referral.outbound import ReferralOutbound
from services.standards.bounds import BOARD_PERIODS, CALL_PERIODS, Period, bucket
from services.standards.inbound import call_event
from tests.referral.fakes import FakeDirectory

ZONE = ZoneInfo("America/Montreal")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
END = T0 + timedelta(days=20)
ORGS = ("org-b", "org-c")
SERVICES = ("AAOR", "SOCIAL_CONSULT", "PSYCH_CONSULT", "CRISIS_24_7")
COMMANDS = ("receive", "callback", "analyse", "accept", "first-contact", "start-follow-up", "close", "refuse",
            "cancel", "redirect")  # fmt: skip
REGIONS = ("03", "06")


@dataclass
class ReferralPlan:
    """One referral: its target and the commands tried on it, each after some hours."""

    to_org: str
    to_service: str
    channel: str
    urgency: str
    submit_after_h: float
    steps: list[tuple[str, float]]
    meetings_h: list[float]
    plan_at_meeting: int | None
    plan_term: int
    revise_at_meeting: int | None
    revised_term: int


@dataclass
class CallPlan:
    region: str
    offered_after_s: int
    outcome: str
    wait_s: float
    reported_twice: bool


@dataclass
class Expected:
    """The board a worker must publish: row key -> payload."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan_referral(rng: random.Random) -> ReferralPlan:
    return ReferralPlan(
        to_org=rng.choice(ORGS),
        to_service=rng.choice(SERVICES),
        channel=rng.choice(("PHONE", "IN_PERSON", "INFO_SOCIAL_811")),
        urgency=rng.choice(("ROUTINE", "ROUTINE", "URGENT", "IMMEDIATE")),
        submit_after_h=rng.uniform(0, 24 * 15),
        steps=[(rng.choice(COMMANDS), rng.choice((0.2, 0.5, 1.5, 5, 20, 30, 24 * 8, 24 * 12))) for _ in range(6)],
        meetings_h=sorted(rng.uniform(1, 24 * 4) for _ in range(rng.choice((0, 0, 2, 3, 4, 13)))),
        plan_at_meeting=rng.choice((None, 1, 2, 5)),
        plan_term=rng.choice((3, 8, 12, 15)),
        revise_at_meeting=rng.choice((None, None, 4, 10)),
        revised_term=rng.choice((6, 14, 20)),
    )


def unfinished_aaor(meetings: int) -> ReferralPlan:
    """An AAOR referral taken in charge on 2 March, with `meetings` meetings that day, never ended."""
    steps = [("receive", 0.2), ("callback", 0.2), ("analyse", 0.5), ("accept", 0.5), ("first-contact", 0.5)]
    return ReferralPlan("org-b", "AAOR", "PHONE", "ROUTINE", 1.0, steps, [2.0 * (k + 1) for k in range(meetings)],
                        None, 3, None, 6)  # fmt: skip


def plan_call(rng: random.Random) -> CallPlan:
    return CallPlan(
        region=rng.choice(REGIONS),
        offered_after_s=rng.randrange(0, 3 * 86_400),
        outcome=rng.choice(("ANSWERED", "ANSWERED", "ANSWERED", "ABANDONED", "WAITING")),
        wait_s=rng.choice((5, 60, 239, 240, 241, 300, 900)) + rng.random(),
        reported_twice=rng.random() < 0.3,
    )


@dataclass(frozen=True)
class Recorded:
    """A meeting or plan step the referral service recorded: when, by whom, for which service, the plan's term."""

    name: str
    at: datetime
    org: str
    service: str
    term: int | None = None


class ReferralHistory:
    """Referrals run through the referral service's application, with a manual clock: lifecycle steps, and meetings
    and plan steps recorded through its own commands (so its `duration-exceeded` events are on the topic too)."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.app = Referrals(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=self.clock)
        self.meetings: dict[str, list[Recorded]] = defaultdict(list)

    def run(self, plans: Iterable[ReferralPlan]) -> None:
        for n, plan in enumerate(plans):
            self._one(n, plan)
        self.clock.now = END
        self.app.tick()

    def _one(self, n: int, plan: ReferralPlan) -> None:
        self.clock.now = T0 + timedelta(hours=plan.submit_after_h)
        submission = Submission(
            f"S-{n:05d}", "csss-a", "AAOR", plan.to_org, plan.to_service, plan.channel, plan.urgency,
            "FAMILY_CRISIS", "NONE", None,
        )  # fmt: skip
        referral, _ = self.app.submit(submission, "w", f"k-{n}", FakeDirectory())
        at, pending = self.clock.now, list[datetime]()
        for command, after_h in plan.steps:
            at += timedelta(hours=after_h)
            if at >= END:
                break
            self._meet(referral.id, plan, [t for t in pending if t < at])
            pending = [t for t in pending if t >= at]
            if self._perform(referral.id, command, at) and command == "first-contact":
                pending = [at + timedelta(hours=h) for h in plan.meetings_h]
        self._meet(referral.id, plan, [t for t in pending if t < END])

    def _perform(self, rid: uuid.UUID, command: str, at: datetime) -> bool:
        """One lifecycle command at `at`; False when the service refuses it."""
        self.clock.now = at
        current = self.app.get_referral(rid)
        actor = current.from_org if command == "cancel" else current.to_org
        target = {"to_org": "org-c" if current.to_org == "org-b" else "org-b", "to_service": "AAOR"}
        step = Step(actor, "w", at, reason="r", outcome="DONE", **(target if command == "redirect" else {}))
        try:
            if command == "redirect":
                self.app.redirect(rid, step, None, FakeDirectory())
            else:
                self.app.perform(rid, command, step, None)
        except ReferralError:
            return False
        return True

    def _meet(self, rid: uuid.UUID, plan: ReferralPlan, times: list[datetime]) -> None:
        """Meetings at `times`, the plan set or revised at the meetings the plan says; what the service refuses (the
        referral ended) does not happen."""
        for at in times:
            self.clock.now = at
            referral = self.app.get_referral(rid)
            k, step = referral.meetings + 1, Step(referral.to_org, "w", at)
            changes = [
                (PlanChange(step, plan.plan_term, revise=False), plan.plan_at_meeting == k and referral.plan is None),
                (
                    PlanChange(step, plan.revised_term, revise=True),
                    plan.revise_at_meeting == k and bool(referral.plan),
                ),
            ]
            with contextlib.suppress(ReferralError):
                for change, due in changes:
                    if due:
                        self.app.change_plan(rid, change, None, None)
                        self._note(rid, PLAN_REVISED if change.revise else PLAN_SET, at, change.planned_meetings)
                self.app.record_meeting(rid, Meeting(step, "IN_PERSON"), None, None)
                self._note(rid, MEETING, at)

    def _note(self, rid: uuid.UUID, name: str, at: datetime, term: int | None = None) -> None:
        referral = self.app.get_referral(rid)
        self.meetings[str(rid)].append(Recorded(name, at, referral.to_org, referral.to_service, term))

    def outgoing(self, topic: str) -> list[Outgoing]:
        """Every referral event as the referral service's relay publishes it."""
        contracts = ReferralOutbound("http://x", lambda rid, v: self.app.repository.get(rid, version=v))
        notifications = self.app.recorder.select_notifications(1, 1_000_000)
        found = [m for n in notifications for m in contracts(self.app.mapper.to_domain_event(n))]
        return [Outgoing(topic, m.key, m.event) for m in found]


def board_key(org: str, service: str, standard: str, period: Period, label: str) -> str:
    return "|".join(("board", org, service, standard, period, label))


def _row(org: str, service: str, standard: str, period: Period, label: str, met: int, breached: int) -> dict[str, Any]:
    total = met + breached
    return {
        "org": org, "service": service, "standard": standard, "period": period.value, "bucket": label,
        "total": total, "met": met, "breached": breached, "pct_met": round(100 * met / total, 1),
    }  # fmt: skip


def _tally(decided: Iterable[tuple[str, str, str, datetime, bool]]) -> dict[str, dict[str, Any]]:
    counts: dict[tuple[str, str, str, Period, str], list[int]] = defaultdict(lambda: [0, 0])
    for org, service, standard, started, met in decided:
        for period in BOARD_PERIODS:
            counts[(org, service, standard, period, bucket(started, period, ZONE))][0 if met else 1] += 1
    return {board_key(*k): _row(*k, met, breached) for k, (met, breached) in counts.items()}


def expected_delay_rows(history: ReferralHistory) -> dict[str, dict[str, Any]]:
    """The referral service's own clocks at the end of the history, met or breached, by bucket."""
    return _tally(
        (c.responsible_org, c.service, c.standard.value, c.started_at, c.state == "MET")
        for referral in history.app.list_referrals()
        for c in history.app.clocks(referral)
        if c.state in ("MET", "BREACHED")
    )


MEASURED = ("AAOR", "SOCIAL_CONSULT", "PSYCH_CONSULT")


def first_past_limit(steps: list[Recorded]) -> int | None:
    """The meeting (counted from 1) that went past the limit in force then, by hand: AAOR 3; consultation the revised
    term, else the plan's term capped at 12, else 12."""
    meetings = [r for r in steps if r.name == MEETING]
    consult = meetings[0].service != "AAOR"
    for k, meeting in enumerate(meetings, start=1):
        revised = [r.term for r in steps if r.name == PLAN_REVISED and r.at <= meeting.at]
        initial = [r.term for r in steps if r.name == PLAN_SET and r.at <= meeting.at]
        limit = 3 if not consult else revised[-1] if revised else min(12, initial[-1]) if initial else 12
        if k > limit:
            return k
    return None


def measured(history: ReferralHistory) -> dict[tuple[str, int], list[Recorded]]:
    """Each receiver's handling (the referral's id, and how many redirects came before) with meetings in a service
    with a duration standard: its meetings and plan steps."""
    episodes: dict[tuple[str, int], list[Recorded]] = defaultdict(list)
    for rid, steps in history.meetings.items():
        redirects = [m.at for m in history.app.get_referral(uuid.UUID(rid)).history if m.name == "redirected"]
        for r in steps:
            episodes[(rid, sum(1 for at in redirects if at <= r.at))].append(r)
    return {
        key: steps
        for key, steps in episodes.items()
        if any(r.name == MEETING for r in steps) and steps[0].service in MEASURED
    }


def expected_duration_rows(history: ReferralHistory) -> dict[str, dict[str, Any]]:
    """Meetings counted by hand: within the limit, ended (closed, refused, cancelled, redirected), a plan."""
    decided = []
    for (rid, _), steps in measured(history).items():
        first = next(r for r in steps if r.name == MEETING)
        referral = history.app.get_referral(uuid.UUID(rid))
        ends = ("closed", "refused", "cancelled", "redirected")
        ended = any(m.name in ends and m.at >= first.at for m in referral.history)
        consult = first.service != "AAOR"
        breached = first_past_limit(steps) is not None
        if breached or ended:
            standard = "CONSULT_MEETINGS" if consult else "AAOR_MEETINGS"
            decided.append((first.org, first.service, standard, first.at, not breached))
        planned = any(r.name != MEETING for r in steps)
        if consult and (planned or ended):
            decided.append((first.org, first.service, "CONSULT_PLAN", first.at, planned))
    return _tally(decided)


def expected_duration_exceeded(history: ReferralHistory) -> list[tuple[str, int]]:
    """(referral id, the meetings counted) for each `duration-exceeded` the referral service must have recorded."""
    past = [(rid, first_past_limit(steps)) for (rid, _), steps in measured(history).items()]
    return sorted((rid, k) for rid, k in past if k is not None)


def call_reports(plans: Iterable[CallPlan]) -> tuple[list[InfoSocialCallV1], list[InfoSocialCallV1]]:
    """What telephony systems report (a waiting report first for some calls), and each call's final state."""
    reports, finals = [], []
    for n, plan in enumerate(plans):
        offered = T0 + timedelta(seconds=plan.offered_after_s)
        ended = offered + timedelta(seconds=plan.wait_s)
        times = {"ANSWERED": {"answered_at": ended}, "ABANDONED": {"abandoned_at": ended}, "WAITING": {}}[plan.outcome]
        common = {"call_id": f"call-{n:06d}", "region": plan.region, "offered_at": offered, "anonymous": n % 2 == 0}
        final = InfoSocialCallV1(**common, **times)
        if plan.reported_twice and plan.outcome != "WAITING":
            reports.append(InfoSocialCallV1(**common))
        reports.append(final)
        finals.append(final)
    return reports, finals


def expected_call_rows(finals: Iterable[InfoSocialCallV1]) -> dict[str, dict[str, Any]]:
    groups: dict[tuple[str, Period, str], list[InfoSocialCallV1]] = defaultdict(list)
    for call in finals:
        for period in CALL_PERIODS:
            groups[(call.region, period, bucket(call.offered_at, period, ZONE))].append(call)
    rows = {}
    for (region, period, label), calls in groups.items():
        waits = sorted(
            math.ceil((c.answered_at - c.offered_at).total_seconds()) for c in calls if c.answered_at is not None
        )
        within = sum(1 for w in waits if w <= 240)
        abandoned = sum(1 for c in calls if c.abandoned_at is not None)
        decided = len(waits) + abandoned
        pct = round(100 * within / decided, 1) if decided else None
        rows["|".join(("infosocial", region, period, label))] = {
            "region": region, "period": period.value, "bucket": label, "offered": len(calls),
            "answered": len(waits), "abandoned": abandoned, "answered_within_240s": within,
            "pct_within_240s": pct, "p90_wait_s": waits[math.ceil(0.9 * len(waits)) - 1] if waits else None,
            "answer_within_s": 240, "target_pct": 90.0, "target_met": None if pct is None else pct >= 90,
        }  # fmt: skip
    return rows


def call_outgoing(reports: Iterable[InfoSocialCallV1], topic: str) -> list[Outgoing]:
    return [Outgoing(topic, r.region, call_event(r, "/tests")) for r in reports]


def referral_plans(count: int) -> Any:
    """A hypothesis strategy of `count`-ish referral plans."""
    hours = st.sampled_from((0.2, 0.5, 1.5, 5, 20, 30, 24 * 8, 24 * 12))
    plan = st.builds(
        ReferralPlan,
        to_org=st.sampled_from(ORGS),
        to_service=st.sampled_from(SERVICES),
        channel=st.sampled_from(("PHONE", "IN_PERSON", "INFO_SOCIAL_811")),
        urgency=st.sampled_from(("ROUTINE", "URGENT", "IMMEDIATE")),
        submit_after_h=st.floats(0, 24 * 15),
        steps=st.lists(st.tuples(st.sampled_from(COMMANDS), hours), max_size=7),
        meetings_h=st.lists(st.floats(1, 24 * 4), max_size=14).map(sorted),
        plan_at_meeting=st.sampled_from((None, 1, 2, 5)),
        plan_term=st.sampled_from((3, 8, 12, 15)),
        revise_at_meeting=st.sampled_from((None, 4, 10)),
        revised_term=st.sampled_from((6, 14, 20)),
    )
    return st.lists(plan, min_size=count // 2, max_size=count)


def call_plans(count: int) -> Any:
    """A hypothesis strategy of `count`-ish call plans."""
    plan = st.builds(
        CallPlan,
        region=st.sampled_from(REGIONS),
        offered_after_s=st.integers(0, 3 * 86_400),
        outcome=st.sampled_from(("ANSWERED", "ABANDONED", "WAITING")),
        wait_s=st.sampled_from((5, 60, 239, 240, 241, 300, 900)).flatmap(lambda s: st.floats(s, s + 0.999)),
        reported_twice=st.booleans(),
    )
    return st.lists(plan, min_size=count // 2, max_size=count)
