"""Saying no to a proposed change of a signed agreement's terms: a party declines it (its proposer's own party
withdraws it), stating why. The proposal closes with its signatures; the terms in force, the status and the coverage
stay as they were, and a later signature naming it is refused with what became of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from services.agreements.application import Actor, Agreements
from services.agreements.domain import (
    Agreement,
    AgreementNotPartyError,
    AgreementTransitionError,
    InvalidFieldError,
    ProposalConflictError,
)
from services.agreements.main import outbox
from services.common.auth import PLATFORM_ORG
from services.common.kafka import Outgoing
from services.contract import topics
from services.contract.agreements_events import EVENTS
from tests.agreements.conftest import (
    CSSS,
    OUTSIDER,
    REGIONAL,
    actor,
    application_of,
    problem_field,
    service_108,
    service_terms,
    sign_all,
)

Auth = Callable[..., dict[str, str]]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
DECLINED = "ca.qc.rls.agreements.proposal-declined.v1"
DRAFTED_AT = datetime(2026, 11, 20, 15, tzinfo=UTC)
LATER = datetime(2026, 11, 25, 15, tzinfo=UTC)


def in_force_with_proposal() -> tuple[Agreement, str]:
    """An agreement in force since 2026-11-20, and the amendment REGIONAL proposed (and signed) on 2026-11-25."""
    agreement = Agreement(
        id=uuid.uuid4(),
        terms=service_terms(start=DRAFTED_AT.date()).to_document(),
        drafted_by="coordinator-1",
        occurred_at=DRAFTED_AT,
        zone="America/Montreal",
        request_digest=None,
    )
    agreement.sign(CSSS, "coordinator-1", DRAFTED_AT)
    agreement.sign(REGIONAL, "coordinator-2", DRAFTED_AT)
    agreement.amend(service_terms(start=DRAFTED_AT.date(), title="Entente révisée"), "coordinator-2", REGIONAL, LATER)
    assert agreement.proposal is not None
    agreement.sign(REGIONAL, "coordinator-2", LATER, agreement.proposal.id)
    return agreement, agreement.proposal.id


def in_force_state(agreement: Agreement) -> tuple[Any, ...]:
    """What a refusal leaves as it was: the terms in force and their version, the status, their signatures."""
    return (agreement.terms, agreement.terms_version, agreement.status, dict(agreement.signatures))


# --- the domain -----------------------------------------------------------------------------------------------


def test_the_other_party_declining_closes_the_proposal_and_the_terms_in_force_stay() -> None:
    agreement, proposal_id = in_force_with_proposal()
    before = in_force_state(agreement)
    agreement.decline(CSSS, "coordinator-1", "the title stays", LATER, proposal_id)
    assert agreement.proposal is None
    assert in_force_state(agreement) == before
    assert agreement.terms.title == "Entente de service"
    assert agreement.closed_proposals[proposal_id] == (
        f"it was declined by {CSSS} at {LATER.isoformat()}: the title stays"
    )
    covering = agreement.covering(CSSS, REGIONAL, "SPECIALISED_SERVICES", LATER)
    assert covering is not None and covering.number == 1


def test_the_proposer_declining_its_own_proposal_withdraws_it() -> None:
    agreement, proposal_id = in_force_with_proposal()
    agreement.decline(REGIONAL, "coordinator-2", "proposed by mistake", LATER, proposal_id)
    assert (agreement.proposal, agreement.terms_version, agreement.status.value) == (None, 1, "ACTIVE")
    assert agreement.closed_proposals[proposal_id] == (
        f"it was withdrawn by {REGIONAL}, its proposer, at {LATER.isoformat()}: proposed by mistake"
    )


def test_an_organisation_not_party_to_the_agreement_cannot_decline_its_proposal() -> None:
    agreement, proposal_id = in_force_with_proposal()
    with pytest.raises(AgreementNotPartyError):
        agreement.decline(OUTSIDER, "coordinator-5", "not ours", LATER, proposal_id)
    assert agreement.proposal is not None and agreement.proposal.id == proposal_id


def test_a_replaced_proposal_is_not_declined_and_the_one_replacing_it_stays_pending() -> None:
    agreement, read = in_force_with_proposal()
    agreement.amend(
        service_terms(start=DRAFTED_AT.date(), clientele="Adults and youth"), "coordinator-2", REGIONAL, LATER
    )
    assert agreement.proposal is not None
    replacing = agreement.proposal.id
    with pytest.raises(ProposalConflictError, match=f"it was replaced by proposal {replacing} of {REGIONAL}"):
        agreement.decline(CSSS, "coordinator-1", "not that title", LATER, read)
    assert agreement.proposal is not None and agreement.proposal.id == replacing


def test_a_signature_naming_a_declined_proposal_is_refused_with_the_decline() -> None:
    agreement, proposal_id = in_force_with_proposal()
    agreement.decline(CSSS, "coordinator-1", "the title stays", LATER, proposal_id)
    with pytest.raises(ProposalConflictError, match=f"it was declined by {CSSS} at .*: the title stays"):
        agreement.sign(CSSS, "coordinator-1", LATER, proposal_id)
    assert (agreement.proposal, agreement.terms_version) == (None, 1)


def test_a_refusal_names_the_proposal_and_states_its_reason() -> None:
    agreement, proposal_id = in_force_with_proposal()
    with pytest.raises(InvalidFieldError) as unnamed:
        agreement.decline(CSSS, "coordinator-1", "the title stays", LATER)
    with pytest.raises(InvalidFieldError) as blank:
        agreement.decline(CSSS, "coordinator-1", "  ", LATER, proposal_id)
    assert (unnamed.value.field, blank.value.field) == ("proposal_id", "reason")
    assert agreement.proposal is not None


def test_declining_again_or_with_nothing_pending_is_refused() -> None:
    agreement, proposal_id = in_force_with_proposal()
    agreement.decline(CSSS, "coordinator-1", "the title stays", LATER, proposal_id)
    with pytest.raises(ProposalConflictError, match=f"not pending: it was declined by {CSSS}"):
        agreement.decline(CSSS, "coordinator-1", "the title stays", LATER, proposal_id)
    with pytest.raises(AgreementTransitionError, match="nothing to decline"):
        agreement.decline(CSSS, "coordinator-1", "the title stays", LATER)


# --- the application: history and what is published ------------------------------------------------------------


def published_since(agreements: Agreements, start: int) -> list[Outgoing]:
    mapper = outbox(agreements)
    notifications = agreements.recorder.select_notifications(start=start, limit=100, inclusive_of_start=False)
    return [o for n in notifications for o in mapper(agreements.mapper.to_domain_event(n))]


def proposed(agreements: Agreements) -> tuple[Agreement, str]:
    """An agreement in force between CSSS and REGIONAL, and REGIONAL's amendment of its title."""
    agreement, _ = agreements.draft(service_terms(start=DRAFTED_AT.date()), actor(CSSS))
    agreements.sign(agreement.id, actor(CSSS))
    agreements.sign(agreement.id, actor(REGIONAL))
    amended = agreements.amend(agreement.id, {"title": "Entente révisée"}, actor(REGIONAL), summary="new title")
    assert amended.proposal is not None
    return amended, amended.proposal.id


