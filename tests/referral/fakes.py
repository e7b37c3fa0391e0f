"""Referral service test doubles (fakes, not mocks) for the agreements and consent services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.referral.domain import DependencyUnavailableError, SubjectErasedError, TargetUnknownError
from services.referral.ports import Coverage, DisclosureDecision, DisclosureRequest, Gateways


@dataclass
class FakeDirectory:
    """Every organisation offers every service unless told otherwise; coverage as configured. `down`: the agreements
    service does not answer; `asked` counts the questions put to it."""

    unknown: set[str] = field(default_factory=set)
    not_offered: set[tuple[str, str]] = field(default_factory=set)
    coverages: dict[tuple[str, str], Coverage] = field(default_factory=dict)
    down: bool = False
    asked: int = 0

    def _ask(self) -> None:
        self.asked += 1
        if self.down:
            raise DependencyUnavailableError("the agreements service did not answer")

    def offers(self, org_id: str, service: str) -> bool:
        self._ask()
        if org_id in self.unknown:
            raise TargetUnknownError("unknown organisation")
        return (org_id, service) not in self.not_offered

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage:
        self._ask()
        return self.coverages.get((from_org, to_org), Coverage(None, None))


@dataclass
class FakeGate:
    """Permits the configured categories (`by_purpose`: those of a purpose, else `permitted`); records every request,
    and numbers its decisions (`d-<n>`) and register entries (`r-<n>`) in the order asked. `down`: the purposes it
    does not answer for (as a consent service that fails between two requests)."""

    permitted: set[str] = field(default_factory=set)
    by_purpose: dict[str, set[str]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    requests: list[DisclosureRequest] = field(default_factory=list)

    def disclose(self, request: DisclosureRequest) -> DisclosureDecision:
        self.requests.append(request)
        if request.purpose in self.down:
            raise DependencyUnavailableError("consent service answered 503")
        permitted = self.by_purpose.get(request.purpose, self.permitted)
        allowed = [c for c in request.categories if c in permitted]
        denied = [c for c in request.categories if c not in permitted]
        outcome = "DENY" if not allowed else ("PERMIT" if not denied else "PERMIT_PARTIAL")
        n = len(self.requests)
        return DisclosureDecision(
            decision_id=f"d-{n}",
            outcome=outcome,
            permitted_categories=allowed,
            denied_categories=denied,
            basis=[{"route": request.purpose}] if allowed else [],
            obligations=["REGISTER_ENTRY"] if allowed else [],
            explanation=f"Nothing permits this disclosure for purpose {request.purpose}.",
            register_entry_id=f"r-{n}" if allowed else None,
        )


def fake_gateways(directory: FakeDirectory | None = None, gate: FakeGate | None = None) -> Gateways:
    """The other services as fakes (every organisation offers every service; nothing is permitted unless told)."""
    return Gateways(directory or FakeDirectory(), gate or FakeGate())


@dataclass
class MemoryVault:
    """Record information kept in memory by referral and category (plain text: the real vault's own tests check the
    encryption); erasing a person makes their information unreadable, as crypto-shredding does."""

    kept: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)

    def store(self, referral_id: str, subject_id: str, information: Mapping[str, str]) -> None:
        self.kept.setdefault(referral_id, {}).update({c: (subject_id, text) for c, text in information.items()})

    def categories(self, referral_id: str) -> list[str]:
        return sorted(self.kept.get(referral_id, {}))

    def readable(self, referral_id: str) -> list[str]:
        return sorted(c for c, (subject, _) in self.kept.get(referral_id, {}).items() if subject not in self.erased)

    def read(self, referral_id: str, categories: list[str]) -> dict[str, str]:
        wanted = {c: kept for c, kept in self.kept.get(referral_id, {}).items() if c in categories}
        if any(subject in self.erased for subject, _ in wanted.values()):
            raise SubjectErasedError("no data key for this person")
        return {c: text for c, (_, text) in wanted.items()}

    def erase_subject(self, subject_id: str) -> bool:
        known = any(s == subject_id for kept in self.kept.values() for s, _ in kept.values())
        self.erased.add(subject_id)
        return known
