"""The compliance report as one self-contained HTML file: inline CSS and SVG charts, no script, no external asset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from math import ceil
from typing import Literal
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

Lang = Literal["fr", "en"]

WORDS: dict[str, tuple[str, str]] = {
    "title": ("RLS Referrals — rapport de conformité", "RLS Referrals — compliance report"),
    "doc_title": ("Rapport d'audit RLS {start} – {end}", "RLS audit report {start} – {end}"),
    "period": (
        "Du {start} au {end} (exclu ; heure de {zone}). Produit le {generated} à partir de la base d'audit. "
        "Identifiants et codes seulement : aucune personne n'y figure.",
        "From {start} to {end} (excluded; {zone} time). Generated {generated} from the audit database. "
        "Ids and codes only: no person appears here.",
    ),
    "card.pct_met": ("Normes de délai respectées", "Delay standards met"),
    "card.breaches": ("Dépassements (audit)", "Breaches (audit)"),
    "card.flagged": ("Dépassements signalés par le service de référence", "Breaches flagged by the referral service"),
    "card.disclosures": ("Communications inscrites au registre", "Disclosures registered"),
    "card.decisions": ("Décisions de consentement", "Consent decisions"),
    "card.volumes": ("Volumes convenus dépassés", "Volume commitments exceeded"),
    "card.reviews": ("Révisions en retard", "Reviews overdue"),
    "s.standards": (
        "Normes de délai — part des délais respectés, par norme",
        "Delay standards — share of clocks met, per standard",
    ),
    "s.breaches": ("Dépassements dans le temps", "Breaches over time"),
    "s.disclosures": (
        "Communications par voie légale et type de destinataire",
        "Disclosures by legal route and recipient kind",
    ),
    "s.volumes": ("Volumes des ententes par rapport aux engagements", "Agreement volumes against commitments"),
    "s.overdue": ("Révisions d'ententes en retard", "Agreement reviews overdue"),
    "no_clock": ("Aucun délai n'a commencé pendant la période.", "No delay-standard clock started in the period."),
    "met": ("respectés", "met"),
    "breached": ("dépassés", "breached"),
    "n_met": ("{n} respectés", "{n} met"),
    "n_breached": ("{n} dépassés", "{n} breached"),
    "pct_of": ("{pct} de {total}", "{pct} of {total}"),
    "flagged_note": (
        "Dépassements signalés par le service de référence pendant la période : {flagged}.",
        "Breaches the referral service flagged in the period: {flagged}.",
    ),
    "none": ("aucun", "none"),
    "col.org": ("Organisation", "Organisation"),
    "col.service": ("Service", "Service"),
    "col.standard": ("Norme", "Standard"),
    "col.clocks": ("Délais", "Clocks"),
    "col.met": ("Respectés", "Met"),
    "col.breached": ("Dépassés", "Breached"),
    "col.share": ("Part respectée", "Share met"),
    "col.median": ("Délai médian", "Median delay"),
    "legend.computed": ("dépassements (audit, par échéance)", "breaches (audit, by due date)"),
    "legend.flagged": ("signalés par le service de référence", "flagged by the referral service"),
    "per.week": ("Par semaine, à partir de la date indiquée.", "Per week, starting on the date shown."),
    "per.month": ("Par mois, à partir de la date indiquée.", "Per month, starting on the date shown."),
    "computed": ("{label} : {n} calculés", "{label}: {n} computed"),
    "flagged": ("{label} : {n} signalés", "{label}: {n} flagged"),
    "no_disclosure": ("Aucune communication inscrite pendant la période.", "No disclosure registered in the period."),
    "outcomes": (
        "Décisions de consentement de la période, par résultat : {outcomes}.",
        "Consent decisions in the period by outcome: {outcomes}.",
    ),
    "no_volume": ("Aucun volume convenu en vigueur.", "No volume commitment in force."),
    "volume_tip": ("{used} sur {per_year} ({pct} %)", "{used} of {per_year} ({pct} %)"),
    "volume_note": (
        "{used} sur {per_year} · {elapsed} % de l'année écoulée",
        "{used} of {per_year} · {elapsed} % of the year gone",
    ),
    "legend.under": ("utilisé, moins de 80 %", "used, under 80 %"),
    "legend.near": ("80 % ou plus", "80 % or more"),
    "legend.exceeded": ("engagement dépassé", "commitment exceeded"),
    "volumes_note": (
        "Demandes acceptées que le service des ententes a comptées dans l'année en cours de l'entente, par rapport "
        "au volume annuel en vigueur (la ligne pointillée est l'engagement ; les barres s'arrêtent à 150 %). Un seuil "
        "que le service des ententes a annoncé sous un volume en vigueur plus tôt dans l'année reste signalé.",
        "Accepted referrals the agreements service counted in the current agreement year against the annual volume in "
        "force (the dashed line is the commitment; bars stop at 150 %). A threshold the agreements service announced "
        "under a volume in force earlier in the year stays flagged.",
    ),
    "no_overdue": ("Aucune révision en retard.", "No review overdue."),
    "col.agreement": ("Entente", "Agreement"),
    "col.parties": ("Parties", "Parties"),
    "col.due": ("Échéance", "Due"),
    "col.days_overdue": ("Jours de retard", "Days overdue"),
    "chart.standards": ("Délais respectés et dépassés par norme", "Clocks met and breached per standard"),
    "chart.breaches": ("Dépassements par période", "Breaches per period"),
    "chart.disclosures": ("Communications par voie légale", "Disclosures per legal route"),
    "chart.volumes": ("Volumes utilisés par entente et service", "Volumes used per agreement and service"),
}
"""Every word of the report, (French, English)."""


def words(lang: Lang) -> Callable[..., str]:
    """`w("key", n=3)`: the report's text in `lang`."""

    def w(key: str, **values: object) -> str:
        text = WORDS[key][0 if lang == "fr" else 1]
        return text.format(**values) if values else text

    return w


