"""Compliance report: figures from a known history, the auditor's delay standards against the referral service's own
reading, the three formats, and the HTML drawn by a real browser (headless Chromium)."""

from __future__ import annotations

import csv
import io
import re
import struct
import subprocess
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.audit.report import build_report, to_csv, to_json
from services.audit.report_html import BLUE, BREACH, MET, column_chart, integer_ticks, to_html, words
from services.audit.standards import ANNEXE_II
from services.audit.views import HistoryDB
from services.common.clock import ManualClock
from services.common.envelope import CloudEvent, derived_id
from services.common.kafka import Outgoing
from services.contract.agreements_events import (
    AgreementReviewDueV1,
    AgreementStateV1,
    OrganisationRegisteredV1,
    ReferralCountedV1,
    VolumeUseV1,
)
from services.contract.consent_events import BasisV1, DisclosureRegisteredV1
from services.contract.referral_events import ReferralChangedV1, ReferralDelayV1, ReferralSubmittedV1
from services.referral.main import build_app as build_referral
from services.referral.outbound import ReferralOutbound
from services.referral.settings import ReferralSettings
from tests.audit.conftest import Auth, ingest, stored_messages
from tests.helpers import CHROMIUM_FLAGS, chromium_path
from tests.referral.fakes import fake_gateways

ZONE = "America/Montreal"
START = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 2026-11-01 00:00 in Montréal
END = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CSSS, CENTRE, CRISIS = "csss-a", "centre-b", "crisis-c"


def outgoing(topic: str, type_name: str, key: str, data: Any, at: datetime) -> Outgoing:
    event = CloudEvent(
        id=derived_id(type_name, key, at.isoformat()),
        source="/rls/test",
        type=f"ca.qc.rls.{type_name}.v1",
        time=at,
        subject=key,
        data=data.model_dump(mode="json"),
    )
    return Outgoing(topic, key, event)


def referral(n: int, name: str, at: datetime, status: str, **extra: Any) -> Outgoing:
    common: dict[str, Any] = {
        "referral_id": f"ref-{n:03d}",
        "subject_id": f"S-{n:04d}",
        "from_org": CSSS,
        "from_service": "AAOR",
        "to_org": CENTRE,
        "to_service": "SOCIAL_CONSULT",
        "channel": "PHONE",
        "urgency": "ROUTINE",
        "status": status,
        "occurred_at": at,
        "information_url": "http://referral.test/info",
        "agreement_id": "ag-108",
    }
    if name == "submitted":
        data: Any = ReferralSubmittedV1(**common, accompaniment="NONE")
    elif name == "delay-breached":
        data = ReferralDelayV1(**common, **extra)
    else:
        data = ReferralChangedV1(**common, previous_status="SUBMITTED", version=2, actor_org=CENTRE)
    return outgoing("rls.referral.v1", f"referral.{name}", f"ref-{n:03d}", data, at)


def counted(n: int, at: datetime, agreement_id: str, period_start: date, per_year: int | None) -> list[Outgoing]:
    """What the agreements service publishes when it counts referral `n` (its `n + 1`th of the year) against
    `agreement_id`: `referral-counted`, and the threshold it crosses under `per_year`, if any."""
    period_end = period_start.replace(year=period_start.year + 1) - timedelta(days=1)
    use = {"agreement_id": agreement_id, "period_start": period_start, "period_end": period_end, "occurred_at": at}
    data = ReferralCountedV1(**use, referral_id=f"ref-{n:03d}", service="SOCIAL_CONSULT", used=n + 1)
    messages = [outgoing("rls.agreements.v1", "agreements.referral-counted", f"ref-{n:03d}", data, at)]
    for name, percent in (("volume-threshold-reached", 80), ("volume-exceeded", 100)):
        if per_year and (n + 1) * 100 >= per_year * percent > n * 100:
            flag = VolumeUseV1(**use, service="SOCIAL_CONSULT", used=n + 1, per_year=per_year, percent=percent)
            messages.append(outgoing("rls.agreements.v1", f"agreements.{name}", f"{name}-{n}", flag, at))
    return messages


