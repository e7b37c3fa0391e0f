"""Amendments stored with a null required term, before `/amend` refused nulls (`{"title": null}` was recorded): stored
events are history and stay readable. Such a null means "not amended": the term keeps its previous value for every
reader (the agreement and its list, its history, the directory, the scheduler, the events published on
`rls.agreements.v1`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.application import Agreements
from services.agreements.domain import Agreement
from services.agreements.main import outbox
from services.agreements.terms import REQUIRED_TERMS
from services.common.clock import ManualClock
from services.common.kafka import Outgoing
from services.common.relay import OutboxRelay
from services.contract import topics
from services.contract.agreements_events import AgreementStateV1
from services.contract.codes import AgreementStatus
from tests.agreements.conftest import CSSS, REGIONAL, actor, application_of, service_108, service_terms, sign_all

Auth = Callable[..., dict[str, str]]


def store(app: Agreements, agreement_id: uuid.UUID, event_class: type[Agreement.Event], **fields: Any) -> None:
    """Stores an event of the agreement as history holds it: built by the aggregate's own event class and recorded
    through the application's mapper, bypassing the request's validation and the domain's rules."""
    agreement = app.get_agreement(agreement_id)
    event = event_class(  # type: ignore[call-arg]
        originator_id=agreement.id,
        originator_version=agreement.version + 1,
        timestamp=Agreement.Event.create_timestamp(),
        occurred_at=app.clock(),
        **fields,
    )
    app.record(event)


def store_amendment(app: Agreements, agreement_id: uuid.UUID, field: str) -> None:
    """The amendment of a draft that `POST /amend {field: null}` recorded: the terms in force with `field` null."""
    terms = {**app.get_agreement(agreement_id).terms.to_document(), field: None}
    store(app, agreement_id, Agreement.Amended, terms=terms, amended_by="coordinator-of-csss-a", summary="avenant 1")


@pytest.mark.parametrize("field", REQUIRED_TERMS)
def test_an_amendment_stored_with_a_null_required_term_reads_with_the_term_unchanged(
    network: TestClient, auth: Auth, field: str
) -> None:
    draft = network.post("/v1/agreements", json=service_108(), headers=auth(CSSS, "coordinator")).json()
    url = f"/v1/agreements/{draft['id']}"
    store_amendment(application_of(network), uuid.UUID(draft["id"]), field)

    read = network.get(url, headers=auth(REGIONAL, "intake"))
    listed = network.get("/v1/agreements", params={"party": REGIONAL}, headers=auth(REGIONAL, "intake"))
    second = network.get(url, params={"version": 2}, headers=auth(REGIONAL, "intake"))
    history = network.get(f"{url}/history", headers=auth(CSSS, "coordinator"))
    assert [r.status_code for r in (read, listed, second, history)] == [200] * 4, read.text
    assert (read.json()["version"], read.json()[field]) == (2, draft[field])
    assert [(a["id"], a[field]) for a in listed.json()["items"]] == [(draft["id"], draft[field])]
    assert second.json()[field] == draft[field]
    assert [v[field] for v in history.json()["versions"]] == [draft[field], draft[field]]
    assert [c["event"] for c in history.json()["changes"]] == ["drafted", "amended"]


def test_a_proposal_stored_with_a_null_required_term_proposes_no_change_of_it_and_takes_effect_once_signed(
    network: TestClient, auth: Auth
) -> None:
    drafted = network.post("/v1/agreements", json=service_108(start="2026-01-01"), headers=auth(CSSS, "coordinator"))
    active = sign_all(network, auth, drafted.json())
    app = application_of(network)
    agreement_id = uuid.UUID(active["id"])
    proposed = {**app.get_agreement(agreement_id).terms.to_document(), "title": None, "mechanisms": []}
    store(
        app,
        agreement_id,
        Agreement.AmendmentProposed,
        terms=proposed,
        change="amended",
        proposed_by="coordinator-of-regional-b",
        party=REGIONAL,
        summary="avenant 1",
    )

    read = network.get(f"/v1/agreements/{active['id']}", headers=auth(CSSS, "intake"))
    assert read.status_code == 200, read.text
    proposal = read.json()["proposal"]
    assert (proposal["title"], proposal["changes"]) == (active["title"], ["mechanisms"])
    in_effect = sign_all(network, auth, read.json())
    assert (in_effect["version"], in_effect["title"], in_effect["mechanisms"]) == (2, active["title"], [])


class Publisher:
    """What the relay publishes and dead-letters."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.dead: list[tuple[Outgoing, str]] = []

    def publish(self, messages: Sequence[Outgoing]) -> None:
        self.sent.extend(messages)

    def dead_letter(self, message: Outgoing, reason: str) -> None:
        self.dead.append((message, reason))


@pytest.mark.parametrize("field", REQUIRED_TERMS)
def test_the_relay_publishes_an_amendment_stored_with_a_null_required_term_with_the_term_unchanged(
    agreements: Agreements, field: str
) -> None:
    draft, _ = agreements.draft(service_terms(), actor(CSSS))
    drafted = draft.terms.to_document()
    store_amendment(agreements, draft.id, field)
    publisher = Publisher()
    relay = OutboxRelay(agreements, outbox(agreements), publisher, dead_letter_topic=topics.AGREEMENTS)

    while relay.run_once():
        pass

    published = publisher.sent[-1].event
    state = AgreementStateV1.model_validate(published.data)  # the contract the consent service and the audit read
    assert publisher.dead == []
    assert (published.type, state.version) == ("ca.qc.rls.agreements.amended.v1", 2)
    assert published.data[field] == drafted[field]


def test_the_scheduler_moves_the_other_agreements_on_past_one_with_an_amendment_stored_with_a_null_review_interval(
    agreements: Agreements, clock: ManualClock
) -> None:
    stored, _ = agreements.draft(service_terms(), actor(CSSS))
    store_amendment(agreements, stored.id, "review_every_months")  # unread, it stopped every tick of every agreement
    signed, _ = agreements.draft(service_terms(), actor(CSSS))
    for party in (CSSS, REGIONAL):
        agreements.sign(signed.id, actor(party))
    clock.advance(timedelta(days=40))  # past the start date, 2027-01-01

    assert agreements.tick() == 1
    assert agreements.get_agreement(signed.id).status is AgreementStatus.ACTIVE
