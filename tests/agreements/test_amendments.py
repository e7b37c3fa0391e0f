"""Changing the terms of a signed agreement: the new terms are proposed, and take effect only once every party has
signed them; until then the terms in force (shown, covering, published) stay the previous ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.main import outbox
from services.common.auth import PLATFORM_ORG
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


def sign(api: TestClient, auth: Auth, agreement_id: str, org: str, role: str = "coordinator") -> Any:
    """`org` signs the proposal it reads (named by its id)."""
    proposal = get(api, auth, agreement_id)["proposal"]
    return post(api, auth, agreement_id, "sign", org, role, proposal_id=proposal["id"])


def signers(signatures: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((s["party"], s["version"]) for s in signatures)


def test_an_amendment_by_one_party_is_a_proposal_until_every_party_signs_it(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    proposed = post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    assert proposed.status_code == 200, proposed.text
    signed_by_proposer = sign(network, auth, active["id"], REGIONAL).json()
    for pending in (proposed.json(), signed_by_proposer, get(network, auth, active["id"])):
        assert (pending["status"], pending["version"], pending["on_behalf"]) == ("ACTIVE", 1, [])
        assert pending["information_sharing"] == {"categories": ["IDENTIFICATION", "REFERRAL_REASON"]}
        assert signers(pending["signatures"]) == [(CSSS, 1), (REGIONAL, 1)]
        assert (pending["proposal"]["version"], pending["proposal"]["on_behalf"]) == (2, ON_CSSS_BEHALF["on_behalf"])
        assert pending["proposal"]["changes"] == ["information_sharing", "on_behalf"]
        assert pending["proposal"]["proposed_by_org"] == REGIONAL
    assert signers(signed_by_proposer["proposal"]["signatures"]) == [(REGIONAL, 2)]

    in_effect = sign(network, auth, active["id"], CSSS).json()
    assert (in_effect["status"], in_effect["version"], in_effect["proposal"]) == ("ACTIVE", 2, None)
    assert in_effect["on_behalf"] == ON_CSSS_BEHALF["on_behalf"]
    assert signers(in_effect["signatures"]) == [(CSSS, 2), (REGIONAL, 2)]
    coverage = {"from_org": CSSS, "to_org": REGIONAL, "service": SPECIALISED}
    assert network.get("/v1/coverage", params=coverage, headers=auth(CSSS, "intake")).json()["on_behalf"] is True


def test_a_party_cannot_sign_an_amendment_for_another(network: TestClient, auth: Auth, active: dict[str, Any]) -> None:
    post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    sign(network, auth, active["id"], REGIONAL)
    answers = [
        sign(network, auth, active["id"], REGIONAL).status_code,  # again, for itself
        sign(network, auth, active["id"], REGIONAL, "admin").status_code,  # its admin: still for itself
        sign(network, auth, active["id"], OUTSIDER, "admin").status_code,  # a non-party's admin
        sign(network, auth, active["id"], PLATFORM_ORG, "admin").status_code,  # the platform's: for no organisation
        sign(network, auth, active["id"], OUTSIDER).status_code,
    ]
    after = get(network, auth, active["id"])
    assert answers == [409, 409, 403, 403, 403]
    assert (after["version"], after["on_behalf"], signers(after["proposal"]["signatures"])) == (1, [], [(REGIONAL, 2)])


def test_a_new_proposal_replaces_the_pending_one_and_voids_its_signatures(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF)
    sign(network, auth, active["id"], CSSS)
    replaced = post(network, auth, active["id"], "amend", REGIONAL, title="Entente révisée").json()
    assert (replaced["proposal"]["changes"], replaced["proposal"]["signatures"]) == (["title"], [])
    in_effect = sign_all(network, auth, replaced)
    assert (in_effect["version"], in_effect["title"], in_effect["on_behalf"]) == (2, "Entente révisée", [])


def test_a_renewal_waits_for_every_party_and_a_proposal_lapses_when_the_agreement_is_terminated(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    proposed = post(network, auth, active["id"], "renew", CSSS, end="2028-12-31").json()
    sign(network, auth, active["id"], CSSS)
    terminated = post(network, auth, active["id"], "terminate", REGIONAL, reason="services transferred").json()
    late = post(network, auth, active["id"], "sign", REGIONAL, proposal_id=proposed["proposal"]["id"])
    assert (proposed["end"], proposed["proposal"]["change"], proposed["proposal"]["end"]) == (
        "2027-12-31",
        "renewed",
        "2028-12-31",
    )
    assert (terminated["status"], terminated["end"], terminated["proposal"]) == ("TERMINATED", "2027-12-31", None)
    assert (late.status_code, late.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
    assert "lapsed when the agreement became TERMINATED" in late.json()["detail"]


def test_an_amendment_whose_end_date_passes_before_the_last_signature_lapses(
    network: TestClient, auth: Auth, active: dict[str, Any], clock: ManualClock
) -> None:
    proposal = post(network, auth, active["id"], "amend", REGIONAL, end="2026-11-30").json()["proposal"]
    sign(network, auth, active["id"], REGIONAL)
    clock.advance(timedelta(days=7))  # the proposed end date is now past
    late = post(network, auth, active["id"], "sign", CSSS, proposal_id=proposal["id"])
    assert (late.status_code, late.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
    assert "lapsed at 2026-12-01T00:00:00-05:00: end:" in late.json()["detail"]
    assert application_of(network).tick() == 1
    after = get(network, auth, active["id"])
    assert (after["end"], after["proposal"]) == ("2027-12-31", None)
    assert history(network, auth, active["id"])[-1] == (
        "proposal-lapsed",
        "2026-12-01T00:00:00-05:00",
        "end: the terms of a signed agreement cannot end in the past",
    )


def history(api: TestClient, auth: Auth, agreement_id: str) -> list[tuple[str, str, str | None]]:
    changes = api.get(f"/v1/agreements/{agreement_id}/history", headers=auth(CSSS, "coordinator")).json()["changes"]
    return [(c["event"], c["occurred_at"], c["note"]) for c in changes]


def test_a_start_date_change_proposed_before_the_agreement_comes_into_force_lapses_when_it_does(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    drafted = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator")).json()
    signed = sign_all(network, auth, drafted)  # SIGNED, in force from 2027-01-01
    proposal = post(network, auth, signed["id"], "amend", REGIONAL, start="2027-02-01").json()["proposal"]
    sign(network, auth, signed["id"], REGIONAL)
    clock.advance(timedelta(days=40))
    assert application_of(network).tick() == 1
    after = get(network, auth, signed["id"])
    late = post(network, auth, signed["id"], "sign", CSSS, proposal_id=proposal["id"])
    assert (after["status"], after["start"], after["proposal"]) == ("ACTIVE", "2027-01-01", None)
    assert history(network, auth, signed["id"])[-2:] == [
        ("activated", "2027-01-01T00:00:00-05:00", None),
        ("proposal-lapsed", "2027-01-01T00:00:00-05:00", "start: an agreement in force keeps its start date"),
    ]
    assert late.status_code == 409 and "it lapsed at 2027-01-01T00:00:00-05:00" in late.json()["detail"]
    replaced = post(network, auth, signed["id"], "amend", REGIONAL, title="Entente révisée").json()
    assert sign_all(network, auth, replaced)["title"] == "Entente révisée"


def test_a_renewal_of_an_expired_agreement_lapses_once_its_end_date_passes(
    network: TestClient, auth: Auth, clock: ManualClock
) -> None:
    body = service_108(start="2026-01-01", end="2026-12-31")
    agreement = sign_all(
        network, auth, network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    )
    app = application_of(network)
    start = app.recorder.max_notification_id() or 0
    proposal = post(network, auth, agreement["id"], "renew", CSSS, end="2027-01-31").json()["proposal"]
    sign(network, auth, agreement["id"], CSSS)
    clock.advance(timedelta(days=40))
    expired = app.tick()  # expired on 2027-01-01; the renewal stays pending
    clock.advance(timedelta(days=30))
    renewal_ended = app.tick()  # its end date passed on 2027-02-01
    after = get(network, auth, agreement["id"])
    notifications = app.recorder.select_notifications(start=start, limit=100, inclusive_of_start=False)
    published = [o.event for n in notifications for o in outbox(app)(app.mapper.to_domain_event(n))]
    lapsed = published[-1]
    assert (expired, renewal_ended) == (1, 1)
    assert (after["status"], after["end"], after["proposal"]) == ("EXPIRED", "2026-12-31", None)
    assert [c[:2] for c in history(network, auth, agreement["id"])[-2:]] == [
        ("expired", "2027-01-01T00:00:00-05:00"),
        ("proposal-lapsed", "2027-02-01T00:00:00-05:00"),
    ]
    assert lapsed.type == "ca.qc.rls.agreements.proposal-lapsed.v1"
    assert (lapsed.data["proposal"], lapsed.data["lapsed_proposal"]["id"]) == (None, proposal["id"])
    assert lapsed.data["lapsed_proposal"]["field"] == "end"
    renewed = sign_all(network, auth, post(network, auth, agreement["id"], "renew", REGIONAL, end="2027-12-31").json())
    assert (renewed["status"], renewed["end"]) == ("ACTIVE", "2027-12-31")


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
    assert len({e.data["proposal"]["id"] for e in published[:3]}) == 1  # the proposal each signature named


def test_a_signature_names_the_proposal_it_approves_and_one_replaced_meanwhile_is_not_signed(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    narrow = {"summary": "typo fix", "information_sharing": {"categories": ["IDENTIFICATION"]}}
    read_by_csss = post(network, auth, active["id"], "amend", REGIONAL, **narrow).json()["proposal"]
    broader = post(network, auth, active["id"], "amend", REGIONAL, **ON_CSSS_BEHALF).json()["proposal"]
    sign(network, auth, active["id"], REGIONAL)
    swapped = post(network, auth, active["id"], "sign", CSSS, proposal_id=read_by_csss["id"])
    unnamed = post(network, auth, active["id"], "sign", CSSS)
    after = get(network, auth, active["id"])
    assert read_by_csss["version"] == broader["version"] and read_by_csss["id"] != broader["id"]
    assert (swapped.status_code, swapped.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
    assert f"replaced by proposal {broader['id']} of {REGIONAL}" in swapped.json()["detail"]
    assert (unnamed.status_code, problem_field(unnamed.json())) == (422, "proposal_id")
    assert (after["version"], after["on_behalf"], after["proposal"]["id"]) == (1, [], broader["id"])
    assert signers(after["proposal"]["signatures"]) == [(REGIONAL, 2)]
    in_effect = post(network, auth, active["id"], "sign", CSSS, proposal_id=broader["id"]).json()
    assert (in_effect["version"], in_effect["on_behalf"], in_effect["proposal"]) == (
        2,
        ON_CSSS_BEHALF["on_behalf"],
        None,
    )


def test_if_match_names_the_proposal_of_the_revision_read(
    network: TestClient, auth: Auth, active: dict[str, Any]
) -> None:
    first = post(network, auth, active["id"], "amend", REGIONAL, title="Entente révisée")
    read = first.headers["ETag"]
    same_terms_again = post(network, auth, active["id"], "amend", REGIONAL, title="Entente révisée")
    url = f"/v1/agreements/{active['id']}/sign"
    stale = network.post(url, headers={**auth(CSSS, "coordinator"), "If-Match": read})
    current = network.post(url, headers={**auth(CSSS, "coordinator"), "If-Match": same_terms_again.headers["ETag"]})
    assert first.json()["proposal"]["id"] != same_terms_again.json()["proposal"]["id"]
    assert (stale.status_code, current.status_code) == (409, 200)
    assert signers(current.json()["proposal"]["signatures"]) == [(CSSS, 2)]


def test_a_signature_of_a_draft_names_nothing_and_a_proposal_named_for_a_draft_is_refused(
    network: TestClient, auth: Auth
) -> None:
    drafted = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator")).json()
    named = post(network, auth, drafted["id"], "sign", CSSS, proposal_id="0" * 32)
    plain = post(network, auth, drafted["id"], "sign", CSSS)
    assert (named.status_code, plain.status_code, plain.json()["status"]) == (409, 200, "DRAFT")
    assert "no such proposal" in named.json()["detail"]