def known_history() -> list[Outgoing]:
    """Twelve referrals accepted in November (eight first contacts within 7 days, four late, three of those flagged
    by the referral service), an art. 108 agreement committed to 10 a year with a review overdue, and seven
    disclosures under two routes to two kinds of recipient."""
    messages = [
        outgoing(
            "rls.agreements.v1",
            "agreements.organisation-registered",
            org,
            OrganisationRegisteredV1(
                org_id=org, name=org, kind=kind, territory="RLS", services=[], occurred_at=START - timedelta(days=300)
            ),
            START - timedelta(days=300),
        )
        for org, kind in ((CSSS, "CSSS"), (CENTRE, "COMMUNITY_ORGANISATION"), (CRISIS, "REGIONAL_ESTABLISHMENT"))
    ]
    activated = START - timedelta(days=290)
    agreement = AgreementStateV1(
        agreement_id="ag-108",
        version=1,
        kind="SERVICE_108",
        status="ACTIVE",
        title="Entente de service 108",
        parties=[CSSS, CENTRE],
        signed_by=[CSSS, CENTRE],
        services=["SOCIAL_CONSULT"],
        clientele="Adults",
        start=date(2026, 1, 15),
        end=date(2027, 1, 14),
        volumes=[{"service": "SOCIAL_CONSULT", "per_year": 10}],
        review_every_months=6,
        occurred_at=activated,
    )
    messages.append(outgoing("rls.agreements.v1", "agreements.activated", "ag-108", agreement, activated))
    due = datetime(2026, 7, 15, 4, 0, tzinfo=UTC)
    review = AgreementReviewDueV1(
        agreement_id="ag-108",
        version=1,
        kind="SERVICE_108",
        parties=[CSSS, CENTRE],
        review_every_months=6,
        due_at=due,
        occurred_at=due,
    )
    messages.append(outgoing("rls.agreements.v1", "agreements.review-due", "ag-108", review, due))
    for n in range(12):
        accepted = START + timedelta(days=1 + n, hours=10)
        contact = accepted + (timedelta(days=3) if n < 8 else timedelta(days=9))
        messages.append(referral(n, "submitted", accepted - timedelta(hours=4), "SUBMITTED"))
        messages.append(referral(n, "accepted", accepted, "ACCEPTED"))
        messages += counted(n, accepted, "ag-108", date(2026, 1, 15), per_year=10)
        if n >= 9:  # the referral service flagged three of the four late first contacts
            bound = timedelta(days=7)
            messages.append(
                referral(
                    n,
                    "delay-breached",
                    accepted + bound,
                    "ACCEPTED",
                    standard="CONSULT_FIRST_CONTACT",
                    bound_s=int(bound.total_seconds()),
                    started_at=accepted,
                    due_at=accepted + bound,
                    clock_state="BREACHED",
                    responsible_org=CENTRE,
                )
            )
        messages.append(referral(n, "first-contact-made", contact, "FIRST_CONTACT_MADE"))
    for n, (route, article, recipient) in enumerate([("A-1", "19", CENTRE)] * 5 + [("A-3", "108", CRISIS)] * 2):
        at = START + timedelta(days=2 + n)
        entry = DisclosureRegisteredV1(
            register_entry_id=f"reg-{n}",
            decision_id=f"dec-{n}",
            at=at,
            subject_id=f"S-{n:04d}",
            discloser_org_id=CSSS,
            recipient_org_id=recipient,
            categories=["CONTACT"],
            purpose="REFERRAL",
            route=route,
            article=article,
            bases=[BasisV1(regime="LSSSS_17_27_3", route=route, article=article, status="VERIFIED", categories=[])],
            obligations=["REGISTER_ENTRY"],
            regime="LSSSS_17_27_3",
            occurred_at=at,
        )
        messages.append(outgoing("rls.consent.v1", "consent.disclosure-registered", f"reg-{n}", entry, at))
    return messages


