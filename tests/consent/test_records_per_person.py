"""How many records one person may have on file. A consent's lists are bounded, but nothing bounded how many consents,
restrictions and refusals a person had: every decision about them read them all, and its event carried each consent
naming its recipient whole (a hundred recipients, fifty disclosers): about a hundred of the largest made a decision's
event larger than Kafka takes, and the relay could not publish it. Now an organisation has at most
`CONSENT_MAX_RECORDS_PER_PERSON` records on file for a person (withdrawn ones included: decisions still read them), a
decision reads only those its two parties hold, and keeps of each only what concerns its parties. The bound was first
the person's, shared by every organisation: any of them filled it, blocking the person's own establishment, and
counted through its 409 the records the others held (privacy review of 2026-12)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent import inbound
from services.consent.application import (
    RECORDS_PER_PERSON,
    RECORDS_PER_PERSON_MAX,
    Actor,
    Consents,
    ConsentTerms,
    DecisionRequest,
)
from services.consent.domain import RecordLimitReachedError
from services.consent.engine import evaluate
from services.consent.outbound import consent_messages
from services.consent.policy import DecisionInput, Facts
from services.consent.settings import ConsentSettings
from services.contract.codes import GrantorRole, InfoCategory, OrgKind, Purpose
from tests.consent.conftest import DISCLOSER, PINNED, SUBJECT, T0, organisation_event
from tests.consent.test_api import CONSENT
from tests.consent.test_engine_properties import ORGS, histories, requests
from tests.consent.test_request_bounds import KAFKA_RECORD_LIMIT, REFUSAL, RESTRICTION

Auth = Callable[..., dict[str, str]]
DECIDED = "ca.qc.rls.consent.decided.v1"


# --- the bound over the API --------------------------------------------------------------------------------------


def _refused(response: Any) -> None:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"].endswith(":record-limit-reached"), problem
    assert problem["field"] == "subject_id" and [e["field"] for e in problem["errors"]] == ["subject_id"], problem
    assert SUBJECT not in response.text, "the problem does not name the person"


def test_a_record_beyond_the_persons_bound_is_a_409_naming_subject_id(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    api = consent_api(max_records_per_person=3)
    intake, other_org = auth(DISCLOSER, "intake"), auth("org-gamma", "intake")
    first = api.post("/v1/consents", json=CONSENT, headers={**intake, "Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert api.post("/v1/restrictions", json=RESTRICTION, headers=intake).status_code == 201
    assert api.post("/v1/refusals", json=REFUSAL, headers=intake).status_code == 201

    for path, body in (("/v1/consents", CONSENT), ("/v1/restrictions", RESTRICTION), ("/v1/refusals", REFUSAL)):
        _refused(api.post(path, json=body, headers=intake))
        assert api.post(path, json=body, headers=other_org).status_code == 201, "the bound is each holder's"
    withdrawn = api.post(f"/v1/consents/{first.json()['id']}/withdraw", json={}, headers=intake)
    assert withdrawn.status_code == 200, withdrawn.text
    _refused(api.post("/v1/consents", json=CONSENT, headers=intake))  # a decision still reads a withdrawn consent

    retried = api.post("/v1/consents", json=CONSENT, headers={**intake, "Idempotency-Key": "k-1"})
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true", "answered as the first"
    someone_else = {**CONSENT, "subject_id": "S-000456"}
    assert api.post("/v1/consents", json=someone_else, headers=intake).status_code == 201


def _fill(api: TestClient, headers: dict[str, str], subject_id: str) -> int:
    """How many restrictions `headers`' organisation records about the person before its 409."""
    for recorded in range(RECORDS_PER_PERSON_MAX + 1):
        made = api.post("/v1/restrictions", json={**RESTRICTION, "subject_id": subject_id}, headers=headers)
        if made.status_code == 409:
            _refused(made)
            return recorded
        assert made.status_code == 201, made.text
    raise AssertionError("no bound")


