"""All five services as processes, the real broker, the demo network: record information leaves only when the
consent service permits it — by consent under a collaboration agreement, by the art. 108 clause only for the
services a service agreement says are provided on the referring institution's behalf, and never on a topic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common.auth import load_dev_key, mint_dev_token
from services.common.kafka import make_admin
from services.runtime import demo
from services.runtime.launcher import Minter, Platform
from tests.helpers import demo_consent, demo_referral, read_topic, running_platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

INFORMATION = {
    "IDENTIFICATION": "Synthetic Person 0777",
    "CONTACT": "555-0177",
    "ASSESSMENT": "synthetic notes",
    "HEALTH": "synthetic health note",
}


class Network:
    """The running platform, called with tokens `mint` signs (the dev key; the identity provider's in production)."""

    def __init__(self, platform: Platform, mint: Minter) -> None:
        self.platform = platform
        self.urls = platform.urls
        self.brokers = platform.admin_access
        self.mint = mint

    def headers(self, org: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(org, list(roles), f'{org}-worker')}"}

    def call(self, service: str, method: str, path: str, org: str, *roles: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.urls[service] + path, headers=self.headers(org, *roles), timeout=15, **kwargs)

    def refer(self, to_org: str, to_service: str, subject_id: str) -> dict[str, Any]:
        body = demo_referral(to_org, to_service, subject_id, information=INFORMATION)
        response = self.call("referral", "POST", "/v1/referrals", demo.CSSS, "intake", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def consent(self, subject_id: str, recipient: str, categories: list[str]) -> dict[str, Any]:
        """The person's written consent, recorded by the CSSS, for a referral to `recipient`."""
        body = demo_consent(subject_id, recipient, categories)
        response = self.call("consent", "POST", "/v1/consents", demo.CSSS, "intake", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def information(self, referral_id: str, org: str) -> httpx.Response:
        return self.call("referral", "GET", f"/v1/referrals/{referral_id}/information", org, "clinician")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """A broker of its own: the consent service must know this platform's agreements only (another platform's demo
    network on a shared `rls.agreements.v1` would be a second agreement between the same parties)."""
    with running_platform(tmp_path_factory.mktemp("platform")) as platform:
        key = load_dev_key(platform.settings.signing_key_file)
        yield Network(platform, lambda org, roles, sub: mint_dev_token(key, org, roles, sub, "rls", timedelta(hours=1)))


def test_under_a_collaboration_agreement_information_needs_a_consent(network: Network) -> None:
    referral = network.refer(demo.CRISIS_CENTRE, "CRISIS_24_7", "S-E2E-0001")
    assert referral["agreement_kind"] == "COLLABORATION"
    denied = network.information(referral["id"], demo.CRISIS_CENTRE)
    assert denied.status_code == 403, denied.text
    assert set(denied.json()["denied_categories"]) == set(INFORMATION)
    assert "Synthetic" not in denied.text

    consent = network.consent("S-E2E-0001", demo.CRISIS_CENTRE, ["IDENTIFICATION", "CONTACT"])

    released = network.information(referral["id"], demo.CRISIS_CENTRE)
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["information"] == {"IDENTIFICATION": INFORMATION["IDENTIFICATION"], "CONTACT": INFORMATION["CONTACT"]}
    assert set(body["denied_categories"]) == {"ASSESSMENT", "HEALTH"}
    assert body["basis"][0]["consent_id"] == consent["id"]
    register = network.call("consent", "GET", "/v1/register?subject_id=S-E2E-0001", demo.CSSS, "auditor").json()
    entries = register.get("items", register) if isinstance(register, dict) else register
    assert [e["decision_id"] for e in entries] == [body["decision_id"]]
    assert set(entries[0]["categories"]) == {"IDENTIFICATION", "CONTACT"}

    withdrawn = network.call("consent", "POST", f"/v1/consents/{consent['id']}/withdraw", demo.CSSS, "intake", json={})
    assert withdrawn.status_code == 200, withdrawn.text
    assert network.information(referral["id"], demo.CRISIS_CENTRE).status_code == 403


def test_a_referral_to_a_service_provided_on_the_csss_behalf_releases_the_clause_without_consent(
    network: Network,
) -> None:
    referral = network.refer(demo.REGIONAL, "SPECIALISED_SERVICES", "S-E2E-0002")
    assert referral["agreement_kind"] == "SERVICE_108"

    def released() -> httpx.Response | None:  # the consent service learns the agreement from rls.agreements.v1
        response = network.information(referral["id"], demo.REGIONAL)
        return response if response.status_code == 200 else None

    body = wait_for(released, timeout=60, interval=0.5).json()
    assert body["information"] == {k: INFORMATION[k] for k in ("IDENTIFICATION", "CONTACT", "ASSESSMENT")}
    assert body["denied_categories"] == ["HEALTH"]
    [basis] = body["basis"]
    assert basis["route"] == "A-3" and "108" in basis["article"]
    assert basis["agreement_id"] == referral["agreement_id"]
    assert basis["status"] == "NEEDS_LEGAL_REVIEW" and basis["discloser_kind"] == "CSSS"
    assert {"MINIMUM_NECESSARY", "REGISTER_ENTRY"} <= set(body["obligations"])
    assert body["register_entry_id"]


def test_a_referral_to_another_service_of_the_same_partner_needs_a_consent(network: Network) -> None:
    referral = network.refer(demo.REGIONAL, "SPECIFIC_SERVICES", "S-E2E-0004")
    assert referral["agreement_kind"] == "SERVICE_108", "the agreement covers the service, not on the CSSS's behalf"
    denied = network.information(referral["id"], demo.REGIONAL)
    assert denied.status_code == 403, denied.text
    assert set(denied.json()["denied_categories"]) == set(INFORMATION)
    decision = network.call(
        "consent", "GET", f"/v1/decisions/{denied.json()['decision_id']}", demo.CSSS, "auditor"
    ).json()
    assert decision["input"]["purpose"] == "REFERRAL" and decision["input"]["recipient_service"] == "SPECIFIC_SERVICES"
    assert decision["regime_superseded"] is True, "the demo pins the LSSSS as its policy of record"

    consent = network.consent("S-E2E-0004", demo.REGIONAL, ["IDENTIFICATION"])
    released = network.information(referral["id"], demo.REGIONAL)
    assert released.status_code == 200, released.text
    assert released.json()["information"] == {"IDENTIFICATION": INFORMATION["IDENTIFICATION"]}
    assert released.json()["basis"][0]["consent_id"] == consent["id"]


def test_the_referral_reached_the_organisations_topics_without_record_information(network: Network) -> None:
    referral = network.refer(demo.CRISIS_CENTRE, "CRISIS_24_7", "S-E2E-0003")

    def arrived() -> list[Any]:
        events = read_topic(network.brokers, f"rls.org.{demo.CRISIS_CENTRE}.referrals.v1", idle_s=0.3)
        return [e for _, e in events if e and e.subject == referral["id"]]

    [event] = wait_for(arrived, timeout=60)
    text = event.model_dump_json()
    assert all(value not in text for value in INFORMATION.values())
    assert event.data["information_url"].endswith(f"/v1/referrals/{referral['id']}/information")


def test_no_record_information_on_any_topic(network: Network) -> None:
    """After every flow above: not one value of the record information on any topic, in values or headers. The
    fan-out to the organisations' topics runs behind the API: the scan waits until it reached the regional
    establishment's topic (its referrals above), which it creates."""

    def platform_topics() -> list[str] | None:
        admin = make_admin(network.brokers, "e2e-scan")
        try:
            names = sorted(t for t in admin.list_topics() if t.startswith("rls."))
        finally:
            admin.close()
        wanted = {"rls.consent.decisions.v1", f"rls.org.{demo.REGIONAL}.referrals.v1"}
        return names if wanted <= set(names) else None

    names: list[str] = wait_for(platform_topics, timeout=60, interval=0.5)
    scanned = 0
    for topic in names:
        for record, _ in read_topic(network.brokers, topic, idle_s=0.3):
            raw = (record.value or b"") + b"".join(value or b"" for _, value in record.headers or [])
            assert not [v for v in INFORMATION.values() if v.encode() in raw], topic
            scanned += 1
    assert scanned > 0


def test_metrics_after_a_referral_flow_show_the_lags_back_to_zero_and_the_decisions_counted(network: Network) -> None:
    """Every process's `/metrics` once a referral was submitted and its information asked for: the outboxes published,
    the consumers caught up, the consent decisions counted by outcome and route; no record information, no person."""
    referral = network.refer(demo.CRISIS_CENTRE, "CRISIS_24_7", "S-E2E-0005")
    assert network.information(referral["id"], demo.CRISIS_CENTRE).status_code == 403  # a decision: no consent

    def scraped() -> dict[str, str]:
        return {name: httpx.get(url + "/metrics", timeout=10).text for name, url in network.urls.items()}

    def caught_up() -> dict[str, str] | None:
        texts = scraped()
        outbox = {n: values(texts[n], "rls_outbox_lag") for n in ("referral", "agreements", "consent")}
        consumers = {n: values(texts[n], "rls_consumer_lag") for n in ("agreements", "consent", "notifications")}
        settled = all(v == [0.0] for v in outbox.values()) and all(v and set(v) == {0.0} for v in consumers.values())
        return texts if settled else None

    texts = wait_for(caught_up, timeout=60, interval=0.5)
    decisions = series(texts["consent"], "rls_consent_decisions_total")
    assert sum(decisions.values()) >= 1
    assert any(outcome == "DENY" for outcome, _ in decisions), decisions
    requests = series(texts["referral"], "rls_http_request_duration_seconds_count", ("method", "route", "status"))
    assert requests[("POST", "/v1/referrals", "201")] >= 1
    assert requests[("GET", "/v1/referrals/{referral_id}/information", "403")] >= 1
    for name, text in texts.items():
        assert not [v for v in INFORMATION.values() if v in text], name
        assert "S-E2E-" not in text and referral["id"] not in text, name


def values(text: str, name: str) -> list[float]:
    return [s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def series(text: str, name: str, labels: tuple[str, ...] = ("outcome", "route")) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels[label] for label in labels): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    }
