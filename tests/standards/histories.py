"""Random histories for the board's acceptance tests: referrals driven through the referral service's own
application (its events mapped by its own contracts), meetings and plans on them, Info-Social calls — and the
plain-Python reference each board row must equal."""

from __future__ import annotations

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
from services.common.envelope import CloudEvent, event_type, schema_uri
from services.common.kafka import Outgoing
from services.contract.infosocial_events import InfoSocialCallV1
from services.contract.referral_events import ReferralMeetingV1, ReferralPlanV1
from services.referral.application import Referrals, Submission
from services.referral.domain import Referral, ReferralError, Step
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


def plan_call(rng: random.Random) -> CallPlan:
    return CallPlan(
        region=rng.choice(REGIONS),
        offered_after_s=rng.randrange(0, 3 * 86_400),
        outcome=rng.choice(("ANSWERED", "ANSWERED", "ANSWERED", "ABANDONED", "WAITING")),
        wait_s=rng.choice((5, 60, 239, 240, 241, 300, 900)) + rng.random(),
        reported_twice=rng.random() < 0.3,
    )


class ReferralHistory:
    """Referrals run through the referral service's application, with a manual clock."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.app = Referrals(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=self.clock)
        self.extra: list[Outgoing] = []
        self.meetings: dict[str, list[tuple[str, datetime, int | None]]] = defaultdict(list)

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
        at = self.clock.now
        for command, after_h in plan.steps:
            at += timedelta(hours=after_h)
            if at >= END:
                break
            self.clock.now = at
            current = self.app.get_referral(referral.id)
            actor = current.from_org if command == "cancel" else current.to_org
            target = {"to_org": "org-c" if current.to_org == "org-b" else "org-b", "to_service": "AAOR"}
            step = Step(actor, "w", at, reason="r", outcome="DONE", **(target if command == "redirect" else {}))
            try:
                self.app.perform(referral.id, command, step, None)
            except ReferralError:
                continue
        self._meet(self.app.get_referral(referral.id), plan)

    def _meet(self, referral: Referral, plan: ReferralPlan) -> None:
        """Meetings and plan steps on a referral never redirected, after its first contact, before it ended."""
        names = [m.name for m in referral.history]
        if "first-contact-made" not in names or "redirected" in names:
            return
        start = next(m.at for m in referral.history if m.name == "first-contact-made")
        ended = next((m.at for m in referral.history if m.name in ("closed", "refused", "cancelled")), END)
        times = [start + timedelta(hours=h) for h in plan.meetings_h]
        times = [t for t in times if t < ended and t < END]
        for k, at in enumerate(times, start=1):
            if plan.plan_at_meeting == k:
                self._event(referral, "intervention-plan-set", at, plan=(plan.plan_term, 0, k - 1))
            if plan.revise_at_meeting == k and plan.plan_at_meeting and plan.plan_at_meeting < k:
                self._event(referral, "intervention-plan-revised", at, plan=(plan.revised_term, 1, k - 1))
            self._event(referral, "meeting-recorded", at, meetings=k)

    def _event(
        self, referral: Referral, name: str, at: datetime, meetings: int = 0, plan: tuple[int, int, int] | None = None
    ) -> None:
        rid = str(referral.id)
        version = 1000 + len(self.meetings[rid])
        common = {
            "referral_id": rid, "subject_id": referral.subject_id, "from_org": referral.from_org,
            "from_service": referral.from_service, "to_org": referral.to_org, "to_service": referral.to_service,
            "channel": referral.channel, "urgency": referral.urgency, "status": referral.status, "occurred_at": at,
            "information_url": f"http://x/v1/referrals/{rid}/information", "version": version,
            "actor_org": referral.to_org,
        }  # fmt: skip
        if plan is None:
            data = ReferralMeetingV1(**common, meeting_id=f"{rid}:{version}", mode="IN_PERSON", meetings=meetings)
        else:
            data = ReferralPlanV1(**common, planned_meetings=plan[0], revisions=plan[1], meetings=plan[2])
        self.meetings[rid].append((name, at, plan[0] if plan else None))
        type_ = event_type("referral", name)
        event = CloudEvent(
            id=str(uuid.uuid5(referral.id, str(version))), source="/rls/referral", type=type_, time=at,
            subject=rid, dataschema=schema_uri(type_), data=data.model_dump(mode="json"),
        )  # fmt: skip
        self.extra.append(Outgoing("rls.referral.v1", rid, event))

    def outgoing(self, topic: str) -> list[Outgoing]:
        """Every referral event as the referral service's relay publishes it, then the meetings and plans."""
        contracts = ReferralOutbound("http://x", lambda rid, v: self.app.repository.get(rid, version=v))
        notifications = self.app.recorder.select_notifications(1, 1_000_000)
        found = [m for n in notifications for m in contracts(self.app.mapper.to_domain_event(n))]
        return [Outgoing(topic, m.key, m.event) for m in [*found, *self.extra]]


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


def expected_duration_rows(history: ReferralHistory) -> dict[str, dict[str, Any]]:
    """Meetings counted by hand: AAOR ≤ 3; consultation ≤ the plan's term (≤ 12) or the revised term; a plan."""
    decided = []
    for rid, steps in history.meetings.items():
        referral = history.app.get_referral(uuid.UUID(rid))
        if referral.to_service not in ("AAOR", "SOCIAL_CONSULT", "PSYCH_CONSULT"):
            continue
        meetings = [at for name, at, _ in steps if name == "meeting-recorded"]
        ended = any(m.name in ("closed", "refused", "cancelled") and m.at >= meetings[0] for m in referral.history)
        consult = referral.to_service != "AAOR"
        breached = False
        for k, at in enumerate(meetings, start=1):
            revised = [p for name, t, p in steps if name == "intervention-plan-revised" and t <= at]
            initial = [p for name, t, p in steps if name == "intervention-plan-set" and t <= at]
            limit = 3 if not consult else revised[-1] if revised else min(12, initial[-1]) if initial else 12
            breached = breached or k > limit
        first, org = meetings[0], referral.to_org
        if breached or ended:
            standard = "CONSULT_MEETINGS" if consult else "AAOR_MEETINGS"
            decided.append((org, referral.to_service, standard, first, not breached))
        planned = any(name != "meeting-recorded" for name, _, _ in steps)
        if consult and (planned or ended):
            decided.append((org, referral.to_service, "CONSULT_PLAN", first, planned))
    return _tally(decided)


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
