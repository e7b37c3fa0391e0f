"""Compliance report over a period, computed from the audit database: delay standards per service and organisation,
breaches over time, disclosures by legal route and recipient kind, agreement volumes against commitments, overdue
reviews. Rendered as JSON, CSV or one self-contained HTML file (`report_html`). Ids and codes only: no person appears
in a report (not even pseudonymously)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.audit.standards import Clock, Compliance, all_clocks, compliance
from services.audit.states import agreement_state
from services.audit.views import HistoryDB, HistoryRow, parse_time
from services.contract.delay_standards import BoundChange, Policy

CLOSED_AGREEMENT = frozenset({"TERMINATED", "EXPIRED"})
VOLUME_STATUSES = ("OK", "NEAR", "EXCEEDED")
"""A volume's statuses, least severe first."""


@dataclass(frozen=True)
class BreachBucket:
    start: date
    computed: int
    flagged: int


@dataclass(frozen=True)
class DisclosureCount:
    route: str
    article: str
    recipient_kind: str
    count: int


@dataclass(frozen=True)
class VolumeUse:
    agreement_id: str
    title: str
    service: str
    per_year: int
    year_start: date
    year_end: date
    used: int
    pct_used: float
    pct_year_elapsed: float
    status: str
    """OK, NEAR (>= 80 %), EXCEEDED (>= 100 %): `used` against `per_year`, or what the agreements service announced
    for the year (`flagged`) when that is more severe."""
    flagged: str | None = None
    """What the agreements service announced for this agreement year by the period's end, each judged against the
    volume in force at the acceptance that crossed it: EXCEEDED (`volume-exceeded`), NEAR
    (`volume-threshold-reached`), or None."""


@dataclass(frozen=True)
class OverdueReview:
    agreement_id: str
    title: str
    parties: list[str]
    due_at: datetime
    days_overdue: int


@dataclass
class Report:
    start: datetime
    end: datetime
    generated_at: datetime
    zone: str
    by_standard: list[Compliance] = field(default_factory=list)
    by_org_service: list[Compliance] = field(default_factory=list)
    flagged_breaches: dict[str, int] = field(default_factory=dict)
    """Breaches the referral service itself flagged in the period, per standard (beside the audit's own count)."""
    breaches_over_time: list[BreachBucket] = field(default_factory=list)
    bucket: str = "week"
    disclosures: list[DisclosureCount] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    volumes: list[VolumeUse] = field(default_factory=list)
    overdue_reviews: list[OverdueReview] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        total = sum(c.total for c in self.by_standard)
        met = sum(c.met for c in self.by_standard)
        return {
            "clocks_decided": total,
            "pct_met": round(100 * met / total, 1) if total else None,
            "breaches": total - met,
            "breaches_flagged_by_referral_service": sum(self.flagged_breaches.values()),
            "disclosures": sum(d.count for d in self.disclosures),
            "decisions": sum(self.decisions.values()),
            "volume_commitments_exceeded": sum(1 for v in self.volumes if v.status == "EXCEEDED"),
            "reviews_overdue": len(self.overdue_reviews),
        }