def integer_ticks(maximum: float, most: int = 5) -> list[int]:
    """Whole-number axis ticks from 0 covering `maximum`, at most `most` of them, never repeated: 1 → 0, 1;
    3 → 0, 1, 2, 3; 37 → 0, 10, 20, 30, 40 (counts are whole numbers: a tick at 0.25 breaches means nothing)."""
    top = max(1, ceil(maximum))
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if ceil(top / step) + 1 <= most:
            break
    else:
        step = ceil(top / (most - 1))
    return [step * i for i in range(ceil(top / step) + 1)]


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
    label: str,
    width: int = 1000,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Horizontal stacked bars: (label, segments, text after the bar) per row, `scale` = full width; `marks` draws
    labelled vertical lines at values (a commitment, say). `label` names the chart for assistive technologies."""
    label_w, bar_w, row_h = 300, width - 300 - 200, 26
    height = row_h * len(rows) + 8 + (14 if marks else 0)
    parts = [_svg_open(width, height, label)]
    for i, (name, segments, note) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12">{_e(_short(name))}'
            f"<title>{_e(name)}</title></text>"
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


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(label)}">'
    )


def column_chart(
    buckets: Sequence[tuple[str, float, float]],
    w: Callable[..., str],
    width: int = 900,
    height: int = 220,
) -> str:
    """Columns (breaches the audit computed) with a dot per bucket (breaches the referral service flagged), on an
    axis of whole numbers."""
    left, bottom, top = 40, 40, 10
    ticks = integer_ticks(max([0.0] + [max(a, b) for _, a, b in buckets]))
    top_value = float(ticks[-1])
    plot_h, plot_w = height - bottom - top, width - left - 10
    step = plot_w / max(1, len(buckets))
    parts = [_svg_open(width, height, w("chart.breaches"))]
    for tick in ticks:
        y = top + plot_h - plot_h * tick / top_value
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>')
    label_every = max(1, len(buckets) // 12)
    for i, (label, computed, flagged) in enumerate(buckets):
        x = left + i * step
        h = plot_h * computed / top_value
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BREACH}"><title>{_e(w("computed", label=label, n=f"{computed:.0f}"))}</title></rect>'
        )
        fy = top + plot_h - plot_h * flagged / top_value
        parts.append(
            f'<circle cx="{x + step / 2:.1f}" cy="{fy:.1f}" r="4" fill="{FLAGGED}">'
            f"<title>{_e(w('flagged', label=label, n=f'{flagged:.0f}'))}</title></circle>"
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


def _cards(report: Report, w: Callable[..., str]) -> str:
    s = report.summary
    cards = [
        (w("card.pct_met"), _fmt_pct(s["pct_met"]), "good" if (s["pct_met"] or 0) >= 90 else "bad"),
        (w("card.breaches"), s["breaches"], "bad" if s["breaches"] else "good"),
        (w("card.flagged"), s["breaches_flagged_by_referral_service"], ""),
        (w("card.disclosures"), s["disclosures"], ""),
        (w("card.decisions"), s["decisions"], ""),
        (w("card.volumes"), s["volume_commitments_exceeded"], "bad" if s["volume_commitments_exceeded"] else ""),
        (w("card.reviews"), s["reviews_overdue"], "bad" if s["reviews_overdue"] else "good"),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card {cls}"><b>{_e(value)}</b>{_e(title)}</div>' for title, value, cls in cards)
        + "</div>"
    )


def _table(headers: Sequence[str], body: str) -> str:
    return "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>" + body + "</table>"


def _standards(report: Report, w: Callable[..., str]) -> str:
    if not report.by_standard:
        return f"<p class='muted'>{_e(w('no_clock'))}</p>"
    rows = [
        (
            c.standard,
            [(c.met, MET, w("n_met", n=c.met)), (c.breached, BREACH, w("n_breached", n=c.breached))],
            w("pct_of", pct=_fmt_pct(c.pct_met), total=c.total),
        )
        for c in report.by_standard
    ]
    chart = hbar_chart(rows, scale=max(c.total for c in report.by_standard), label=w("chart.standards"))
    body = "".join(
        f"<tr><td>{_e(c.org)}</td><td>{_e(c.service)}</td><td>{_e(c.standard)}</td><td class=n>{c.total}</td>"
        f"<td class=n>{c.met}</td><td class=n>{c.breached}</td><td class=n>{_fmt_pct(c.pct_met)}</td>"
        f"<td class=n>{_duration(c.median_s)}</td><td>{_mini_bar(c.met, c.breached)}</td></tr>"
        for c in report.by_org_service
    )
    flagged = ", ".join(f"{k}: {v}" for k, v in sorted(report.flagged_breaches.items())) or w("none")
    headers = [w(f"col.{k}") for k in ("org", "service", "standard", "clocks", "met", "breached", "share", "median")]
    return (
        _legend([(w("met"), MET), (w("breached"), BREACH)])
        + chart
        + f"<p class='muted'>{_e(w('flagged_note', flagged=flagged))}</p>"
        + _table([*headers, ""], body)
    )


def _mini_bar(met: int, breached: int) -> str:
    total = max(1, met + breached)
    w_met = 120 * met / total
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="12" aria-hidden="true"><rect '
        f'width="{w_met:.1f}" height="12" fill="{MET}"/><rect x="{w_met:.1f}" width="{120 - w_met:.1f}" height="12" '
        f'fill="{BREACH}"/></svg>'
    )


def _breaches(report: Report, w: Callable[..., str]) -> str:
    buckets = [(b.start.isoformat(), float(b.computed), float(b.flagged)) for b in report.breaches_over_time]
    return (
        _legend([(w("legend.computed"), BREACH), (w("legend.flagged"), FLAGGED)])
        + f"<p class='muted'>{_e(w('per.' + report.bucket))}</p>"
        + column_chart(buckets, w)
    )


def _disclosures(report: Report, w: Callable[..., str]) -> str:
    if not report.disclosures:
        return f"<p class='muted'>{_e(w('no_disclosure'))}</p>"
    kinds = sorted({d.recipient_kind for d in report.disclosures})
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    routes: dict[str, list[Segment]] = {}
    for d in report.disclosures:
        routes.setdefault(f"{d.route} ({d.article})", []).append(
            (float(d.count), colours[d.recipient_kind], f"{d.recipient_kind}: {d.count}")
        )
    totals = {route: sum(v for v, _, _ in segs) for route, segs in routes.items()}
    rows = [(route, segs, f"{totals[route]:.0f}") for route, segs in sorted(routes.items())]
    outcomes = ", ".join(f"{k}: {v}" for k, v in report.decisions.items()) or w("none")
    return (
        _legend([(k, colours[k]) for k in kinds])
        + hbar_chart(rows, scale=max(totals.values()), label=w("chart.disclosures"))
        + f"<p class='muted'>{_e(w('outcomes', outcomes=outcomes))}</p>"
    )


def _volumes(report: Report, w: Callable[..., str]) -> str:
    if not report.volumes:
        return f"<p class='muted'>{_e(w('no_volume'))}</p>"
    rows = [
        (
            f"{v.title or v.agreement_id} · {v.service}",
            [
                (
                    min(v.pct_used, 150.0),
                    VOLUME_COLOURS[v.status],
                    w("volume_tip", used=v.used, per_year=v.per_year, pct=v.pct_used),
                )
            ],
            w("volume_note", used=v.used, per_year=v.per_year, elapsed=f"{v.pct_year_elapsed:.0f}"),
        )
        for v in report.volumes
    ]
    return (
        _legend([(w("legend.under"), BLUE), (w("legend.near"), AMBER), (w("legend.exceeded"), BREACH)])
        + f"<p class='muted'>{_e(w('volumes_note'))}</p>"
        + hbar_chart(rows, scale=150.0, label=w("chart.volumes"), marks=[(100.0, "100 %")])
    )


def _overdue(report: Report, w: Callable[..., str]) -> str:
    if not report.overdue_reviews:
        return f"<p class='muted'>{_e(w('no_overdue'))}</p>"
    body = "".join(
        f"<tr><td>{_e(r.title or r.agreement_id)}</td><td>{_e(', '.join(r.parties))}</td>"
        f"<td>{_e(r.due_at.date().isoformat())}</td><td class=n>{r.days_overdue}</td></tr>"
        for r in report.overdue_reviews
    )
    return _table([w("col.agreement"), w("col.parties"), w("col.due"), w("col.days_overdue")], body)


def _local(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d") if (local.hour, local.minute) == (0, 0) else local.strftime("%Y-%m-%d %H:%M")


def to_html(report: Report, lang: Lang = "fr") -> str:
    """One file: open it in any browser, print it, mail it; nothing is fetched. French unless `lang` says English
    (Charter of the French language); dates in the report's time zone."""
    w = words(lang)
    sections = [
        (w("s.standards"), _standards(report, w)),
        (w("s.breaches"), _breaches(report, w)),
        (w("s.disclosures"), _disclosures(report, w)),
        (w("s.volumes"), _volumes(report, w)),
        (w("s.overdue"), _overdue(report, w)),
    ]
    body = "".join(f"<section><h2>{_e(title)}</h2>{content}</section>" for title, content in sections)
    start, end = _local(report.start, report.zone), _local(report.end, report.zone)
    period = w("period", start=start, end=end, zone=report.zone, generated=_local(report.generated_at, report.zone))
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
        f"<title>{_e(w('doc_title', start=start, end=end))}</title>"
        f"<style>{CSS}</style></head><body><main>"
        f"<h1>{_e(w('title'))}</h1>"
        f"<p class='muted'>{_e(period)}</p>" + _cards(report, w) + body + "</main></body></html>"
    )
