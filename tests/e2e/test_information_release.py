"""All five services as processes, the real broker, the demo network: record information leaves only when the
consent service permits it — by consent under a collaboration agreement, by the art. 108 clause under a service
agreement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.common.auth import load_dev_key, mint_dev_token
from services.runtime import demo
from services.runtime.launcher import Platform
from services.runtime.registry import SERVICES
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.helpers import demo_consent, demo_referral, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

INFORMATION = {
    "IDENTIFICATION": "Synthetic Person 0777",
    "CONTACT": "555-0177",
    "ASSESSMENT": "synthetic notes",
    "HEALTH": "synthetic health note",
}


class Network:
    def __init__(self, platform: Platform, key: bytes) -> None:
        self.urls = platform.urls
        self.key = key

    def headers(self, org: str, *roles: str) -> dict[str, str]:
        token = mint_dev_token(self.key, org, roles, f"{org}-worker", "rls", timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    def call(self, service: str, method: str, path: str, org: str, *roles: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.urls[service] + path, headers=self.headers(org, *roles), timeout=15, **kwargs)

    def refer(self, to_org: str, to_service: str, subject_id: str) -> dict[str, Any]:
        body = demo_referral(to_org, to_service, subject_id, information=INFORMATION)
        response = self.call("referral", "POST", "/v1/referrals", demo.CSSS, "intake", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def information(self, referral_id: str, org: str) -> httpx.Response:
        return self.call("referral", "GET", f"/v1/referrals/{referral_id}/information", org, "clinician")


@pytest.fixture(scope="module")
def network(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    patch = pytest.MonkeyPatch()
    for name in SERVICES:
        patch.setenv(f"{name.upper()}_PORT", str(free_port()))
    var = tmp_path_factory.mktemp("platform")
    patch.setenv("RLS_VAR_DIR", str(var))
    patch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    settings = RuntimeSettings()
    platform = Platform(settings)
    try:
        platform.start(say=lambda _: None)
        yield Network(platform, load_dev_key(settings.signing_key_file))
    finally:
        platform.stop()
        patch.undo()


def test_under_a_collaboration_agreement_information_needs_a_consent(network: Network) -> None:
    referral = network.refer(demo.CRISIS_CENTRE, "CRISIS_24_7", "S-E2E-0001")
    assert referral["agreement_kind"] == "COLLABORATION"
    denied = network.information(referral["id"], demo.CRISIS_CENTRE)
    assert denied.status_code == 403, denied.text
    assert set(denied.json()["denied_categories"]) == set(INFORMATION)
    assert "Synthetic" not in denied.text

    consent = network.call(
        "consent", "POST", "/v1/consents", demo.CSSS, "intake", json=demo_consent("S-E2E-0001", demo.CRISIS_CENTRE)
    )
    assert consent.status_code == 201, consent.text

    released = network.information(referral["id"], demo.CRISIS_CENTRE)
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["information"] == {"IDENTIFICATION": INFORMATION["IDENTIFICATION"], "CONTACT": INFORMATION["CONTACT"]}
    assert set(body["denied_categories"]) == {"ASSESSMENT", "HEALTH"}
    assert body["basis"][0]["consent_id"] == consent.json()["id"]
    register = network.call("consent", "GET", "/v1/register?subject_id=S-E2E-0001", demo.CSSS, "auditor").json()
    entries = register.get("items", register) if isinstance(register, dict) else register
    assert [e["decision_id"] for e in entries] == [body["decision_id"]]
    assert set(entries[0]["categories"]) == {"IDENTIFICATION", "CONTACT"}

    withdrawn = network.call(
        "consent", "POST", f"/v1/consents/{consent.json()['id']}/withdraw", demo.CSSS, "intake", json={}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert network.information(referral["id"], demo.CRISIS_CENTRE).status_code == 403


def test_under_a_service_agreement_the_clause_categories_go_without_consent(network: Network) -> None:
    referral = network.refer(demo.REGIONAL, "SPECIALISED_SERVICES", "S-E2E-0002")
    assert referral["agreement_kind"] == "SERVICE_108"

    def released() -> httpx.Response | None:  # the consent service learns the agreement from rls.agreements.v1
        response = network.information(referral["id"], demo.REGIONAL)
        return response if response.status_code == 200 else None

    body = wait_for(released, timeout=60, interval=0.5).json()
    assert body["information"] == {k: INFORMATION[k] for k in ("IDENTIFICATION", "CONTACT", "ASSESSMENT")}
    assert body["denied_categories"] == ["HEALTH"]
    basis = body["basis"][0]
    assert basis["article"].startswith("108") or "108" in basis["article"]
    assert basis["agreement_id"] == referral["agreement_id"]
    assert basis["status"] == "NEEDS_LEGAL_REVIEW"
    assert {"MINIMUM_NECESSARY", "REGISTER_ENTRY"} <= set(body["obligations"])
    assert body["register_entry_id"]


def test_the_referral_reached_the_organisations_topics_without_record_information(
    network: Network, kafka_bootstrap: str
) -> None:
    from tests.helpers import read_topic

    referral = network.refer(demo.CRISIS_CENTRE, "CRISIS_24_7", "S-E2E-0003")

    def arrived() -> list[Any]:
        events = read_topic(kafka_bootstrap, f"rls.org.{demo.CRISIS_CENTRE}.referrals.v1", idle_s=0.3)
        return [e for _, e in events if e and e.subject == referral["id"]]

    [event] = wait_for(arrived, timeout=60)
    text = event.model_dump_json()
    assert all(value not in text for value in INFORMATION.values())
    assert event.data["information_url"].endswith(f"/v1/referrals/{referral['id']}/information")