def test_an_organisation_neither_fills_nor_counts_anothers_records_about_a_person(
    consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """From the privacy review: an organisation with no tie to the person counted, from where its 409 came, the
    records others hold about them, and filling the bound barred the person's establishment from recording their
    consent."""
    api = consent_api(max_records_per_person=5)
    holder, stranger = auth(DISCLOSER, "intake"), auth("org-stranger", "intake")
    for _ in range(3):
        assert api.post("/v1/consents", json=CONSENT, headers=holder).status_code == 201

    about_the_client, about_nobody = _fill(api, stranger, SUBJECT), _fill(api, stranger, "S-000456")

    assert about_the_client == about_nobody == 5, "the 409 tells nothing of the others' records"
    assert api.post("/v1/consents", json=CONSENT, headers=holder).status_code == 201, "the person's own establishment"


def test_the_bound_is_a_setting_within_what_keeps_decisions_below_kafkas_limit(
    service_settings: Callable[..., ConsentSettings],
) -> None:
    """`CONSENT_MAX_RECORDS_PER_PERSON`: a deployment may set less, or more up to the largest the test below holds."""
    assert service_settings(ConsentSettings).max_records_per_person == RECORDS_PER_PERSON
    largest = service_settings(ConsentSettings, max_records_per_person=RECORDS_PER_PERSON_MAX)
    assert largest.max_records_per_person == RECORDS_PER_PERSON_MAX
    for beyond in (0, RECORDS_PER_PERSON_MAX + 1):
        with pytest.raises(ValidationError, match="max_records_per_person"):
            service_settings(ConsentSettings, max_records_per_person=beyond)


# --- a decision about a person at the bound ----------------------------------------------------------------------

PARTY = "{}-" + "x" * 58
"""Organisation ids of the largest length (63 characters), as every one these records name."""
ONE, OTHER = PARTY.format("disc"), PARTY.format("reci")


def _largest_consent() -> ConsentTerms:
    """A consent as large as a body may give: a curator's, stating every purpose in its scope, every purpose,
    category and kind, a hundred recipients (the decision's among them) and fifty disclosers (its discloser among
    them), each id of the largest length."""
    kinds = tuple(k.value for k in OrgKind)
    return ConsentTerms(
        subject_id=SUBJECT,
        subject_birth_date=date(1950, 3, 1),
        grantor_role=GrantorRole.CURATOR.value,
        grantor_mandate_ref="J-2020-1",
        grantor_scope=tuple(p.value for p in Purpose),
        method="WRITTEN",
        purposes=tuple(p.value for p in Purpose),
        recipient_org_ids=(*(PARTY.format(f"r{i:03d}") for i in range(99 - len(kinds))), OTHER),
        recipient_kinds=kinds,
        categories=tuple(c.value for c in InfoCategory),
        valid_from=T0 - timedelta(days=30),
        valid_until=T0 + timedelta(days=300),
        discloser_org_ids=(*(PARTY.format(f"d{i:03d}") for i in range(49)), ONE),
    )


def test_a_decision_about_a_person_at_the_largest_bound_stays_below_half_of_kafkas_limit() -> None:
    """The most records a deployment may let each of a decision's parties keep for a person, each the largest
    consent a body may give, every one concerning the decision's parties (the recipient's naming the discloser among
    its disclosers) and withdrawn (a reason each in the decision besides its fact): the decision's event stays below
    half of a Kafka record's limit. Kept whole, the first hundred of them outgrew it. A third organisation's records
    are not read."""
    parties = (Actor("worker-1", ONE), Actor("worker-2", OTHER))
    with Consents(
        env=persistence_env("memory://"),
        clock=ManualClock(T0),
        regime_setting=PINNED,
        records_per_person=RECORDS_PER_PERSON_MAX,
    ) as app:
        handle = inbound.handler(app)
        handle(organisation_event(ONE, OrgKind.CSSS, T0 - timedelta(days=90)), Tracking("a#0", 1))
        handle(organisation_event(OTHER, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90)), Tracking("a#0", 2))
        for worker in parties:
            for _ in range(RECORDS_PER_PERSON_MAX):
                consent, _ = app.record_consent(_largest_consent(), worker)
                app.withdraw_consent(uuid.UUID(consent.consent_id), worker)
            with pytest.raises(RecordLimitReachedError):
                app.record_consent(_largest_consent(), worker)
        app.record_consent(_largest_consent(), Actor("worker-3", PARTY.format("third")))
        request = DecisionRequest(SUBJECT, ONE, OTHER, Purpose.REFERRAL, tuple(InfoCategory))
        decided, _ = app.decide(request, parties[0])
        [event] = [
            message.event
            for notification in app.recorder.select_notifications(app.recorder.max_notification_id() or 0, 1)
            for message in consent_messages(app.mapper.to_domain_event(notification))
        ]
    assert event.type == DECIDED and len(decided.facts.consents) == 2 * RECORDS_PER_PERSON_MAX
    assert {c.recipient_org_ids for c in decided.facts.consents} == {(OTHER,)}
    assert {c.discloser_org_ids for c in decided.facts.consents} == {(ONE,)}
    size = len(event.model_dump_json().encode())
    assert size < KAFKA_RECORD_LIMIT / 2, f"{size} bytes"


# --- what a decision keeps of each record ---------------------------------------------------------------------------


@st.composite
def histories_naming_disclosers(draw: st.DrawFn) -> Facts:
    """Histories whose consents name disclosers (the decision's among them or not) and whose restrictions name
    kinds too."""
    facts = draw(histories())
    consents = [
        dataclasses.replace(c, discloser_org_ids=tuple(draw(st.lists(st.sampled_from([DISCLOSER, *ORGS]), max_size=2))))
        for c in facts.consents
    ]
    restrictions = [
        dataclasses.replace(r, recipient_kinds=tuple(draw(st.lists(st.sampled_from(list(OrgKind)), max_size=2))))
        for r in facts.restrictions
    ]
    return dataclasses.replace(facts, consents=tuple(consents), restrictions=tuple(restrictions))


@settings(max_examples=300, deadline=None)
@given(requests(), histories_naming_disclosers())
def test_a_decision_keeping_only_the_parties_of_each_record_answers_the_same(
    request: DecisionInput, facts: Facts
) -> None:
    """The records a decision reads (`ReadModel.facts_for`: the consents naming its recipient, the restrictions
    concerning it), kept whole or with only the parties among the organisations they name: the same decision."""
    one, other, kind = request.discloser_org_id, request.recipient_org_id, facts.recipient_kind
    read = dataclasses.replace(
        facts,
        consents=tuple(c for c in facts.consents if c.covers(other, kind)),
        restrictions=tuple(r for r in facts.restrictions if r.concerns(other, kind)),
    )
    kept = dataclasses.replace(
        read,
        consents=tuple(c.between(one, other) for c in read.consents),
        restrictions=tuple(r for r in (r.toward(other, kind) for r in facts.restrictions) if r is not None),
    )
    assert evaluate(request, kept) == evaluate(request, read)