@pytest.fixture
def history(tmp_path: Path) -> HistoryDB:
    db = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    ingest(db, known_history())
    return db


def test_report_figures_from_a_known_history(history: HistoryDB) -> None:
    report = build_report(history, START, END, ANNEXE_II, ZONE, END)

    first_contact = next(c for c in report.by_standard if c.standard == "CONSULT_FIRST_CONTACT")
    assert (first_contact.total, first_contact.met, first_contact.breached) == (12, 8, 4)
    assert (first_contact.pct_met, first_contact.median_s) == (66.7, 3 * 86_400.0)
    assert [(c.org, c.service, c.standard) for c in report.by_org_service] == [
        (CENTRE, "SOCIAL_CONSULT", "CONSULT_FIRST_CONTACT")  # follow-ups are still running at the end
    ]
    assert report.flagged_breaches == {"CONSULT_FIRST_CONTACT": 3}
    assert sum(b.computed for b in report.breaches_over_time) == 4
    assert sum(b.flagged for b in report.breaches_over_time) == 3
    assert [(d.route, d.recipient_kind, d.count) for d in report.disclosures] == [
        ("A-1", "COMMUNITY_ORGANISATION", 5),
        ("A-3", "REGIONAL_ESTABLISHMENT", 2),
    ]
    (volume,) = report.volumes
    assert (volume.used, volume.per_year, volume.status, volume.year_start) == (12, 10, "EXCEEDED", date(2026, 1, 15))
    (overdue,) = report.overdue_reviews
    assert overdue.agreement_id == "ag-108" and overdue.days_overdue == 139
    assert report.summary["breaches"] == 4 and report.summary["reviews_overdue"] == 1


def test_csv_and_json_carry_the_same_figures_and_no_subject_ids(history: HistoryDB) -> None:
    report = build_report(history, START, END, ANNEXE_II, ZONE, END)
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    document = to_json(report)

    assert {r["metric"]: r["value"] for r in rows if r["section"] == "summary"}["breaches"] == "4"
    assert Counter(r["section"] for r in rows)["disclosures"] == 2
    assert document["summary"]["volume_commitments_exceeded"] == 1
    for text in (to_csv(report), str(document), to_html(report)):
        assert "S-0" not in text  # pseudonymous subject ids stay out of reports too


