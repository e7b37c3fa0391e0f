"""Dates an agreement or service hours may name (1900-01-01 to 9998-12-31), and agreements recorded with a date
past that range before it was bounded: they never break coverage, signatures or counting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements import domain
from services.agreements.application import AcceptedReferral, Agreements
from services.agreements.domain import AgreementInvalidError, ServiceHoursInvalidError
from services.agreements.terms import DEFAULT_ZONE
from services.common.clock import ManualClock
from tests.agreements.conftest import (
    CSSS,
    REGIONAL,
    actor,
    problem_field,
    register_network,
    service_108,
    service_terms,
    sign_all,
)

Auth = Callable[..., dict[str, str]]
Open = Callable[[str], Agreements]
SPECIALISED = "SPECIALISED_SERVICES"
MARCH = datetime(2027, 3, 1, 15, tzinfo=UTC)


def in_force(agreements: Agreements, **changes: Any) -> domain.Agreement:
    agreement, _ = agreements.draft(service_terms(**changes), actor(CSSS))
    agreements.sign(agreement.id, actor(CSSS))
    return agreements.sign(agreement.id, actor(REGIONAL))


# --- the range, in the API and in the domain -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"end": "9999-12-31"}, "end"),
        ({"start": "0001-01-01"}, "start"),
        ({"start": "1899-12-31"}, "start"),
    ],
)
def test_a_draft_dated_out_of_range_is_refused_naming_the_field(
    network: TestClient, auth: Auth, changes: dict[str, str], field: str
) -> None:
    response = network.post("/v1/agreements", json=service_108(**changes), headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == field


def test_the_range_s_bounds_are_accepted(network: TestClient, auth: Auth) -> None:
    body = service_108(start="1900-01-01", end="9998-12-31")
    response = network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 201, response.text


def test_an_amendment_or_renewal_dated_out_of_range_is_refused(network: TestClient, auth: Auth) -> None:
    agreement = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator")).json()
    url = f"/v1/agreements/{agreement['id']}"
    response = network.post(f"{url}/amend", json={"end": "9999-12-31"}, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == "end"
    sign_all(network, auth, agreement)
    response = network.post(f"{url}/renew", json={"end": "9999-12-31"}, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == "end"


def test_the_domain_refuses_terms_and_renewals_out_of_range(agreements: Agreements, clock: ManualClock) -> None:
    with pytest.raises(AgreementInvalidError) as refused:
        agreements.draft(service_terms(end=date(9999, 12, 31)), actor(CSSS))
    assert refused.value.field == "end"
    with pytest.raises(AgreementInvalidError) as refused:
        agreements.draft(service_terms(start=date(1, 1, 1)), actor(CSSS))
    assert refused.value.field == "start"
    agreement = in_force(agreements)
    clock.now = MARCH
    with pytest.raises(AgreementInvalidError) as refused:
        agreements.renew(agreement.id, date(9999, 12, 31), actor(CSSS))
    assert refused.value.field == "end"


@pytest.mark.parametrize("week_of", ["9999-12-31", "0001-01-01"])
def test_hours_conformance_of_a_week_out_of_range_is_refused(network: TestClient, auth: Auth, week_of: str) -> None:
    response = network.get("/v1/conformance/hours", params={"week_of": week_of}, headers=auth(CSSS, "admin"))
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == "week_of"


def test_hours_effective_out_of_range_are_refused(network: TestClient, auth: Auth, agreements: Agreements) -> None:
    body = {"weekly": [{"day": "MON", "opens": "08:00", "closes": "21:00", "channels": ["PHONE"]}]}
    url = f"/v1/organisations/{CSSS}/services/AAOR/hours"
    response = network.put(url, json={**body, "effective_from": "9999-12-31"}, headers=auth(CSSS, "coordinator"))
    assert response.status_code == 422, response.text
    assert problem_field(response.json()) == "effective_from"
    weekly = body["weekly"]
    with pytest.raises(ServiceHoursInvalidError) as refused:
        agreements.set_service_hours(CSSS, "AAOR", weekly, [], date(9999, 12, 31))
    assert refused.value.field == "effective_from"


# --- agreements recorded before the range was bounded -------------------------------------------------------------


@pytest.fixture
def unbounded(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Records as before dates were bounded, until the returned function restores the rule."""
    monkeypatch.setattr(domain, "out_of_range", lambda day: False)
    return monkeypatch.undo


@pytest.mark.parametrize("then", ["draft", "terminated", "in force"])
def test_a_stored_agreement_ending_on_the_calendar_s_last_day_breaks_no_coverage(
    open_app: Open, store_url: str, clock: ManualClock, unbounded: Callable[[], None], then: str
) -> None:
    first = open_app(store_url)
    register_network(first)
    good = in_force(first)
    stored, _ = first.draft(service_terms(end=date(9999, 12, 31)), actor(REGIONAL))
    if then == "terminated":
        first.terminate(stored.id, "entered by mistake", actor(REGIONAL))
    elif then == "in force":
        first.sign(stored.id, actor(CSSS))
        first.sign(stored.id, actor(REGIONAL))
    unbounded()

    agreements = open_app(store_url)  # built again from the stored events
    reread = agreements.get_agreement(stored.id)
    assert reread.terms.end == date(9999, 12, 31)
    assert reread.expiry_due_at() is None  # no expiry within the calendar
    coverage = agreements.coverage(CSSS, REGIONAL, SPECIALISED, MARCH)
    assert coverage is not None
    expected = {good.id, stored.id} if then == "in force" else {good.id}
    assert coverage.agreement.id in expected
    far = datetime(9999, 12, 31, 12, tzinfo=UTC)
    assert reread.status_at(far)[0] is {"draft": domain.DRAFT, "terminated": domain.TERMINATED}.get(then, domain.ACTIVE)
    clock.now = MARCH
    assert agreements.count_accepted_referral(AcceptedReferral("r-1", CSSS, REGIONAL, SPECIALISED, None, MARCH))
    agreements.tick()  # the scheduler finds nothing to overflow either


def test_a_stored_draft_ending_on_the_calendar_s_last_day_can_still_be_signed_and_read(
    open_app: Open, store_url: str, unbounded: Callable[[], None]
) -> None:
    first = open_app(store_url)
    register_network(first)
    stored, _ = first.draft(service_terms(end=date(9999, 12, 31)), actor(CSSS))
    unbounded()
    agreements = open_app(store_url)
    agreements.sign(stored.id, actor(CSSS))
    signed = agreements.sign(stored.id, actor(REGIONAL))
    assert signed.status is domain.SIGNED and signed.expiry_due_at() is None
    assert agreements.get_agreement(stored.id).status_at(MARCH)[0] is domain.ACTIVE
    assert signed.zone == DEFAULT_ZONE
