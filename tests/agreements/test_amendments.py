"""Changing the terms of a signed agreement: the new terms are proposed, and take effect only once every party has
signed them; until then the terms in force (shown, covering, published) stay the previous ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.main import outbox
from services.common.clock import ManualClock
from tests.agreements.conftest import (
    CSSS,
    OUTSIDER,
    REGIONAL,
    application_of,
    problem_field,
    service_108,
    sign_all,
)

Auth = Callable[..., dict[str, str]]
SPECIALISED = "SPECIALISED_SERVICES"
ON_CSSS_BEHALF = {
    "on_behalf": [{"of_org": CSSS, "services": [SPECIALISED]}],
    "information_sharing": {"categories": ["IDENTIFICATION", "REFERRAL_REASON", "ASSESSMENT", "HEALTH"]},
    "summary": "services provided on the CSSS's behalf",
}


@pytest.fixture
def active(network: TestClient, auth: Auth) -> dict[str, Any]:
    body = service_108(start="2026-01-01")
    return sign_all(network, auth, network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json())


def post(
    api: TestClient, auth: Auth, agreement_id: str, command: str, org: str, role: str = "coordinator", **body: Any
) -> Any:
    return api.post(f"/v1/agreements/{agreement_id}/{command}", json=body or None, headers=auth(org, role))


def get(api: TestClient, auth: Auth, agreement_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/agreements/{agreement_id}", headers=auth(OUTSIDER, "intake")).json())


def signers(signatures: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((s["party"], s["version"]) for s in signatures)


def test_an_amendment_by_one_party_is_a_proposal_until_every_party_signs_it(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    proposed = post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    assert proposed.status_code == 200, proposed.text
    signed_by_proposer = post(network, auth, active["id"], "sign", REGIONAL).json()
    for pending in (proposed.json(), signed_by_proposer, get(network, auth, active["id"])):
        assert (pending["status"], pending["version"], pending["on_behalf"]) == ("ACTIVE", 1, [])
        assert pending["information_sharing"] == {"categories": ["IDENTIFICATION", "REFERRAL_REASON"]}
        assert signers(pending["signatures"]) == [(CSSS, 1), (REGIONAL, 1)]
        assert (pending["proposal"]["version"], pending["proposal"]["on_behalf"]) == (2, ON_CSSS_BEHALF["on_behalf"])
        assert pending["proposal"]["changes"] == ["information_sharing", "on_behalf"]
        assert pending["proposal"]["proposed_by_org"] == REGIONAL
    assert signers(signed_by_proposer["proposal"]["signatures"]) == [(REGIONAL, 2)]

    in_effect = post(network, auth, active["id"], "sign", CSSS).json()
    assert (in_effect["status"], in_effect["version"], in_effect["proposal"]) == ("ACTIVE", 2, None)
    assert in_effect["on_behalf"] == ON_CSSS_BEHALF["on_behalf"]
    assert signers(in_effect["signatures"]) == [(CSSS, 2), (REGIONAL, 2)]
    coverage = {"from_org": CSSS, "to_org": REGIONAL, "service": SPECIALISED}
    assert network.get("/v1/coverage", params=coverage, headers=auth(CSSS, "intake")).json()["on_behalf"] is True


def test_a_party_cannot_sign_an_amendment_for_another(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    post(network, auth, active["id"], "sign", REGIONAL)
    answers = [
        post(network, auth, active["id"], "sign", REGIONAL).status_code,  # again, for itself
        post(network, auth, active["id"], "sign", REGIONAL, "admin").status_code,  # its admin: still for itself
        post(network, auth, active["id"], "sign", OUTSIDER, "admin").status_code,  # a platform admin of a non-party
        post(network, auth, active["id"], "sign", OUTSIDER).status_code,
    ]
    after = get(network, auth, active["id"])
    assert answers == [409, 409, 403, 403]
    assert (after["version"], after["on_behalf"], signers(after["proposal"]["signatures"])) == (1, [], [(REGIONAL, 2)])


def test_a_new_proposal_replaces_the_pending_one_and_voids_its_signatures(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    post(network, auth, active["id"], "sign", CSSS)
    replaced = post(network, auth, active["id"], "amend", REGIONAL, title="Entente révisée").json()
    assert (replaced["proposal"]["changes"], replaced["proposal"]["signatures"]) == (["title"], [])
    in_effect = sign_all(network, auth, replaced)
    assert (in_effect["version"], in_effect["title"], in_effect["on_behalf"]) == (2, "Entente révisée", [])


def test_a_renewal_waits_for_every_party_and_a_proposal_lapses_when_the_agreement_is_terminated(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    proposed = post(network, auth, active["id"], "renew", CSSS, end="2028-12-31").json()
    post(network, auth, active["id"], "sign", CSSS)
    terminated = post(network, auth, active["id"], "terminate", REGIONAL, reason="services transferred").json()
    late = post(network, auth, active["id"], "sign", REGIONAL)
    assert (proposed["end"], proposed["proposal"]["change"], proposed["proposal"]["end"]) == (
        "2027-12-31",
        "renewed",
        "2028-12-31",
    )
    assert (terminated["status"], terminated["end"], terminated["proposal"]) == ("TERMINATED", "2027-12-31", None)
    assert late.status_code == 409


def test_an_amendment_that_no_longer_fits_when_the_last_party_signs_is_refused(
    network: TestClient, auth: Auth, active: dict[str, Any], clock: ManualClock
) -> None:
    post(network, auth, active["id"], "amend", REGIONAL, end="2026-11-30")
    post(network, auth, active["id"], "sign", REGIONAL)
    clock.advance(timedelta(days=7))  # the proposed end date is now past
    late = post(network, auth, active["id"], "sign", CSSS)
    assert late.status_code == 422 and problem_field(late.json()) == "end"
    assert get(network, auth, active["id"])["end"] == "2027-12-31"


def test_only_the_terms_in_force_are_published_until_every_party_signed(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    app = application_of(network)
    start = app.recorder.max_notification_id() or 0
    post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    sign_all(network, auth, active)
    mapper = outbox(app)
    notifications = app.recorder.select_notifications(start=start, limit=100, inclusive_of_start=False)
    published = [o.event for n in notifications for o in mapper(app.mapper.to_domain_event(n))]
    states = [(e.type.split(".")[-2], e.data["version"], e.data["on_behalf"], e.data["signed_by"]) for e in published]
    proposal = published[0].data["proposal"]
    assert states == [
        ("amendment-proposed", 1, [], [CSSS, REGIONAL]),
        ("signed", 1, [], [CSSS, REGIONAL]),
        ("signed", 1, [], [CSSS, REGIONAL]),
        ("amended", 2, ON_CSSS_BEHALF["on_behalf"], [CSSS, REGIONAL]),
    ]
    assert (proposal["version"], proposal["changes"], proposal["signed_by"]) == (
        2,
        ["information_sharing", "on_behalf"],
        [],
    )
    assert [e.data["proposal"] is None for e in published] == [False, False, False, True]
