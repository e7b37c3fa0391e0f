"""The compliance report as one self-contained HTML file: inline CSS and SVG charts, no script, no external asset."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from services.audit.report import Report

MET = "#2e7d32"
BREACH = "#c62828"
FLAGGED = "#212121"
BLUE = "#1565c0"
AMBER = "#ef6c00"
GRID = "#e0e0e0"
PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#5d4037", "#455a64", "#9e9d24", "#ad1457")
VOLUME_COLOURS = {"OK": BLUE, "NEAR": AMBER, "EXCEEDED": BREACH}

Segment = tuple[float, str, str]
"""(value, colour, tooltip)"""

CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212121;margin:24px auto;max-width:1180px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #eee;padding-bottom:4px}
.muted{color:#616161}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:26px}.bad b{color:#c62828}.good b{color:#2e7d32}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}
th{background:#fafafa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;
margin-right:4px;vertical-align:middle}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def _short(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def hbar_chart(
    rows: Sequence[tuple[str, Sequence[Segment], str]],
    scale: float,
    width: int = 1000,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Horizontal stacked bars: (label, segments, text after the bar) per row, `scale` = full width; `marks` draws
    labelled vertical lines at values (a commitment, say)."""
    label_w, bar_w, row_h = 300, width - 300 - 200, 26
    height = row_h * len(rows) + 8 + (14 if marks else 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (label, segments, note) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12">{_e(_short(label))}'
            f"<title>{_e(label)}</title></text>"
        )
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" fill="{GRID}"/>')
        x = float(label_w)
        for value, colour, tip in segments:
            w = bar_w * value / scale if scale else 0
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}">'
                    f"<title>{_e(tip)}</title></rect>"
                )
            x += w
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 16}" font-size="12">{_e(note)}</text>')
    for value, text in marks:
        x = label_w + bar_w * value / scale
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="{FLAGGED}" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{x + 3:.1f}" y="{height - 2}" font-size="10">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(buckets: Sequence[tuple[str, float, float]], width: int = 900, height: int = 220) -> str:
    """Columns (breaches the audit computed) with a dot per bucket (breaches the referral service flagged)."""
    left, bottom, top = 40, 40, 10
    top_value = max([1.0] + [max(a, b) for _, a, b in buckets])
    plot_h, plot_w = height - bottom - top, width - left - 10
    step = plot_w / max(1, len(buckets))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for tick in range(5):
        value = top_value * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value:.0f}</text>')
    label_every = max(1, len(buckets) // 12)
    for i, (label, computed, flagged) in enumerate(buckets):
        x = left + i * step
        h = plot_h * computed / top_value
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BREACH}"><title>{_e(label)}: {computed:.0f} computed</title></rect>'
        )
        fy = top + plot_h - plot_h * flagged / top_value
        parts.append(
            f'<circle cx="{x + step / 2:.1f}" cy="{fy:.1f}" r="4" fill="{FLAGGED}">'
            f"<title>{_e(label)}: {flagged:.0f} flagged</title></circle>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">'
                f"{_e(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<p class="legend">' + "".join(f'<span><i style="background:{c}"></i>{_e(t)}</span>' for t, c in items) + "</p>"
    )


def _cards(report: Report) -> str:
    s = report.summary
    cards = [
        ("Delay standards met", _fmt_pct(s["pct_met"]), "good" if (s["pct_met"] or 0) >= 90 else "bad"),
        ("Breaches (audit)", s["breaches"], "bad" if s["breaches"] else "good"),
        ("Breaches flagged by the referral service", s["breaches_flagged_by_referral_service"], ""),
        ("Disclosures registered", s["disclosures"], ""),
        ("Consent decisions", s["decisions"], ""),
        (
            "Volume commitments exceeded",
            s["volume_commitments_exceeded"],
            "bad" if s["volume_commitments_exceeded"] else "",
        ),
        ("Reviews overdue", s["reviews_overdue"], "bad" if s["reviews_overdue"] else "good"),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card {cls}"><b>{_e(value)}</b>{_e(title)}</div>' for title, value, cls in cards)
        + "</div>"
    )


def _standards(report: Report) -> str:
    if not report.by_standard:
        return "<p class='muted'>No delay-standard clock started in the period.</p>"
    rows = [
        (
            c.standard,
            [(c.met, MET, f"{c.met} met"), (c.breached, BREACH, f"{c.breached} breached")],
            f"{_fmt_pct(c.pct_met)} of {c.total}",
        )
        for c in report.by_standard
    ]
    chart = hbar_chart(
        [(label, segs, note) for label, segs, note in rows], scale=max(c.total for c in report.by_standard)
    )
    table = "".join(
        f"<tr><td>{_e(c.org)}</td><td>{_e(c.service)}</td><td>{_e(c.standard)}</td><td class=n>{c.total}</td>"
        f"<td class=n>{c.met}</td><td class=n>{c.breached}</td><td class=n>{_fmt_pct(c.pct_met)}</td>"
        f"<td class=n>{_duration(c.median_s)}</td><td>{_mini_bar(c.met, c.breached)}</td></tr>"
        for c in report.by_org_service
    )
    flagged = ", ".join(f"{k}: {v}" for k, v in sorted(report.flagged_breaches.items())) or "none"
    return (
        _legend([("met", MET), ("breached", BREACH)])
        + chart
        + f"<p class='muted'>Breaches the referral service flagged in the period: {_e(flagged)}.</p>"
        + "<table><tr><th>Organisation</th><th>Service</th><th>Standard</th><th>Clocks</th><th>Met</th>"
        "<th>Breached</th><th>Share met</th><th>Median delay</th><th></th></tr>" + table + "</table>"
    )