def build_report(
    history: HistoryDB,
    start: datetime,
    end: datetime,
    bounds: Mapping[str, timedelta],
    zone: str,
    generated_at: datetime,
    changes: tuple[BoundChange, ...] = (),
) -> Report:
    """The report for [start, end), made at `generated_at`: the clocks started in the period, each judged as it
    stands at `generated_at` against the bound in force when it started (`bounds`, or the latest of `changes` in
    effect then) — as the referral service's compliance and the standards board judge them. Judged at `end` instead,
    a period ending in the future counted clocks still running as breached, and a past one lost the clocks decided
    after it (most 30-day follow-ups of its last weeks) from every report. A clock still running at `generated_at` is
    open: not counted. Its chart of breaches over time places each breach at its due date, whichever period its
    clock started in (as the referral service's flags of those days, beside it), and spans the period from no earlier
    than the first referral and to no later than `generated_at`: a period from year 1, or to 9999, would chart tens
    of thousands of empty weeks."""
    tz = ZoneInfo(zone)
    policy = Policy(bounds, zone=tz, changes=changes)  # days of the standards stated in days are this zone's
    report = Report(start, end, generated_at, zone)
    chart_to = min(end, generated_at)
    clocks: list[Clock] = []
    breached: list[Clock] = []  # the breaches falling due in the chart's span, of clocks started in any period
    flagged: list[HistoryRow] = []
    today = _last_day(end, tz)
    first: datetime | None = None  # the first referral's submission
    for rows in history.each_entity_of("referral"):  # one referral at a time: what the period needs is kept
        submitted = parse_time(rows[0].effective_at)
        first = submitted if first is None else min(first, submitted)
        judged = all_clocks(rows, policy, generated_at)
        clocks += [c for c in judged if start <= c.started_at < end]
        breached += [c for c in judged if c.breached_at is not None and start <= c.breached_at < chart_to]
        flagged += [r for r in rows if r.name == "delay-breached" and _within(r.payload["occurred_at"], start, end)]
    report.by_standard = compliance(clocks)
    report.by_org_service = _by_org_service(clocks)
    report.flagged_breaches = dict(Counter(r.payload["standard"] for r in flagged))
    chart_from = max(start, first or end)
    report.bucket = "week" if chart_to - chart_from <= timedelta(days=190) else "month"
    report.breaches_over_time = _buckets(breached, flagged, chart_from, chart_to, tz, report.bucket)
    report.disclosures, report.decisions = _disclosures(history, start, end)
    agreements = _agreements_at(history, end)
    report.volumes = _volumes(history, agreements, today, end)
    report.overdue_reviews = _overdue(agreements, end)
    return report


def _last_day(end: datetime, tz: ZoneInfo) -> date:
    """The period's last day, where it is reported."""
    return (end - timedelta(microseconds=1)).astimezone(tz).date()


def _within(moment: str, start: datetime, end: datetime) -> bool:
    return start <= parse_time(moment) < end


def _by_org_service(clocks: Iterable[Clock]) -> list[Compliance]:
    groups: dict[tuple[str, str], list[Clock]] = defaultdict(list)
    for clock in clocks:
        groups[(clock.org, clock.service)].append(clock)
    return [row for (org, service), group in sorted(groups.items()) for row in compliance(group, org, service)]


def _bucket_start(day: date, bucket: str) -> date:
    return day - timedelta(days=day.weekday()) if bucket == "week" else day.replace(day=1)


