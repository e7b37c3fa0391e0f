"""Referral service fixtures: the service on in-memory stores, its peers as fakes (`tests/referral/fakes.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.referral.main import build_app
from services.referral.ports import Gateways
from services.referral.settings import ReferralSettings
from tests.referral.fakes import FakeDirectory, FakeGate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


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
    app.state.gateways = lambda token: Gateways(directory, gate)
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