def _mini_bar(met: int, breached: int) -> str:
    total = max(1, met + breached)
    w_met = 120 * met / total
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="12"><rect width="{w_met:.1f}" height="12" '
        f'fill="{MET}"/><rect x="{w_met:.1f}" width="{120 - w_met:.1f}" height="12" fill="{BREACH}"/></svg>'
    )


def _breaches(report: Report) -> str:
    buckets = [(b.start.isoformat(), float(b.computed), float(b.flagged)) for b in report.breaches_over_time]
    return (
        _legend([("breaches (audit, by due date)", BREACH), ("flagged by the referral service", FLAGGED)])
        + f"<p class='muted'>Per {report.bucket}, starting on the date shown.</p>"
        + column_chart(buckets)
    )


def _disclosures(report: Report) -> str:
    if not report.disclosures:
        return "<p class='muted'>No disclosure registered in the period.</p>"
    kinds = sorted({d.recipient_kind for d in report.disclosures})
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    routes: dict[str, list[Segment]] = {}
    for d in report.disclosures:
        routes.setdefault(f"{d.route} ({d.article})", []).append(
            (float(d.count), colours[d.recipient_kind], f"{d.recipient_kind}: {d.count}")
        )
    totals = {route: sum(v for v, _, _ in segs) for route, segs in routes.items()}
    rows = [(route, segs, f"{totals[route]:.0f}") for route, segs in sorted(routes.items())]
    outcomes = ", ".join(f"{k}: {v}" for k, v in report.decisions.items()) or "none"
    return (
        _legend([(k, colours[k]) for k in kinds])
        + hbar_chart(rows, scale=max(totals.values()))
        + f"<p class='muted'>Consent decisions in the period by outcome: {_e(outcomes)}.</p>"
    )


def _volumes(report: Report) -> str:
    if not report.volumes:
        return "<p class='muted'>No volume commitment in force.</p>"
    rows = [
        (
            f"{v.title or v.agreement_id} · {v.service}",
            [(min(v.pct_used, 150.0), VOLUME_COLOURS[v.status], f"{v.used} of {v.per_year} ({v.pct_used} %)")],
            f"{v.used} of {v.per_year} · {v.pct_year_elapsed:.0f} % of the year gone",
        )
        for v in report.volumes
    ]
    return (
        _legend([("used, under 80 %", BLUE), ("80 % or more", AMBER), ("commitment exceeded", BREACH)])
        + "<p class='muted'>Accepted referrals counted in the current agreement year against the annual volume "
        "(the dashed line is the commitment; bars stop at 150 %).</p>"
        + hbar_chart(rows, scale=150.0, marks=[(100.0, "100 %")])
    )


def _overdue(report: Report) -> str:
    if not report.overdue_reviews:
        return "<p class='muted'>No review overdue.</p>"
    body = "".join(
        f"<tr><td>{_e(r.title or r.agreement_id)}</td><td>{_e(', '.join(r.parties))}</td>"
        f"<td>{_e(r.due_at.date().isoformat())}</td><td class=n>{r.days_overdue}</td></tr>"
        for r in report.overdue_reviews
    )
    return "<table><tr><th>Agreement</th><th>Parties</th><th>Due</th><th>Days overdue</th></tr>" + body + "</table>"


def _local(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d") if (local.hour, local.minute) == (0, 0) else local.strftime("%Y-%m-%d %H:%M")


def to_html(report: Report) -> str:
    """One file: open it in any browser, print it, mail it; nothing is fetched."""
    sections = [
        ("Delay standards — share of clocks met, per standard", _standards(report)),
        ("Breaches over time", _breaches(report)),
        ("Disclosures by legal route and recipient kind", _disclosures(report)),
        ("Agreement volumes against commitments", _volumes(report)),
        ("Agreement reviews overdue", _overdue(report)),
    ]
    body = "".join(f"<section><h2>{_e(title)}</h2>{content}</section>" for title, content in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>RLS audit report {_e(_local(report.start, report.zone))} – {_e(_local(report.end, report.zone))}"
        "</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>RLS Referrals — compliance report</h1>"
        f"<p class='muted'>From {_e(_local(report.start, report.zone))} to {_e(_local(report.end, report.zone))} "
        f"(excluded; {_e(report.zone)} time). Generated {_e(_local(report.generated_at, report.zone))} from the audit "
        "database. Ids and codes only: no person appears here.</p>" + _cards(report) + body + "</body></html>"
    )
