"""The README's "what the law allows here" table, written from the rule tables themselves (one source)."""

from __future__ import annotations

from collections.abc import Iterable

from services.consent.policy import GENERAL, Route, RuleTable, Scope
from services.consent.rule_history import CONSENT_CHECKS
from services.contract.codes import Purpose

SCOPES = {
    Scope.FROM_CONSENT: "what the consent names",
    Scope.FROM_AGREEMENT: "the agreement's clause",
}


def _discloser(route: Route) -> str:
    who = "any" if not route.discloser_kinds else "institutions"
    if "consent_held_for_discloser" in route.selects:
        who += " (the consent's holder, or a discloser it names)"
    return who


def _purposes(route: Route) -> str:
    missing = frozenset(Purpose) - route.purposes
    if not missing:
        return "any"
    if len(missing) < len(route.purposes):
        return "any but " + ", ".join(sorted(missing))
    return ", ".join(sorted(route.purposes))


def _releases(route: Route) -> str:
    narrowed = "" if route.narrowed_by is None else f": only those `context.{route.narrowed_by}` names"
    if isinstance(route.categories, Scope):
        return SCOPES[route.categories] + ("" if route.releases_sensitive else " (not sensitive)") + narrowed
    if route.categories == GENERAL:
        return "all but sensitive" + narrowed
    return ", ".join(sorted(route.categories)) + narrowed


def _article(route: Route) -> str:
    window = [
        f"from {route.in_force_from}" if route.in_force_from else "",
        f"before {route.in_force_until}" if route.in_force_until else "",
    ]
    dates = " ".join(w for w in window if w)
    return f"{route.article} ({dates})" if dates else route.article


def _conditions(route: Route) -> str:
    """Condition names as the engine knows them; the seven checks of every consent read `consent_valid`."""
    names = [n for n in (*route.when, *route.requires) if n != "purpose_in_route"]
    if set(CONSENT_CHECKS) <= set(names):
        names = ["consent_valid" if n == CONSENT_CHECKS[0] else n for n in names if n not in CONSENT_CHECKS[1:]]
    if route.consent_max_months is not None:
        names = [f"{n} ({route.consent_max_months} months)" if n == "consent_within_max_duration" else n for n in names]
    if route.requester_roles:
        names.append("requester: " + "/".join(sorted(route.requester_roles)))
    if route.recipient_kinds:
        names.append("recipient: " + "/".join(sorted(route.recipient_kinds)))
    return ", ".join(dict.fromkeys(names))


def markdown(tables: Iterable[RuleTable], versions: dict[str, str]) -> str:
    """One table per regime: route, article, who may disclose, purposes, what it releases, conditions, status."""
    lines: list[str] = []
    for table in tables:
        lines += [
            f"**{table.regime.value}** (rule table {versions[table.regime.value]})",
            "",
            "| route | article | who may disclose | purposes | releases | conditions | status |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r.id} | {_article(r)} | {_discloser(r)} | {_purposes(r)} | {_releases(r)} | {_conditions(r)} "
            f"| {r.status.value} |"
            for r in table.routes
        ]
        bars = "; ".join(
            f"{b.id} ({b.article}) closes {', '.join(sorted(b.closes)) if b.closes is not None else 'every route'}"
            for b in table.bars
        )
        lines += [
            "",
            f"Bars: {bars}."
            + (f" Every communication: {', '.join(table.always_obligations)}." if table.always_obligations else ""),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