def test_a_decline_named_by_the_revision_read_is_recorded_in_the_history(agreements: Agreements) -> None:
    agreement, proposal_id = proposed(agreements)
    declined = agreements.decline(agreement.id, "the title stays", actor(CSSS), expected_revision=agreement.version)
    change = agreements.history(agreement.id)[-1]
    assert declined.proposal is None
    assert declined.closed_proposals[proposal_id].startswith(f"it was declined by {CSSS}")
    assert (change.event, change.by, change.party, change.note) == (
        "proposal-declined",
        f"coordinator-of-{CSSS}",
        CSSS,
        "the title stays",
    )
    assert (change.status.value, change.version) == ("ACTIVE", 1)


def test_a_platform_admin_declines_only_for_its_own_organisation(agreements: Agreements) -> None:
    agreement, proposal_id = proposed(agreements)
    with pytest.raises(AgreementNotPartyError):
        agreements.decline(agreement.id, "no", Actor("admin-5", OUTSIDER, override=True), proposal_id=proposal_id)
    assert agreements.get_agreement(agreement.id).proposal is not None


def test_the_published_decline_carries_the_terms_in_force_and_validates_against_its_schema(
    agreements: Agreements,
) -> None:
    agreement, proposal_id = proposed(agreements)
    start = agreements.recorder.max_notification_id() or 0
    agreements.decline(agreement.id, "proposed by mistake", actor(REGIONAL), proposal_id=proposal_id)
    (message,) = published_since(agreements, start)
    data = message.event.data
    jsonschema.validate(data, json.loads((SCHEMAS / f"{DECLINED}.json").read_text()))
    EVENTS[message.event.type].model_validate(data)
    assert (message.event.type, message.topic, message.key) == (DECLINED, topics.AGREEMENTS, str(agreement.id))
    assert data["declined_proposal"] == {
        "id": proposal_id,
        "declined_by_org": REGIONAL,
        "proposed_by_org": REGIONAL,
        "reason": "proposed by mistake",
    }
    assert (data["proposal"], data["lapsed_proposal"], data["version"], data["status"]) == (None, None, 1, "ACTIVE")
    assert (data["title"], data["signed_by"]) == ("Entente de service", [CSSS, REGIONAL])


