"""Re-evaluation of every recorded consent decision.

Each `ca.qc.rls.consent.decided.v1` event carries the regime, the rule-table version, the whole input and the facts it
was decided from. The audit sends those to the consent service's `POST /v1/evaluations` (stateless, role `auditor`)
and compares the answer with what was recorded. The audit does not import the consent engine: the consent service is
the one authority on what its rule tables say (services share no domain modules), and an evaluation through its
public API is exactly what an outside auditor could do too. A what-if (`--regime LRSSS`) replaces the recorded regime
by another rule table from `GET /v1/rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from services.audit.domain import (
    ConsentUnavailableError,
    EvaluationRefusedError,
    RuleTableUnavailableError,
    WhatIfRegimeError,
)
from services.audit.views import HistoryRow


class Evaluator(Protocol):
    def evaluate(
        self, decision_input: dict[str, Any], facts: dict[str, Any], requested_by_org: str | None = None
    ) -> dict[str, Any]: ...

    def rule_tables(self) -> list[tuple[str, str, bool]]:
        """(regime, version, applied to new decisions) of every table the consent service knows."""


class ConsentEvaluator:
    """The consent service over HTTP (`client` carries the base URL and an auditor's bearer token)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise ConsentUnavailableError(f"{url} unreachable ({type(error).__name__})") from None

    def evaluate(
        self, decision_input: dict[str, Any], facts: dict[str, Any], requested_by_org: str | None = None
    ) -> dict[str, Any]:
        """The consent service's answer; the requester is sent so that its organisation's auditors are admitted."""
        body: dict[str, Any] = {"input": decision_input, "facts": facts}
        if requested_by_org is not None:
            body["requested_by_org"] = requested_by_org
        response = self._call("POST", "/v1/evaluations", json=body)
        if response.status_code == 409:
            raise RuleTableUnavailableError(f"{decision_input.get('regime')} {decision_input.get('regime_version')}")
        if response.status_code == 403:
            raise EvaluationRefusedError(f"the consent service refused this evaluation (403 {_problem_type(response)})")
        if response.status_code != 200:
            raise ConsentUnavailableError(f"evaluation answered {response.status_code} {_problem_type(response)}")
        answer: dict[str, Any] = response.json()
        return answer

    def rule_tables(self) -> list[tuple[str, str, bool]]:
        response = self._call("GET", "/v1/rules")
        if response.status_code != 200:
            raise ConsentUnavailableError(f"rules answered {response.status_code} {_problem_type(response)}")
        return [(t["regime"], t["version"], t["applied"]) for t in response.json()]


def _problem_type(response: httpx.Response) -> str:
    try:
        return str(response.json().get("type", ""))
    except ValueError:
        return ""


@dataclass(frozen=True)
class Verdict:
    """What a decision gave (the parts compared)."""

    outcome: str
    permitted: tuple[str, ...]
    denied: tuple[str, ...]
    obligations: tuple[str, ...]
    basis: tuple[tuple[str, str, tuple[str, ...], str | None, str | None], ...]

    @classmethod
    def of(cls, decision: dict[str, Any]) -> Verdict:
        return cls(
            outcome=decision["outcome"],
            permitted=tuple(sorted(decision.get("permitted_categories", []))),
            denied=tuple(sorted(decision.get("denied_categories", []))),
            obligations=tuple(sorted(decision.get("obligations", []))),
            basis=tuple(
                sorted(
                    (
                        b["route"],
                        b["article"],
                        tuple(sorted(b.get("categories", []))),
                        b.get("consent_id"),
                        b.get("agreement_id"),
                    )
                    for b in decision.get("basis", [])
                )
            ),
        )

    def differences(self, other: Verdict, what_if: bool) -> list[str]:
        """Names of the parts that differ (under another regime, routes and articles differ by nature)."""
        names = ["outcome", "permitted", "denied", "obligations"] + ([] if what_if else ["basis"])
        return [name for name in names if getattr(self, name) != getattr(other, name)]


@dataclass(frozen=True)
class Recheck:
    """One decision that came out differently (or could not be re-evaluated)."""

    decision_id: str
    occurred_at: str
    regime: str
    regime_version: str
    recorded: Verdict
    again: Verdict | None
    differences: list[str]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "occurred_at": self.occurred_at,
            "regime": self.regime,
            "regime_version": self.regime_version,
            "recorded_outcome": self.recorded.outcome,
            "recorded_permitted": list(self.recorded.permitted),
            "reevaluated_outcome": None if self.again is None else self.again.outcome,
            "reevaluated_permitted": None if self.again is None else list(self.again.permitted),
            "differences": self.differences,
            "error": self.error,
        }


@dataclass
class RecheckResult:
    checked: int
    regime: str | None
    regime_version: str | None
    differing: list[Recheck]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "what_if_regime": self.regime,
            "what_if_regime_version": self.regime_version,
            "differing": [d.as_dict() for d in self.differing],
        }


def what_if_version(evaluator: Evaluator, regime: str, version: str | None) -> str:
    """The version asked for, or else the one the consent service applies to new decisions."""
    tables = [(v, applied) for r, v, applied in evaluator.rule_tables() if r == regime]
    if version is not None:
        if version not in [v for v, _ in tables]:
            raise WhatIfRegimeError(
                "regime_version", "the consent service has no rule table of this regime in this version"
            )
        return version
    applied_versions = [v for v, applied in tables if applied]
    if len(applied_versions) != 1:
        raise WhatIfRegimeError(
            "regime", "no rule table of this regime applies today; choose one by its version (regime_version)"
        )
    return applied_versions[0]


def recheck(
    decisions: Iterable[HistoryRow],
    evaluator: Evaluator,
    regime: str | None = None,
    regime_version: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RecheckResult:
    """Re-evaluates every decision; keeps those that come out differently, or cannot be re-evaluated (a rule table
    this build lacks; an evaluation the consent service refuses the caller): each is listed with its error, and the
    others are re-checked all the same."""
    version = what_if_version(evaluator, regime, regime_version) if regime else None
    differing: list[Recheck] = []
    checked = 0
    for row in decisions:
        data = row.payload
        decision_input = dict(data["input"])
        if regime is not None and version is not None:
            decision_input |= {"regime": regime, "regime_version": version}
        recorded = Verdict.of(data)
        common = (data["decision_id"], data["occurred_at"], data["regime"], data["regime_version"], recorded)
        checked += 1
        requester = data.get("requested_by_org")
        try:
            again = Verdict.of(evaluator.evaluate(decision_input, data["facts"], requester))
        except RuleTableUnavailableError as missing:
            differing.append(Recheck(*common, None, ["rule-table"], f"rule table not available: {missing}"))
        except EvaluationRefusedError as refused:
            differing.append(Recheck(*common, None, ["not-evaluated"], str(refused)))
        else:
            found = recorded.differences(again, what_if=regime is not None)
            if found:
                differing.append(Recheck(*common, again, found))
        if progress is not None:
            progress(1)
    return RecheckResult(checked, regime, version, differing)
