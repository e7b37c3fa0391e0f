"""The art. 108 route follows the terms in force of a service agreement as `rls.agreements.v1` publishes them: an
amendment one party proposes (here: services provided on the other party's behalf) carries nothing until every party
has signed it. Both services run in memory; the agreements' integration events are handed to the consent service's
consumer as the relay would publish them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.agreements.main import build_app as agreements_app
from services.agreements.main import outbox
from services.agreements.settings import AgreementsSettings
from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from services.consent import inbound
from tests.agreements.conftest import CSSS, NETWORK, REGIONAL, service_108, sign_all

Auth = Callable[..., dict[str, str]]
SPECIALISED = "SPECIALISED_SERVICES"
ON_CSSS_BEHALF = {
    "on_behalf": [{"of_org": CSSS, "services": [SPECIALISED]}],
    "information_sharing": {"categories": ["IDENTIFICATION", "REFERRAL_REASON", "ASSESSMENT", "HEALTH"]},
}
DISCLOSURE = {
    "subject_id": "S-000777",
    "discloser_org_id": CSSS,
    "recipient_org_id": REGIONAL,
    "purpose": "SERVICE_ON_BEHALF",
    "recipient_service": SPECIALISED,
    "categories": ["ASSESSMENT", "HEALTH"],
}


class Relay:
    """Hands what the agreements service recorded since the last call to the consent service's consumer."""

    def __init__(self, agreements: TestClient, consent: TestClient) -> None:
        self.source = agreements.app.state.application  # type: ignore[attr-defined]
        self.handle = inbound.handler(consent.app.state.application)  # type: ignore[attr-defined]
        self.mapper = outbox(self.source)
        self.position = 0
        self.offset = 0
        self.handled: list[str] = []

    def __call__(self) -> None:
        notifications = self.source.recorder.select_notifications(
            start=self.position, limit=1000, inclusive_of_start=False
        )
        for notification in notifications:
            for message in self.mapper(self.source.mapper.to_domain_event(notification)):
                self.offset += 1
                self.handle(message.event, Tracking("rls.agreements.v1#0", self.offset))
                self.handled.append(message.event.type)
            self.position = notification.id


class Services:
    """The agreements and consent services, the relay between them, and an agreement in force between CSSS and
    REGIONAL."""

    def __init__(self, agreements: TestClient, consent: TestClient, auth: Auth) -> None:
        self.agreements, self.consent, self.auth = agreements, consent, auth
        self.relay = Relay(agreements, consent)
        for organisation in NETWORK:
            created = agreements.post("/v1/organisations", json=organisation, headers=auth(PLATFORM_ORG, "admin"))
            assert created.status_code == 201
        body = service_108(start="2026-01-01")
        drafted = agreements.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
        self.url = f"/v1/agreements/{sign_all(agreements, auth, drafted)['id']}"

    def outcome(self) -> str:
        """The disclosure's outcome once the consent service has consumed every agreements event so far."""
        self.relay()
        decided = self.consent.post("/v1/decisions", json=DISCLOSURE, headers=self.auth(CSSS, "intake"))
        assert decided.status_code == 200, decided.text
        return str(decided.json()["outcome"])


@pytest.fixture
def services(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    consent_api: Callable[..., TestClient],
    clock: ManualClock,
    auth: Auth,
) -> Services:
    agreements = client_for(agreements_app(service_settings(AgreementsSettings, scheduler_enabled=False), clock=clock))
    return Services(agreements, consent_api(), auth)


def test_an_amendment_on_the_disclosers_behalf_carries_information_only_once_every_party_signed_it(
    services: Services, auth: Auth
) -> None:
    agreements, url, outcome = services.agreements, services.url, services.outcome
    outcomes = [outcome()]
    proposed = agreements.post(f"{url}/amend", json=ON_CSSS_BEHALF, headers=auth(REGIONAL, "coordinator")).json()
    named = {"proposal_id": proposed["proposal"]["id"]}
    outcomes.append(outcome())
    agreements.post(f"{url}/sign", json=named, headers=auth(REGIONAL, "coordinator"))
    outcomes.append(outcome())
    agreements.post(f"{url}/sign", json=named, headers=auth(CSSS, "coordinator"))
    outcomes.append(outcome())
    assert outcomes == ["DENY", "DENY", "DENY", "PERMIT"]


def test_a_declined_amendment_on_the_disclosers_behalf_never_carries_information(
    services: Services, auth: Auth
) -> None:
    agreements, url, outcome = services.agreements, services.url, services.outcome
    proposed = agreements.post(f"{url}/amend", json=ON_CSSS_BEHALF, headers=auth(REGIONAL, "coordinator")).json()
    named = {"proposal_id": proposed["proposal"]["id"]}
    agreements.post(f"{url}/sign", json=named, headers=auth(REGIONAL, "coordinator"))
    outcomes = [outcome()]
    declined = agreements.post(
        f"{url}/decline", json={**named, "reason": "no services on our behalf"}, headers=auth(CSSS, "coordinator")
    )
    outcomes.append(outcome())
    late = agreements.post(f"{url}/sign", json=named, headers=auth(CSSS, "coordinator"))
    outcomes.append(outcome())
    assert declined.status_code == 200 and late.status_code == 409
    assert services.relay.handled[-1] == "ca.qc.rls.agreements.proposal-declined.v1"
    assert outcomes == ["DENY", "DENY", "DENY"]
