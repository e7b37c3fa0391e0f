"""A representative asks for the user's record (art. 22; A-12, B-12, both NEEDS_LEGAL_REVIEW): the tutor, curator,
mandatary or person who may consent to care receives it "dans la mesure où cette communication est nécessaire pour
l'exercice de ce pouvoir" -- what the request states that power requires, of a living person's record, from an
institution, for their own request. Decisions recorded under the tables of 2026-12-02 keep deciding as they did."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.consent import inbound
from services.consent.application import Actor, Consents, DecisionRequest, _digest
from services.consent.domain import ConsentTermsInvalidError
from services.consent.engine import evaluate
from services.consent.explain import explain
from services.consent.outbound import consent_messages
from services.consent.policy import Context, Decision, ReasonCode, Representation, RuleStatus, digest_json
from services.consent.rules import CURRENT_VERSION, build_tables, table_for, version_of
from services.contract.codes import InfoCategory, Obligation, OrgKind, Outcome, Purpose, Regime, RequesterRole
from tests.consent.conftest import (
    DISCLOSER,
    RECIPIENT,
    SUBJECT,
    T0,
    decision_input,
    facts,
    open_consents,
    organisation_event,
)
from tests.consent.test_api import ASK, _events, _observe
from tests.consent.test_endings import _refused_naming

I = InfoCategory  # noqa: E741 -- short alias keeps the cases readable
Auth = Callable[..., dict[str, str]]
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
ROUTE = {LSSSS: "A-12", LRSSS: "B-12"}
REPRESENTATIVES = (RequesterRole.TUTOR, RequesterRole.CURATOR, RequesterRole.MANDATARY, RequesterRole.CARE_SUBSTITUTE)
VERSION_2026_12_02 = {LSSSS: "2026-12-02+f35ffd4a6d30", LRSSS: "2026-12-02+932124006a2c"}
"""The versions decisions recorded under the tables of 2026-12-02 name: they must stay known, with these digests."""
STATED = Representation(mandate_ref="500-14-000777-251", categories=(I.IDENTIFICATION, I.HEALTH, I.INTERVENTION_PLAN))
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def _asks(
    regime: Regime = LSSSS,
    role: RequesterRole = RequesterRole.CURATOR,
    representation: Representation | None = STATED,
    **overrides: Any,
) -> Any:
    context = {"requester_role": role, "representation": representation, **overrides.pop("context", {})}
    values: dict[str, Any] = {
        "purpose": Purpose.USER_REQUESTED_TRANSFER,
        "categories": (I.IDENTIFICATION, I.HEALTH, I.ASSESSMENT),
        "context": context,
        **overrides,
    }
    return decision_input(regime, **values)


def _reasons(decision: Decision, route: str) -> list[tuple[ReasonCode, tuple[InfoCategory, ...], str | None]]:
    return [(r.code, r.categories, r.detail) for r in decision.reasons if r.route == route]


# --- the engine -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", REPRESENTATIVES)
@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_a_representative_receives_only_the_categories_the_request_states(regime: Regime, role: RequesterRole) -> None:
    decision = evaluate(_asks(regime, role), facts())
    assert decision.outcome == Outcome.PERMIT_PARTIAL
    assert decision.permitted_categories == (I.IDENTIFICATION, I.HEALTH)
    assert decision.denied_categories == (I.ASSESSMENT,)
    assert [(b.route, b.status) for b in decision.basis] == [(ROUTE[regime], RuleStatus.NEEDS_LEGAL_REVIEW)]
    assert _reasons(decision, ROUTE[regime]) == [(ReasonCode.CATEGORY_NOT_COVERED, (I.ASSESSMENT,), None)]
    always = (Obligation.REGISTER_ENTRY,) if regime == LRSSS else ()
    assert decision.obligations == (*always, Obligation.NOTE_IN_RECORD, Obligation.MINIMUM_NECESSARY)


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_the_cause_of_death_and_sensitive_categories_never_go_even_when_stated(regime: Regime) -> None:
    everything = Representation("T-1", tuple(InfoCategory))
    asked = (I.CONTACT, I.CAUSE_OF_DEATH, I.YOUTH_PROTECTION, I.THIRD_PARTY_SUPPLIED)
    decision = evaluate(_asks(regime, representation=everything, categories=asked), facts())
    assert decision.permitted_categories == (I.CONTACT,)
    assert _reasons(decision, ROUTE[regime]) == [
        (ReasonCode.SENSITIVE_CATEGORY_NOT_NAMED, (I.YOUTH_PROTECTION, I.THIRD_PARTY_SUPPLIED), None),
        (ReasonCode.CATEGORY_NOT_COVERED, (I.CAUSE_OF_DEATH,), None),
    ]


@pytest.mark.parametrize("discloser", [OrgKind.COMMUNITY_ORGANISATION, OrgKind.PROFESSIONAL, None])
def test_only_an_institution_answers_a_representative(discloser: OrgKind | None) -> None:
    decision = evaluate(_asks(), facts(discloser_kind=discloser))
    assert decision.outcome == Outcome.DENY
    code = ReasonCode.DISCLOSER_KIND_UNKNOWN if discloser is None else ReasonCode.DISCLOSER_KIND_NOT_ELIGIBLE
    assert [r.code for r in decision.reasons if r.route == "A-12"] == [code]


@pytest.mark.parametrize("purpose", [p for p in Purpose if p != Purpose.USER_REQUESTED_TRANSFER])
def test_no_other_purpose_rides_on_a_representatives_request(purpose: Purpose) -> None:
    decision = evaluate(_asks(purpose=purpose), facts())
    assert "A-12" not in [b.route for b in decision.basis]
    assert _reasons(decision, "A-12") == [(ReasonCode.PURPOSE_NOT_ALLOWED_FOR_ROUTE, (), purpose)]


@pytest.mark.parametrize(
    ("representation", "missing"),
    [
        (None, "representation"),
        (Representation(mandate_ref=None, categories=(I.HEALTH,)), "mandate_ref"),
        (Representation(mandate_ref="T-1", categories=()), "categories"),
        (Representation(), "mandate_ref,categories"),
    ],
)
@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_a_representative_stating_no_mandate_receives_nothing_and_is_told_why(
    regime: Regime, representation: Representation | None, missing: str
) -> None:
    """What the request does not state is named (a recorded event may carry a partial statement: the API requires
    both parts)."""
    decision = evaluate(_asks(regime, representation=representation), facts())
    assert decision.outcome == Outcome.DENY
    assert _reasons(decision, ROUTE[regime]) == [(ReasonCode.REPRESENTATION_NOT_STATED, (), missing)]
    assert "mandate and the categories it requires" in explain(decision, "en")
    assert "indiquer le mandat et les catégories qu'il exige" in explain(decision, "fr")


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_a_representatives_power_ends_with_the_person(regime: Regime) -> None:
    decision = evaluate(_asks(regime, context={"subject_deceased_on": date(2026, 11, 15)}), facts())
    assert decision.outcome == Outcome.DENY
    assert _reasons(decision, ROUTE[regime]) == [(ReasonCode.SUBJECT_DECEASED, (), "2026-11-15")]


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_nobody_represents_an_anonymous_person(regime: Regime) -> None:
    decision = evaluate(_asks(regime, context={"anonymous": True}), facts())
    assert decision.outcome == Outcome.DENY
    assert [(r.code, r.route) for r in decision.reasons] == [(ReasonCode.ANONYMOUS_NO_CONSENT, "ANON")]


def test_another_requester_does_not_open_the_route() -> None:
    decision = evaluate(_asks(role=RequesterRole.SPOUSE), facts())
    assert decision.outcome == Outcome.DENY and _reasons(decision, "A-12") == []


def test_the_explanation_names_art_22_in_french_and_english() -> None:
    decision = evaluate(_asks(), facts())
    assert "LSSSS art. 22 (tuteur, curateur, mandataire ou personne qui peut consentir aux soins" in explain(decision)
    assert "under LSSSS art. 22 (tutor, curator, mandatary or person who may consent to care" in explain(decision, "en")
    assert "This route still needs legal review." in explain(decision, "en")


# --- the tables of 2026-12-02 -------------------------------------------------------------------------------------


def test_the_2026_12_02_tables_keep_their_versions_and_have_no_art_22_route() -> None:
    tables = build_tables(label="2026-12-02")
    assert {r: version_of(t) for r, t in tables.items()} == VERSION_2026_12_02
    for regime, version in VERSION_2026_12_02.items():
        assert table_for(regime, version) == tables[regime]
        assert ROUTE[regime] not in {r.id for r in tables[regime].routes}
        assert not CURRENT_VERSION[regime].startswith("2026-12-02+")
    asked = _asks(regime_version=VERSION_2026_12_02[LSSSS])
    assert evaluate(asked, facts()).outcome == Outcome.DENY


@pytest.fixture
def recorded_2026_12_02(tmp_path: Any) -> Iterator[tuple[str, list[Any]]]:
    """A service as it ran under the tables of 2026-12-02 records decisions: a consent, a parent's request about a
    minor, a curator asking (no route then)."""
    store = f"sqlite:///{tmp_path / 'consent.db'}"
    with open_consents(store) as app:
        app.versions = dict(VERSION_2026_12_02)
        handle = inbound.handler(app)
        handle(organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=9)), Tracking("a#0", 1))
        handle(organisation_event(RECIPIENT, OrgKind.PROFESSIONAL, T0 - timedelta(days=9)), Tracking("a#0", 2))
        base = DecisionRequest(
            subject_id=SUBJECT,
            discloser_org_id=DISCLOSER,
            recipient_org_id=RECIPIENT,
            purpose=Purpose.USER_REQUESTED_TRANSFER,
            categories=(I.IDENTIFICATION, I.HEALTH),
            subject_birth_date=date(1950, 3, 1),
        )
        requests = [
            dataclasses.replace(base, context=Context(user_request=True)),
            dataclasses.replace(base, context=Context(requester_role=RequesterRole.CURATOR)),
        ]
        answers = [app.disclose(r, Actor("worker-1", DISCLOSER))[0] for r in requests]
        yield store, answers


def test_decisions_recorded_under_the_2026_12_02_tables_reevaluate_identically(
    recorded_2026_12_02: tuple[str, list[Any]],
) -> None:
    store, answers = recorded_2026_12_02
    assert [a.decision.outcome for a in answers] == [Outcome.PERMIT, Outcome.DENY]
    with open_consents(store) as app:
        for answer in answers:
            recorded, again = app.reevaluate(answer.decision_id)
            assert recorded.input.regime_version == VERSION_2026_12_02[LSSSS]
            assert recorded.input.context.representation is None
            assert again == recorded.decision == answer.decision


def test_a_request_made_before_the_representation_field_keeps_its_digest() -> None:
    """A retry with its Idempotency-Key across the upgrade is the same request: the field, while unset, is not in
    the digest (it was a 409 `idempotency-key-reused`)."""
    request = DecisionRequest(SUBJECT, DISCLOSER, RECIPIENT, Purpose.REFERRAL, (I.IDENTIFICATION,))
    assert "representation" not in digest_json(request)["context"]
    assert _digest(request) == "2e277d9d0a85a3a16028770ef9b6bd152f30f8bb84112ad1d43675420e57dc27", "as before"
    stated = dataclasses.replace(request, context=Context(representation=STATED))
    assert digest_json(stated)["context"]["representation"] == {
        "mandate_ref": STATED.mandate_ref,
        "categories": ["IDENTIFICATION", "HEALTH", "INTERVENTION_PLAN"],
    }
    assert _digest(stated) != _digest(request)


# --- the API, the register and the events -------------------------------------------------------------------------

TUTOR_ASKS: dict[str, Any] = {
    **ASK,
    "purpose": "USER_REQUESTED_TRANSFER",
    "categories": ["IDENTIFICATION", "HEALTH", "CAUSE_OF_DEATH"],
    "context": {
        "requester_role": "TUTOR",
        "representation": {"mandate_ref": "TUT-2026-41", "categories": ["HEALTH", "IDENTIFICATION", "HEALTH"]},
    },
}


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    client = consent_api()
    _observe(client, organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=30)))
    return client


def test_a_representatives_disclosure_is_registered_with_its_mandate_and_re_evaluates(
    api: TestClient, auth: Auth
) -> None:
    intake, auditor = auth(DISCLOSER, "intake"), auth(DISCLOSER, "auditor")
    disclosed = api.post("/v1/disclosures", json=TUTOR_ASKS, headers={**intake, "Accept-Language": "en"})
    assert disclosed.status_code == 200, disclosed.text
    body = disclosed.json()
    assert (body["outcome"], body["permitted_categories"]) == ("PERMIT_PARTIAL", ["IDENTIFICATION", "HEALTH"])
    assert [b["route"] for b in body["basis"]] == ["A-12"]
    entry = api.get("/v1/register", params={"subject_id": SUBJECT}, headers=intake).json()["items"][0]
    assert entry["route"] == "A-12" and entry["reference"] == "representation:TUT-2026-41"
    assert entry["conditions"]["representation"] == {
        "mandate_ref": "TUT-2026-41",
        "categories": ["HEALTH", "IDENTIFICATION"],
    }
    recorded = api.get(f"/v1/decisions/{body['decision_id']}", headers=auditor).json()
    assert recorded["input"]["context"]["representation"] == entry["conditions"]["representation"]
    again = api.post("/v1/decisions/" + body["decision_id"] + "/reevaluate", headers=auditor).json()
    assert again["same"] is True, again
    evaluated = api.post(
        "/v1/evaluations", json={"input": recorded["input"], "facts": recorded["facts"]}, headers=auditor
    ).json()
    keys = ("outcome", "permitted_categories", "denied_categories", "basis", "obligations", "reasons")
    assert {k: evaluated[k] for k in keys} == {k: body[k] for k in keys}


@pytest.mark.parametrize("role", [None, "SPOUSE", "PARENT"])
def test_a_representation_without_a_representatives_role_is_a_422_naming_it(
    api: TestClient, auth: Auth, role: str | None
) -> None:
    context = {**TUTOR_ASKS["context"], "requester_role": role}
    before = _events(api)
    for path in ("/v1/decisions", "/v1/disclosures"):
        _refused_naming(
            api.post(path, json={**TUTOR_ASKS, "context": context}, headers=auth(DISCLOSER, "intake")),
            "context.requester_role",
        )
    assert _events(api) == before, "nothing recorded"


def test_a_representatives_request_without_the_statement_is_answered_not_refused(api: TestClient, auth: Auth) -> None:
    """No statement is a denial with its reason (the route asks it), not a 422 nor a 500."""
    asked = {**TUTOR_ASKS, "context": {"requester_role": "CURATOR"}, "lang": "fr"}
    answer = api.post("/v1/decisions", json=asked, headers=auth(DISCLOSER, "intake"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "DENY"
    assert ("REPRESENTATION_NOT_STATED", "A-12", "representation") in [
        (r["code"], r["route"], r["detail"]) for r in answer.json()["reasons"]
    ]
    assert "LSSSS art. 22 : un représentant ne reçoit que ce qu'exige" in answer.json()["explanation"]


def test_a_written_refusal_naming_a_representative_is_a_422(api: TestClient, auth: Auth) -> None:
    """Art. 23 is about who learns of a death: a representative's power ends with the person, so such a refusal
    would be on file and never apply."""
    refusal = {"subject_id": SUBJECT, "requester_roles": ["SPOUSE", "TUTOR"], "given_on": "2026-10-01"}
    response = api.post("/v1/refusals", json=refusal, headers=auth(DISCLOSER, "intake"))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["requester_roles"]


def test_a_representatives_disclosure_maps_to_valid_integration_events(consents: Consents) -> None:
    handle = inbound.handler(consents)
    handle(organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=9)), Tracking("a#0", 1))
    request = DecisionRequest(
        SUBJECT,
        DISCLOSER,
        RECIPIENT,
        Purpose.USER_REQUESTED_TRANSFER,
        (I.IDENTIFICATION, I.HEALTH),
        context=Context(requester_role=RequesterRole.MANDATARY, representation=STATED),
    )
    answer, _ = consents.disclose(request, Actor("worker-1", DISCLOSER))
    assert answer.decision.permitted_categories == (I.IDENTIFICATION, I.HEALTH)
    messages = [
        m
        for n in consents.recorder.select_notifications(start=0, limit=100)
        for m in consent_messages(consents.mapper.to_domain_event(n))
    ]
    assert sorted(m.event.type.split(".")[-2] for m in messages) == ["decided", "disclosure-registered"]
    for message in messages:
        jsonschema.validate(message.event.data, json.loads((SCHEMAS / f"{message.event.type}.json").read_text()))
    decided = next(m.event.data for m in messages if m.event.type.endswith("decided.v1"))
    assert decided["input"]["context"]["requester_role"] == "MANDATARY"
    assert decided["input"]["context"]["representation"]["categories"] == [
        "IDENTIFICATION",
        "HEALTH",
        "INTERVENTION_PLAN",
    ]


def test_the_application_refuses_a_representation_from_anyone_else(consents: Consents) -> None:
    request = DecisionRequest(
        SUBJECT,
        DISCLOSER,
        RECIPIENT,
        Purpose.USER_REQUESTED_TRANSFER,
        (I.IDENTIFICATION,),
        context=Context(requester_role=RequesterRole.HEIR, representation=STATED),
    )
    with pytest.raises(ConsentTermsInvalidError) as refused:
        consents.decide(request, Actor("worker-1", DISCLOSER))
    assert refused.value.field == "context.requester_role"