def test_delay_standards_agree_with_the_referral_services_own_compliance(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    app = build_referral(service_settings(ReferralSettings))
    app.state.application.clock = clock
    app.state.gateways = lambda token: fake_gateways()
    client = client_for(app)
    steps = {  # channel, to_service, urgency, (command, hours after submission)...
        "AAOR": ("PHONE", "AAOR", "ROUTINE", [("callback", 30), ("analyse", 100)]),
        "walk-in": ("IN_PERSON", "AAOR", "URGENT", [("first-contact", 1)]),
        "consult": (
            "PHONE",
            "SOCIAL_CONSULT",
            "ROUTINE",
            [("accept", 5), ("first-contact", 200), ("start-follow-up", 300)],
        ),
        "crisis": ("PHONE", "CRISIS_24_7", "IMMEDIATE", [("first-contact", 3)]),
        # the AAOR takes the request on itself on day 1: its decision completes the request (no `analyse` after it)
        "aaor-handles": ("IN_PERSON", "AAOR", "ROUTINE", [("first-contact", 1), ("accept", 24)]),
        # an electronic request to the AAOR is not under the analysis standard (received by phone or in person)
        "aaor-electronic": ("ELECTRONIC", "AAOR", "ROUTINE", [("analyse", 400)]),
        "redirected": (
            "PHONE",
            "PSYCH_CONSULT",
            "ROUTINE",
            [("receive", 2), ("redirect", 50), ("accept", 60), ("first-contact", 400)],
        ),
    }
    for n, (key, (channel, service, urgency, commands)) in enumerate(steps.items()):
        clock.now = START + timedelta(days=15 * n)
        body = {
            "subject_id": "S-AUDIT-04",
            "from_org": CSSS,
            "from_service": "AAOR",
            "to_org": CENTRE,
            "to_service": service,
            "channel": channel,
            "urgency": urgency,
            "reason_code": "ANXIETY",
        }
        submitted_at = clock.now
        headers = auth(CSSS, "intake") | {"Idempotency-Key": key}
        referral_id = client.post("/v1/referrals", json=body, headers=headers).json()["id"]
        for command, hours in commands:
            clock.now = submitted_at + timedelta(hours=hours)
            payload: dict[str, Any] = {}
            if command == "redirect":
                payload |= {"to_org": CRISIS, "to_service": "SOCIAL_CONSULT"}
            actor = CRISIS if key == "redirected" and hours > 50 else CENTRE  # the new target acts after it
            answer = client.post(
                f"/v1/referrals/{referral_id}/{command}", json=payload, headers=auth(actor, "clinician")
            )
            assert answer.status_code == 200, answer.text
    clock.now = START + timedelta(days=15 * len(steps) + 15)
    app.state.application.tick()  # the service flags its breaches
    theirs = client.get("/v1/standards/compliance", headers=auth("audit-office", "network-auditor")).json()

    referrals = app.state.application
    mapper = ReferralOutbound("http://referral.test", lambda i, v: referrals.repository.get(i, version=v))
    history = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    ingest(history, stored_messages(referrals, mapper))
    ours = build_report(history, START - timedelta(days=1), clock.now, ANNEXE_II, ZONE, clock.now)

    keys = ("standard", "total", "met", "breached", "pct_met", "median_s")
    assert [{k: getattr(c, k) for k in keys} for c in ours.by_standard] == [
        {k: row[k] for k in keys} for row in theirs if row["total"]
    ]
    assert sum(ours.flagged_breaches.values()) == sum(c.breached for c in ours.by_standard) > 0
    analysis = next(c for c in ours.by_standard if c.standard == "AAOR_ANALYSIS")
    assert (analysis.total, analysis.met) == (3, 2)  # the walk-in never completed; the electronic request not counted


def figures(report: Any) -> dict[str, tuple[int, int, int]]:
    """Per standard: decided, met, breached."""
    return {c.standard: (c.total, c.met, c.breached) for c in report.by_standard}


def consultation(n: int, accepted: datetime, *steps: tuple[str, str, datetime]) -> list[Outgoing]:
    """A social consultation accepted at `accepted`, then `steps` (name, status, time)."""
    return [
        referral(n, "submitted", accepted - timedelta(hours=1), "SUBMITTED"),
        referral(n, "accepted", accepted, "ACCEPTED"),
        *(referral(n, name, at, status) for name, status, at in steps),
    ]


def test_a_report_made_during_its_period_leaves_the_clocks_still_running_open(tmp_path: Path) -> None:
    """This month's report, made on 4 November: the 7-day first contact of a consultation accepted on 2 November is
    still running, so it is open (not counted), as in the referral service's compliance, not breached because the
    period ends on 1 December; the one accepted in October and never contacted breached on 28 October, before the
    period, and its follow-up falls due on 20 November, after the report: no breach in this chart yet."""
    db = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    ingest(db, consultation(1, START + timedelta(days=1)) + consultation(2, START - timedelta(days=11)))
    made = START + timedelta(days=3)
    report = build_report(db, START, END, ANNEXE_II, ZONE, made)
    assert report.by_standard == [] and report.summary["breaches"] == 0
    assert sum(b.computed for b in report.breaches_over_time) == 0
    later = build_report(db, START, END, ANNEXE_II, ZONE, START + timedelta(days=25))
    assert figures(later) == {"CONSULT_FIRST_CONTACT": (1, 0, 1)}
    assert sum(b.computed for b in later.breaches_over_time) == 2  # the 9 November's, and the October clock's 20th


def test_a_clock_decided_after_its_period_counts_in_the_period_it_started_and_charts_at_its_due_date(
    tmp_path: Path,
) -> None:
    """Asked on 15 January: a consultation accepted on 20 November, first contacted on 25 November, whose follow-up
    never started, breached its 30 days on 20 December; one accepted on 28 November was first contacted on 3 December.
    Each clock counts in November, the period it started, as it stands now (judged on 1 December, the follow-up was
    running and the 3 December contact too: both were lost from every report). The breach is charted in December,
    the month it fell due, beside the referral service's flag of that day."""
    late_in_month = datetime(2026, 11, 20, 15, tzinfo=UTC)
    last_week = datetime(2026, 11, 28, 15, tzinfo=UTC)
    follow_up_due = late_in_month + timedelta(days=30)
    flag = referral(
        1,
        "delay-breached",
        follow_up_due,
        "FIRST_CONTACT_MADE",
        standard="CONSULT_FOLLOW_UP",
        bound_s=30 * 86_400,
        started_at=late_in_month,
        due_at=follow_up_due,
        clock_state="BREACHED",
        responsible_org=CENTRE,
    )
    contact = ("first-contact-made", "FIRST_CONTACT_MADE")
    follow_up = ("follow-up-started", "FOLLOW_UP_STARTED")
    db = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    ingest(db, [*consultation(1, late_in_month, (*contact, late_in_month + timedelta(days=5))), flag])
    ingest(db, consultation(2, last_week, (*contact, last_week + timedelta(days=5)), (*follow_up, END + 9 * DAY)))
    now = datetime(2027, 1, 15, 17, tzinfo=UTC)
    december = (END, datetime(2027, 1, 1, 5, tzinfo=UTC))

    november = build_report(db, START, END, ANNEXE_II, ZONE, now)
    assert figures(november) == {"CONSULT_FIRST_CONTACT": (2, 2, 0), "CONSULT_FOLLOW_UP": (2, 1, 1)}
    assert sum(b.computed for b in november.breaches_over_time) == 0  # nothing fell due in November
    in_december = build_report(db, *december, ANNEXE_II, ZONE, now)
    assert figures(in_december) == {}
    assert [(b.start, b.computed, b.flagged) for b in in_december.breaches_over_time if b.computed or b.flagged] == [
        (date(2026, 12, 14), 1, 1)
    ]
    assert in_december.flagged_breaches == {"CONSULT_FOLLOW_UP": 1}


# --- the HTML in a real browser ----------------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, bpp)]


def rgb(hex_colour: str) -> bytes:
    return bytes.fromhex(hex_colour.removeprefix("#"))


def screenshot(html: Path, png: Path, profile: Path) -> None:
    subprocess.run(
        [
            chromium_path(),
            "--headless",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1280,2000",
            f"file://{html}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_the_html_report_renders_its_charts_in_headless_chromium(history: HistoryDB, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(build_report(history, START, END, ANNEXE_II, ZONE, END)), encoding="utf-8")
    empty = tmp_path / "empty.html"
    empty.write_text(to_html(build_report(HistoryDB("memory://"), START, END, ANNEXE_II, ZONE, END)), encoding="utf-8")
    assert "http" not in page.read_text().replace("http://www.w3.org/2000/svg", "")  # nothing fetched

    screenshot(page, tmp_path / "report.png", tmp_path / "profile")
    screenshot(empty, tmp_path / "empty.png", tmp_path / "profile-empty")

    width, height, pixels = decode_png((tmp_path / "report.png").read_bytes())
    counts = Counter(pixels)
    _, _, nothing = decode_png((tmp_path / "empty.png").read_bytes())
    baseline = Counter(nothing)
    assert (width, height) == (1280, 2000)
    # met (green) and breached (red) bars of the standards, breach columns, disclosure and volume bars (blue)
    assert counts[rgb(MET)] > 5_000 and counts[rgb(BREACH)] > 5_000 and counts[rgb(BLUE)] > 2_000
    assert baseline[rgb(MET)] < 500 and baseline[rgb(BREACH)] < 500  # without data, no bars


def test_the_html_report_is_french_by_default_and_english_on_request(history: HistoryDB) -> None:
    report = build_report(history, START, END, ANNEXE_II, ZONE, END)
    french, english = to_html(report), to_html(report, "en")
    assert "<html lang='fr'>" in french and "rapport de conformité" in french and "Dépassements dans le temps" in french
    assert "<html lang='en'>" in english and "compliance report" in english and "Breaches over time" in english
    assert 'role="img" aria-label="' in french  # charts are named for screen readers


@pytest.mark.parametrize("maximum", [0, 1, 2, 3, 4, 5, 7, 12, 37, 99, 1234])
def test_the_breaches_axis_has_whole_distinct_ticks_covering_the_counts(maximum: int) -> None:
    ticks = integer_ticks(maximum)
    assert ticks[0] == 0 and ticks[-1] >= maximum and len(ticks) <= 5
    assert len(set(ticks)) == len(ticks) and all(isinstance(t, int) for t in ticks)


def test_small_counts_no_longer_repeat_tick_labels() -> None:
    chart = column_chart([("2026-03-02", 1.0, 1.0), ("2026-03-09", 0.0, 0.0)], words("en"))
    labels = re.findall(r'text-anchor="end" font-size="11">([^<]+)<', chart)
    assert labels == ["0", "1"]  # was 0, 0, 0, 1, 1


def older_referrals(first: int, count: int) -> list[Outgoing]:
    """Referrals submitted and accepted a year before the report's period (synthetic)."""
    at = START - timedelta(days=400)
    return [
        message
        for n in range(first, first + count)
        for message in (
            referral(n, "submitted", at + timedelta(minutes=n), "SUBMITTED"),
            referral(n, "accepted", at + timedelta(minutes=n, hours=1), "ACCEPTED"),
        )
    ]


def report_peak(db: HistoryDB) -> int:
    """The most memory (bytes, Python allocations) building the report held at once beyond what it started with."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        build_report(db, START, END, ANNEXE_II, ZONE, END)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_a_period_from_year_one_to_year_9998_charts_from_the_first_referral_to_the_reports_time(
    history: HistoryDB,
) -> None:
    report = build_report(
        history, datetime(1, 1, 1, tzinfo=UTC), datetime(9998, 12, 31, tzinfo=UTC), ANNEXE_II, ZONE, END
    )
    weeks = [b.start for b in report.breaches_over_time]
    assert report.bucket == "week"  # November's referrals only: a few weeks, not 520,000
    assert weeks[0] <= (START + timedelta(days=7)).date() and weeks[-1] <= END.date()
    assert len(weeks) < 10
    assert sum(b.computed for b in report.breaches_over_time) == 4


def test_a_months_report_holds_about_the_same_memory_with_four_times_the_older_history(
    history: HistoryDB,
) -> None:
    """The report reads the history a referral (and a page) at a time and keeps what its period needs: four times the
    referrals of an older year add no clock, breach or volume to November's report, nor memory to build it."""
    ingest(history, older_referrals(9_999, 1))  # the chart starts at the first referral: older than November already
    before = to_json(build_report(history, START, END, ANNEXE_II, ZONE, END))
    ingest(history, older_referrals(10_000, 1200))
    small = report_peak(history)
    ingest(history, older_referrals(20_000, 3600))
    large = report_peak(history)
    assert to_json(build_report(history, START, END, ANNEXE_II, ZONE, END)) == before
    assert large < 1.5 * small, (small, large)  # holding every referral's events would take about 4x