# --- the API --------------------------------------------------------------------------------------------------


@pytest.fixture
def amended(network: TestClient, auth: Auth) -> dict[str, Any]:
    """An agreement in force, with REGIONAL's amendment of its title pending (signed by REGIONAL)."""
    body = service_108(start="2026-01-01")
    active = sign_all(
        network, auth, network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    )
    url = f"/v1/agreements/{active['id']}"
    proposal = network.post(f"{url}/amend", json={"title": "Entente révisée"}, headers=auth(REGIONAL, "coordinator"))
    signed = network.post(
        f"{url}/sign", json={"proposal_id": proposal.json()["proposal"]["id"]}, headers=auth(REGIONAL, "coordinator")
    )
    assert signed.status_code == 200, signed.text
    return dict(signed.json())


def decline(api: TestClient, auth: Auth, agreement_id: str, org: str, role: str = "coordinator", **body: Any) -> Any:
    return api.post(f"/v1/agreements/{agreement_id}/decline", json=body, headers=auth(org, role))


def test_a_party_declines_the_proposal_and_a_later_signature_of_it_is_a_conflict(
    network: TestClient, auth: Auth, amended: dict[str, Any]
) -> None:
    proposal_id = amended["proposal"]["id"]
    declined = decline(network, auth, amended["id"], CSSS, proposal_id=proposal_id, reason="the title stays")
    late = network.post(
        f"/v1/agreements/{amended['id']}/sign", json={"proposal_id": proposal_id}, headers=auth(CSSS, "coordinator")
    )
    again = decline(network, auth, amended["id"], CSSS, proposal_id=proposal_id, reason="the title stays")
    assert declined.status_code == 200, declined.text
    shown = declined.json()
    assert (shown["proposal"], shown["version"], shown["title"], shown["status"]) == (
        None,
        1,
        amended["title"],
        "ACTIVE",
    )
    assert shown["signatures"] == amended["signatures"]
    assert declined.headers["ETag"] == str(shown["revision"])
    for refused in (late, again):
        assert (refused.status_code, refused.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
        assert f"it was declined by {CSSS}" in refused.json()["detail"]
        assert "the title stays" in refused.json()["detail"]
    coverage = {"from_org": CSSS, "to_org": REGIONAL, "service": "SPECIALISED_SERVICES"}
    covered = network.get("/v1/coverage", params=coverage, headers=auth(CSSS, "intake")).json()
    assert (covered["agreement_id"], covered["version"]) == (amended["id"], 1)


def test_the_proposer_withdraws_its_proposal_named_by_if_match(
    network: TestClient, auth: Auth, amended: dict[str, Any]
) -> None:
    url = f"/v1/agreements/{amended['id']}/decline"
    headers = {**auth(REGIONAL, "coordinator"), "If-Match": str(amended["revision"])}
    withdrawn = network.post(url, json={"reason": "proposed by mistake"}, headers=headers)
    history = network.get(f"/v1/agreements/{amended['id']}/history", headers=auth(CSSS, "intake")).json()["changes"]
    assert (withdrawn.status_code, withdrawn.json()["proposal"]) == (200, None)
    assert {k: history[-1][k] for k in ("event", "party", "note")} == {
        "event": "proposal-declined",
        "party": REGIONAL,
        "note": "proposed by mistake",
    }


def test_a_refusal_without_a_reason_or_a_proposal_named_is_a_validation_problem(
    network: TestClient, auth: Auth, amended: dict[str, Any]
) -> None:
    proposal_id = amended["proposal"]["id"]
    answers = [
        decline(network, auth, amended["id"], CSSS, proposal_id=proposal_id),
        decline(network, auth, amended["id"], CSSS, proposal_id=proposal_id, reason=" "),
        decline(network, auth, amended["id"], CSSS, proposal_id=proposal_id, reason="x" * 501),
        decline(network, auth, amended["id"], CSSS, reason="the title stays"),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"] == "urn:ca.qc.rls:problem:validation"
    assert [problem_field(a.json()) for a in answers] == ["reason", "reason", "reason", "proposal_id"]
    after = network.get(f"/v1/agreements/{amended['id']}", headers=auth(CSSS, "intake")).json()
    assert after["proposal"]["id"] == proposal_id


def test_an_organisation_not_party_is_refused_as_the_sign_route_refuses_it(
    network: TestClient, auth: Auth, amended: dict[str, Any]
) -> None:
    proposal_id = amended["proposal"]["id"]
    body = {"proposal_id": proposal_id, "reason": "not ours"}
    for org, role in ((OUTSIDER, "coordinator"), (OUTSIDER, "admin"), (PLATFORM_ORG, "admin")):  # the platform's
        named = {"proposal_id": proposal_id}  # admin acts on any agreement, but declines for no organisation either
        signed = network.post(f"/v1/agreements/{amended['id']}/sign", json=named, headers=auth(org, role))
        declined = decline(network, auth, amended["id"], org, role, **body)
        assert (declined.status_code, signed.status_code) == (403, 403), declined.text
        assert declined.headers["content-type"].startswith("application/problem+json")
        assert declined.json()["type"] == signed.json()["type"] == "urn:ca.qc.rls:problem:forbidden"
    intake = decline(network, auth, amended["id"], CSSS, "intake", **body)
    assert intake.status_code == 403 and "requires one of the roles" in intake.text
    after = network.get(f"/v1/agreements/{amended['id']}", headers=auth(CSSS, "intake")).json()
    assert after["proposal"]["id"] == proposal_id


def test_a_refusal_with_nothing_pending_is_a_conflict(network: TestClient, auth: Auth) -> None:
    body = service_108(start="2026-01-01")
    active = sign_all(
        network, auth, network.post("/v1/agreements", json=body, headers=auth(CSSS, "coordinator")).json()
    )
    unnamed = decline(network, auth, active["id"], CSSS, reason="nothing to say no to")
    named = decline(network, auth, active["id"], CSSS, proposal_id="0" * 32, reason="nothing to say no to")
    assert (unnamed.status_code, unnamed.json()["type"]) == (409, "urn:ca.qc.rls:problem:transition-impossible")
    assert (named.status_code, named.json()["type"]) == (409, "urn:ca.qc.rls:problem:version-conflict")
    assert "no such proposal" in named.json()["detail"]


def test_a_decline_is_published_once_in_effect(network: TestClient, auth: Auth, amended: dict[str, Any]) -> None:
    app = application_of(network)
    start = app.recorder.max_notification_id() or 0
    decline(network, auth, amended["id"], CSSS, proposal_id=amended["proposal"]["id"], reason="the title stays")
    published = published_since(app, start)
    assert [m.event.type for m in published] == [DECLINED]
    assert published[0].event.data["declined_proposal"]["declined_by_org"] == CSSS
    assert published[0].event.id == published_since(app, start)[0].event.id  # re-published: the same id
