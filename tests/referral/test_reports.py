"""Clocks over the API and the compliance report over a synthetic month with known breaches."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from services.referral.domain import Step
from tests.referral.conftest import T0, ReferralService, body

Auth = Callable[..., dict[str, str]]


def test_clocks_endpoint_reports_each_standard(service: ReferralService, auth: Auth) -> None:
    rid = service.client.post(
        "/v1/referrals", json=body(to_service="AAOR", channel="PHONE"), headers=auth("csss-a", "intake")
    ).json()["id"]
    service.clock.advance(timedelta(hours=20))
    clocks = {
        c["standard"]: c
        for c in service.client.get(f"/v1/referrals/{rid}/clocks", headers=auth("org-b", "clinician")).json()
    }
    assert set(clocks) == {"AAOR_CALLBACK", "AAOR_ANALYSIS"}
    assert clocks["AAOR_CALLBACK"]["state"] == "AT_RISK"
    assert clocks["AAOR_CALLBACK"]["bound"] == "PT24H"  # exact hours; a day in ISO 8601 is a calendar day
    assert clocks["AAOR_ANALYSIS"]["bound"] == "P10D"
    assert clocks["AAOR_ANALYSIS"]["state"] == "RUNNING"
    assert clocks["AAOR_CALLBACK"]["due_at"].startswith("2026-03-03T09:00:00")


def test_the_clocks_of_a_cancelled_referral_never_show_a_state_outside_the_contract(
    service: ReferralService, auth: Auth
) -> None:
    """Cancelled on day 2: the call-back's clock was breached at 24 h and stays; the analysis' clock, stopped before
    its bound, no longer applies to the referral and is not listed (STOPPED is no state of the public API)."""
    rid = service.client.post(
        "/v1/referrals", json=body(to_service="AAOR", channel="PHONE"), headers=auth("csss-a", "intake")
    ).json()["id"]
    service.clock.advance(timedelta(hours=30))
    cancelled = service.client.post(f"/v1/referrals/{rid}/cancel", headers=auth("csss-a", "intake"))
    assert cancelled.status_code == 200, cancelled.text
    service.clock.advance(timedelta(days=20))
    for org in ("csss-a", "org-b"):
        clocks = service.client.get(f"/v1/referrals/{rid}/clocks", headers=auth(org, "clinician")).json()
        assert [(c["standard"], c["state"]) for c in clocks] == [("AAOR_CALLBACK", "BREACHED")]
    schema = service.client.get("/openapi.json").json()["components"]["schemas"]["ClockPublic"]
    assert schema["properties"]["state"]["enum"] == ["RUNNING", "MET", "AT_RISK", "BREACHED"]


def test_compliance_over_a_synthetic_month_with_known_breaches(service: ReferralService, auth: Auth) -> None:
    """March 2026: 40 AAOR phone requests to org-b; every 4th call-back is late (30 h), the others within 1-20 h."""
    app = service.app.state.application
    rng = random.Random(7)
    expected_met, expected_breached, met_delays = 0, 0, []
    for n in range(40):
        service.clock.now = T0 + timedelta(hours=17 * n)
        rid = service.client.post(
            "/v1/referrals", json=body(to_service="AAOR", channel="PHONE"), headers=auth("csss-a", "intake")
        ).json()["id"]
        delay = timedelta(hours=30) if n % 4 == 0 else timedelta(hours=rng.randint(1, 20))
        service.clock.advance(timedelta(hours=40))
        app.perform(
            __import__("uuid").UUID(rid),
            "callback",
            Step("org-b", "w", service.clock() - timedelta(hours=40) + delay),
            None,
        )
        if delay <= timedelta(hours=24):
            expected_met += 1
        else:
            expected_breached += 1
        met_delays.append(delay.total_seconds())
    # a referral of another organisation and one outside the period do not count
    service.clock.now = T0 + timedelta(days=40)
    service.client.post(
        "/v1/referrals", json=body(to_service="AAOR", channel="PHONE"), headers=auth("csss-a", "intake")
    )
    service.clock.advance(timedelta(days=20))
    report = service.client.get(
        "/v1/standards/compliance?org=org-b&service=AAOR&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z",
        headers=auth("org-b", "coordinator"),
    ).json()
    callback = next(r for r in report if r["standard"] == "AAOR_CALLBACK")
    assert (callback["total"], callback["met"], callback["breached"]) == (40, expected_met, expected_breached)
    assert expected_breached == 10
    assert callback["pct_met"] == 75.0
    assert callback["median_s"] == sorted(met_delays)[19] / 2 + sorted(met_delays)[20] / 2
    analysis = next(r for r in report if r["standard"] == "AAOR_ANALYSIS")
    assert analysis["total"] == 40
    assert analysis["met"] == 0  # never analysed: all breached after 10 days
    other = service.client.get("/v1/standards/compliance?org=org-z", headers=auth("org-b", "coordinator"))
    assert other.status_code == 403