def _buckets(
    breached: Iterable[Clock], flagged: Iterable[HistoryRow], start: datetime, end: datetime, tz: ZoneInfo, bucket: str
) -> list[BreachBucket]:
    computed = Counter(
        _bucket_start(c.due_at.astimezone(tz).date(), bucket) for c in breached if start <= c.due_at < end
    )
    by_service = Counter(
        _bucket_start(parse_time(r.payload["occurred_at"]).astimezone(tz).date(), bucket) for r in flagged
    )
    buckets = []
    day = _bucket_start(start.astimezone(tz).date(), bucket)
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    while day <= last:
        buckets.append(BreachBucket(day, computed.get(day, 0), by_service.get(day, 0)))
        day = day + timedelta(days=7) if bucket == "week" else (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return buckets


def _disclosures(history: HistoryDB, start: datetime, end: datetime) -> tuple[list[DisclosureCount], dict[str, int]]:
    """The period's disclosures by route, article and recipient kind, and its decisions by outcome: the disclosures
    of the period are read first, so only their decisions' recipient kinds are kept from the stream of decisions."""
    kinds: dict[str, str] = {}
    for row in history.each_event_of("organisation"):
        kinds[row.payload["org_id"]] = row.payload["kind"]
    disclosed = [d for d in (r.payload for r in history.each_event_of("disclosure")) if _within(d["at"], start, end)]
    wanted = {d["decision_id"] for d in disclosed}
    decided_kind: dict[str, str] = {}
    outcomes: Counter[str] = Counter()
    for row in history.each_event_of("decision"):
        data = row.payload
        recipient_kind = (data.get("facts") or {}).get("recipient_kind")
        if recipient_kind and data["decision_id"] in wanted:
            decided_kind[data["decision_id"]] = recipient_kind
        if _within(data["occurred_at"], start, end):
            outcomes[data["outcome"]] += 1
    counts: Counter[tuple[str, str, str]] = Counter()
    for data in disclosed:
        kind = kinds.get(data["recipient_org_id"]) or decided_kind.get(data["decision_id"]) or "UNKNOWN"
        counts[(data["route"], data["article"], kind)] += 1
    rows = [DisclosureCount(route, article, kind, n) for (route, article, kind), n in sorted(counts.items())]
    return rows, dict(sorted(outcomes.items()))


def _agreements_at(history: HistoryDB, end: datetime) -> list[dict[str, Any]]:
    by_agreement: dict[str, list[HistoryRow]] = defaultdict(list)
    for row in history.each_event_of("agreement"):
        if parse_time(row.effective_at) < end and row.entity_id is not None:
            by_agreement[row.entity_id].append(row)
    states = [agreement_state(rows, end) for rows in by_agreement.values()]
    return [s for s in states if s is not None]


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _agreement_year(start: date, today: date) -> tuple[date, date]:
    years = max(0, today.year - start.year)
    while years > 0 and _add_years(start, years) > today:
        years -= 1
    first = _add_years(start, years)
    return first, _add_years(start, years + 1) - timedelta(days=1)


def _volume_years(agreements: Iterable[dict[str, Any]], today: date) -> dict[str, tuple[date, date]]:
    """The agreement year holding `today` of each agreement in force (or suspended) with volume commitments."""
    return {
        a["agreement_id"]: _agreement_year(date.fromisoformat(a["start"]), today)
        for a in agreements
        if a.get("volumes") and a.get("status") in ("ACTIVE", "SUSPENDED")
    }


def _counted(history: HistoryDB, years: Mapping[str, tuple[date, date]], end: datetime) -> dict[tuple[str, str], int]:
    """Referrals counted per agreement and service in the agreement year of `years`, accepted before `end`, as the
    agreements service counted them (`referral-counted`): which agreement an acceptance counts against (the one it
    names only while that one covers it, else the one covering it) and in which year is its decision, never made
    again here. It counts each referral once ever; events published twice are one row already."""
    counted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in history.each_event_of("counted-referral"):
        data = row.payload
        year = years.get(data["agreement_id"])
        if year is not None and data["period_start"] == year[0].isoformat() and parse_time(row.effective_at) < end:
            counted[(data["agreement_id"], data["service"])].add(data["referral_id"])
    return {key: len(referrals) for key, referrals in counted.items()}


def _flagged(agreement: Mapping[str, Any], service: str, year_start: date) -> str | None:
    """What the agreements service announced for the service's agreement year (`volume_flags`: its
    `volume-threshold-reached` and `volume-exceeded` events by then)."""
    percents = [
        f.get("percent") or 0
        for f in agreement.get("volume_flags", [])
        if f.get("service") == service and f.get("period_start") == year_start.isoformat()
    ]
    if not percents:
        return None
    return "EXCEEDED" if max(percents) >= 100 else "NEAR"


def _volumes(history: HistoryDB, agreements: Iterable[dict[str, Any]], today: date, end: datetime) -> list[VolumeUse]:
    """Each volume commitment in force at the period's end, against the referrals counted in the agreement year
    holding its last day. The commitment is the one in force then (as `GET /v1/agreements/{id}/volumes` reads the
    current year); a year whose commitment changed keeps what the agreements service announced under the earlier one
    (it judged each acceptance against the volume in force at that time)."""
    in_force = sorted(agreements, key=lambda a: a["agreement_id"])
    years = _volume_years(in_force, today)
    counted = _counted(history, years, end)
    uses = []
    for agreement in in_force:
        if agreement["agreement_id"] not in years:
            continue
        first, last = years[agreement["agreement_id"]]
        elapsed = ((today - first).days + 1) / ((last - first).days + 1)
        for volume in agreement["volumes"]:
            used = counted.get((agreement["agreement_id"], volume["service"]), 0)
            pct = round(100 * used / volume["per_year"], 1) if volume["per_year"] else 0.0
            status = "EXCEEDED" if pct >= 100 else "NEAR" if pct >= 80 else "OK"
            flagged = _flagged(agreement, volume["service"], first)
            if flagged is not None and VOLUME_STATUSES.index(flagged) > VOLUME_STATUSES.index(status):
                status = flagged
            uses.append(
                VolumeUse(
                    agreement["agreement_id"],
                    agreement.get("title", ""),
                    volume["service"],
                    volume["per_year"],
                    first,
                    last,
                    used,
                    pct,
                    round(100 * elapsed, 1),
                    status,
                    flagged,
                )
            )
    return uses


def _overdue(agreements: Iterable[dict[str, Any]], end: datetime) -> list[OverdueReview]:
    overdue = []
    for agreement in agreements:
        if not agreement.get("reviews_due") or agreement.get("status") in CLOSED_AGREEMENT:
            continue
        due = min(parse_time(d) for d in agreement["reviews_due"])
        overdue.append(
            OverdueReview(
                agreement["agreement_id"],
                agreement.get("title", ""),
                list(agreement.get("parties", [])),
                due,
                max(0, (end - due).days),
            )
        )
    return sorted(overdue, key=lambda r: (-r.days_overdue, r.agreement_id))


# --- renderings ---------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(report: Report) -> dict[str, Any]:
    document = asdict(report)
    document["summary"] = report.summary
    plain: dict[str, Any] = _plain(document)
    return plain


def to_csv(report: Report) -> str:
    """One table in long form: `section, org, service, key, metric, value` (a spreadsheet pivots it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "org", "service", "key", "metric", "value"])
    for metric, value in report.summary.items():
        writer.writerow(["summary", "", "", "", metric, value])
    for c in report.by_standard:
        for metric in ("total", "met", "breached", "pct_met", "median_s"):
            writer.writerow(["standards", "", "", c.standard, metric, getattr(c, metric)])
    for c in report.by_org_service:
        for metric in ("total", "met", "breached", "pct_met", "median_s"):
            writer.writerow(["standards_by_org", c.org, c.service, c.standard, metric, getattr(c, metric)])
    for standard, count in sorted(report.flagged_breaches.items()):
        writer.writerow(["breaches_flagged", "", "", standard, "count", count])
    for b in report.breaches_over_time:
        writer.writerow(["breaches_over_time", "", "", b.start.isoformat(), "computed", b.computed])
        writer.writerow(["breaches_over_time", "", "", b.start.isoformat(), "flagged", b.flagged])
    for d in report.disclosures:
        writer.writerow(["disclosures", "", "", f"{d.route} {d.article}", d.recipient_kind, d.count])
    for outcome, count in report.decisions.items():
        writer.writerow(["decisions", "", "", outcome, "count", count])
    for v in report.volumes:
        for metric in ("per_year", "used", "pct_used", "pct_year_elapsed", "status", "flagged"):
            writer.writerow(
                ["volumes", v.agreement_id, v.service, v.year_start.isoformat(), metric, getattr(v, metric)]
            )
    for r in report.overdue_reviews:
        writer.writerow(["reviews_overdue", r.agreement_id, "", r.due_at.isoformat(), "days_overdue", r.days_overdue])
    return out.getvalue()
