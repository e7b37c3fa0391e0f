"""Referral service test doubles (fakes, not mocks) for the agreements and consent services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.referral.main import build_app
from services.referral.ports import Coverage, DisclosureDecision, DisclosureRequest, TargetUnknownError
from services.referral.settings import ReferralSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeDirectory:
    """Every organisation offers every service unless told otherwise; coverage as configured."""

    unknown: set[str] = field(default_factory=set)
    not_offered: set[tuple[str, str]] = field(default_factory=set)
    coverages: dict[tuple[str, str], Coverage] = field(default_factory=dict)

    def offers(self, org_id: str, service: str) -> bool:
        if org_id in self.unknown:
            raise TargetUnknownError("unknown organisation")
        return (org_id, service) not in self.not_offered

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage:
        return self.coverages.get((from_org, to_org), Coverage(None, None))


@dataclass
class FakeGate:
    """Permits the configured categories; records every request."""

    permitted: set[str] = field(default_factory=set)
    requests: list[DisclosureRequest] = field(default_factory=list)

    def disclose(self, request: DisclosureRequest) -> DisclosureDecision:
        self.requests.append(request)
        allowed = [c for c in request.categories if c in self.permitted]
        denied = [c for c in request.categories if c not in self.permitted]
        outcome = "DENY" if not allowed else ("PERMIT" if not denied else "PERMIT_PARTIAL")
        return DisclosureDecision(
            decision_id="d-1",
            outcome=outcome,
            permitted_categories=allowed,
            denied_categories=denied,
            explanation="No consent covers this disclosure.",
            register_entry_id="r-1" if allowed else None,
        )


@dataclass
class ReferralService:
    client: TestClient
    clock: ManualClock
    directory: FakeDirectory
    gate: FakeGate
    app: Any


@pytest.fixture
def service(service_settings: Callable[..., Any], client_for: Callable[..., TestClient]) -> ReferralService:
    clock = ManualClock(T0)
    app = build_app(service_settings(ReferralSettings))
    app.state.application.clock = clock
    directory, gate = FakeDirectory(), FakeGate()
    app.state.gateways = lambda token: (directory, gate)
    return ReferralService(client_for(app), clock, directory, gate, app)


def body(**overrides: Any) -> dict[str, Any]:
    document = {
        "subject_id": "S-0001",
        "from_org": "csss-a",
        "from_service": "AAOR",
        "to_org": "org-b",
        "to_service": "SOCIAL_CONSULT",
        "channel": "PHONE",
        "urgency": "ROUTINE",
        "reason_code": "FAMILY_CRISIS",
    }
    document.update(overrides)
    return document
