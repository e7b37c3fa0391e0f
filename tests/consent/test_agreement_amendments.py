"""The art. 108 route follows the terms in force of a service agreement as `rls.agreements.v1` publishes them: an
amendment one party proposes (here: services provided on the other party's behalf) carries nothing until every party
has signed it. Both services run in memory; the agreements' integration events are handed to the consent service's
consumer as the relay would publish them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.agreements.main import build_app as agreements_app
from services.agreements.main import outbox
from services.agreements.settings import AgreementsSettings
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

    def __call__(self) -> None:
        notifications = self.source.recorder.select_notifications(
            start=self.position, limit=1000, inclusive_of_start=False
        )
        for notification in notifications:
            for message in self.mapper(self.source.mapper.to_domain_event(notification)):
                self.offset += 1
                self.handle(message.event, Tracking("rls.agreements.v1#0", self.offset))
            self.position = notification.id


def test_an_amendment_on_the_disclosers_behalf_carries_information_only_once_every_party_signed_it(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    consent_api: Callable[..., TestClient],
    clock: ManualClock,
    auth: Auth,
) -> None:
    agreements = client_for(agreements_app(service_settings(AgreementsSettings, scheduler_enabled=False), clock=clock))
    consent = consent_api()
    relay = Relay(agreements, consent)
    for organisation in NETWORK:
        assert agreements.post("/v1/organisations", json=organisation, headers=auth(CSSS, "admin")).status_code == 201
    body = service_108(start="2026-01-01")
    agreement = sign_all(
        agreements, auth, agreements.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    )
    url = f"/v1/agreements/{agreement['id']}"

    def outcome() -> str:
        relay()
        decided = consent.post("/v1/decisions", json=DISCLOSURE, headers=auth(CSSS, "intake"))
        assert decided.status_code == 200, decided.text
        return str(decided.json()["outcome"])

    outcomes = [outcome()]
    proposed = agreements.post(f"{url}/amend", json=ON_CSSS_BEHALF, headers=auth(REGIONAL, "coordinator")).json()
    named = {"proposal_id": proposed["proposal"]["id"]}
    outcomes.append(outcome())
    agreements.post(f"{url}/sign", json=named, headers=auth(REGIONAL, "coordinator"))
    outcomes.append(outcome())
    agreements.post(f"{url}/sign", json=named, headers=auth(CSSS, "coordinator"))
    outcomes.append(outcome())
    assert outcomes == ["DENY", "DENY", "DENY", "PERMIT"]
