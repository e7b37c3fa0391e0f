"""Fixtures of the agreements tests: a controlled clock, the application on a store, the API, a small network.

Organisations and agreements are fictitious; no personal information appears anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.application import Actor, Agreements
from services.agreements.main import build_app
from services.agreements.settings import AgreementsSettings
from services.agreements.terms import Terms, Volume
from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from services.common.envelope import CloudEvent
from services.common.eventstore import persistence_env
from services.contract.codes import AgreementKind
from services.contract.referral_events import ReferralChangedV1

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
"""Today, 10:00 in Montréal."""

CSSS, REGIONAL, CRISIS, LISTENING, OUTSIDER = "csss-a", "regional-b", "crisis-c", "listening-d", "outsider-e"

NETWORK: list[dict[str, Any]] = [
    {"id": CSSS, "name": "CSSS A", "kind": "CSSS", "territory": "RLS Nord", "services": ["AAOR", "CRISIS_24_7"]},
    {
        "id": REGIONAL,
        "name": "Centre régional B",
        "kind": "REGIONAL_ESTABLISHMENT",
        "territory": "Région Est",
        "services": ["SPECIALISED_SERVICES"],
    },
    {
        "id": CRISIS,
        "name": "Centre de crise C",
        "kind": "COMMUNITY_ORGANISATION",
        "territory": "RLS Nord",
        "services": ["CRISIS_24_7", "COMMUNITY_SERVICE"],
    },
    {
        "id": LISTENING,
        "name": "Ligne d'écoute D",
        "kind": "COMMUNITY_ORGANISATION",
        "territory": "Région Est",
        "services": ["COMMUNITY_SERVICE"],
    },
    {"id": OUTSIDER, "name": "Clinique E", "kind": "OTHER_PARTNER", "territory": "RLS Sud", "services": []},
]


def service_108(**changes: Any) -> dict[str, Any]:
    """A service agreement (art. 108) body: CSSS → regional establishment, from 2027-01-01 to 2027-12-31."""
    body: dict[str, Any] = {
        "kind": "SERVICE_108",
        "title": "Entente de service — services spécialisés",
        "parties": [CSSS, REGIONAL],
        "services": ["SPECIALISED_SERVICES"],
        "clientele": "Adults referred for specialised rehabilitation",
        "start": "2027-01-01",
        "end": "2027-12-31",
        "volumes": [{"service": "SPECIALISED_SERVICES", "per_year": 10}],
        "funding": {"amount": "250000.00", "currency": "CAD"},
        "information_sharing": {"categories": ["IDENTIFICATION", "REFERRAL_REASON"]},
        "mechanisms": ["monthly liaison committee"],
    }
    body.update(changes)
    return body


def sign_all(api: TestClient, auth: Callable[..., dict[str, str]], agreement: dict[str, Any]) -> dict[str, Any]:
    """Every party signs what awaits its signature (a draft, or the proposed change it reads, named by its id); the
    agreement after the last."""
    url = f"/v1/agreements/{agreement['id']}"
    for party in agreement["parties"]:
        proposal = api.get(url, headers=auth(party, "coordinator")).json()["proposal"]
        body = {"proposal_id": proposal["id"]} if proposal else None
        response = api.post(f"{url}/sign", json=body, headers=auth(party, "coordinator"))
        assert response.status_code == 200, response.text
    return dict(response.json())


def collaboration(**changes: Any) -> dict[str, Any]:
    """A framework collaboration agreement (entente-cadre) between the CSSS and two community organisations."""
    body: dict[str, Any] = {
        "kind": "COLLABORATION",
        "title": "Entente-cadre de collaboration — crise et écoute",
        "parties": [CSSS, CRISIS, LISTENING],
        "services": ["CRISIS_24_7", "COMMUNITY_SERVICE"],
        "clientele": "People in crisis or distress on the territory",
        "start": "2026-11-01",
        "mechanisms": ["intake", "referral", "liaison", "joint follow-up"],
    }
    body.update(changes)
    return body


def service_terms(**changes: Any) -> Terms:
    """Service agreement terms for application tests (CSSS → regional, calendar year 2027, 10 per year)."""
    terms = Terms(
        kind=AgreementKind.SERVICE_108,
        title="Entente de service",
        parties=(CSSS, REGIONAL),
        services=("SPECIALISED_SERVICES",),
        clientele="Adults",
        start=date(2027, 1, 1),
        end=date(2027, 12, 31),
        volumes=(Volume("SPECIALISED_SERVICES", 10),),
    )
    return terms.replace(**changes)


def actor(org: str) -> Actor:
    return Actor(sub=f"coordinator-of-{org}", org=org)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def register_network(agreements: Agreements) -> None:
    for o in NETWORK:
        agreements.register_organisation(o["id"], o["name"], o["kind"], o["territory"], o["services"])


@pytest.fixture
def open_app(clock: ManualClock) -> Iterator[Callable[[str], Agreements]]:
    """`open_app(store_url)` → the application on that store with the test clock (closed after the test)."""
    opened: list[Agreements] = []

    def open_(url: str) -> Agreements:
        app = Agreements(env=persistence_env(url), clock=clock)
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()


@pytest.fixture
def agreements(open_app: Callable[[str], Agreements]) -> Agreements:
    """The application in memory, with the network registered."""
    app = open_app("memory://")
    register_network(app)
    return app


@pytest.fixture
def api(service_settings: Callable[..., Any], client_for: Callable[..., TestClient], clock: ManualClock) -> TestClient:
    """The agreements service (memory store, test clock, no background loops) with the network registered."""
    app = build_app(service_settings(AgreementsSettings, scheduler_enabled=False), clock=clock)
    return client_for(app)


@pytest.fixture
def network(api: TestClient, auth: Callable[..., dict[str, str]]) -> TestClient:
    for organisation in NETWORK:
        response = api.post("/v1/organisations", json=organisation, headers=auth(PLATFORM_ORG, "admin"))
        assert response.status_code == 201, response.text
    return api


def problem_field(body: dict[str, Any]) -> str | None:
    """The field a 422 problem names (domain rule or request validation)."""
    if body.get("field"):
        return str(body["field"])
    errors = body.get("errors") or [{}]
    return errors[0].get("field")


def application_of(client: TestClient) -> Agreements:
    """The application behind a test client (to run the scheduler's tick at a chosen time)."""
    app: Any = client.app
    agreements: Agreements = app.state.application
    return agreements


def accepted(
    referral_id: str,
    occurred_at: datetime,
    agreement_id: str | None,
    from_org: str = CSSS,
    to_org: str = REGIONAL,
    to_service: str = "SPECIALISED_SERVICES",
) -> CloudEvent:
    """A `ca.qc.rls.referral.accepted.v1` event as the referral service publishes it (pseudonymous ids only)."""
    data = ReferralChangedV1(
        referral_id=referral_id,
        subject_id="S-TEST-0001",
        from_org=from_org,
        from_service="AAOR",
        to_org=to_org,
        to_service=to_service,
        channel="PHONE",
        urgency="ROUTINE",
        status="ACCEPTED",
        previous_status="ANALYSED",
        version=4,
        actor_org=to_org,
        occurred_at=occurred_at,
        information_url=f"http://referral.test/v1/referrals/{referral_id}/information",
        agreement_id=agreement_id,
    )
    return CloudEvent(
        id=f"event-{referral_id}-{occurred_at.isoformat()}",
        source="/rls/referral",
        type="ca.qc.rls.referral.accepted.v1",
        time=occurred_at,
        subject=referral_id,
        data=data.model_dump(mode="json"),
    )
