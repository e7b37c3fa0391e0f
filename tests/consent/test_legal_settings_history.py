"""A deployment that changes its legal settings (`CONSENT_DISABLED_ROUTES`, the danger amendment's date, an LRSSS
consent's longest term) changes its rule tables' versions: the decisions it recorded before must still re-evaluate,
in process and through the decision event (consent-rules.md: "a decision is reproducible")."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from services.consent import inbound, rules
from services.consent.application import Actor, DecisionRequest
from services.consent.policy import Context, DecisionInput, LegalSettings, from_json, to_json
from services.contract.codes import InfoCategory, OrgKind, Outcome, Purpose, Regime
from services.contract.consent_events import DecisionInputV1
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT, T0, open_consents, organisation_event
from tests.consent.test_api import ASK, CONSENT

SETTINGS_THEN = LegalSettings(disabled_routes=frozenset({"A-3"}), danger_amendment=date(2017, 6, 1))
ASKED = DecisionRequest(
    subject_id=SUBJECT,
    discloser_org_id=DISCLOSER,
    recipient_org_id=RECIPIENT,
    purpose=Purpose.USER_REQUESTED_TRANSFER,
    categories=(InfoCategory.IDENTIFICATION, InfoCategory.HEALTH),
    subject_birth_date=date(1950, 3, 1),
    context=Context(user_request=True),
)


def test_a_decision_recorded_under_other_legal_settings_reevaluates_after_they_changed(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"sqlite:///{tmp_path / 'consent.db'}"
    with open_consents(store, SETTINGS_THEN) as app:
        handle = inbound.handler(app)
        handle(organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=9)), Tracking("a#0", 1))
        handle(organisation_event(RECIPIENT, OrgKind.ESTABLISHMENT, T0 - timedelta(days=9)), Tracking("a#0", 2))
        answer = app.disclose(ASKED, Actor("worker-1", DISCLOSER))[0]
        version_then = app.versions[Regime.LSSSS_17_27_3]
    assert answer.decision.outcome == Outcome.PERMIT
    for label in rules.EDITIONS:  # a new process with the default settings: the tables of the former are unknown
        for table in rules.build_tables(SETTINGS_THEN, label).values():
            monkeypatch.delitem(rules.TABLES, (table.regime, rules.version_of(table)), raising=False)
    with open_consents(store) as app:
        assert app.versions[Regime.LSSSS_17_27_3] != version_then
        recorded, again = app.reevaluate(answer.decision_id)
    assert recorded.input.regime_version == version_then and recorded.input.legal == SETTINGS_THEN
    assert again == recorded.decision == answer.decision


def test_the_decision_event_carries_the_settings_only_when_they_are_not_the_defaults() -> None:
    asked: dict[str, Any] = {
        "subject_id": SUBJECT,
        "discloser_org_id": DISCLOSER,
        "recipient_org_id": RECIPIENT,
        "purpose": Purpose.REFERRAL,
        "categories": (InfoCategory.IDENTIFICATION,),
        "at": T0,
        "regime": Regime.LSSSS_17_27_3,
        "regime_version": "v",
    }
    default = DecisionInput(**asked)
    carried = dataclasses.replace(default, legal=SETTINGS_THEN)
    assert DecisionInputV1.model_validate(to_json(default)).legal is None
    published = DecisionInputV1.model_validate(to_json(carried)).model_dump(mode="json", exclude_none=True)
    assert published["legal"] == {
        "danger_amendment": "2017-06-01",
        "disabled_routes": ["A-3"],
        "lrsss_consent_max_months": 24,
    }
    assert from_json(DecisionInput, published) == carried  # what `POST /v1/evaluations` rebuilds from the event


def _recorded_lrsss(consent_api: Any, auth: Any) -> tuple[Any, dict[str, Any]]:
    api = consent_api(regime="LRSSS")
    intake = auth(DISCLOSER, "intake")
    assert api.post("/v1/consents", json=CONSENT, headers=intake).status_code == 201
    decided = api.post("/v1/decisions", json=ASK, headers=intake).json()
    made = api.get(f"/v1/decisions/{decided['decision_id']}", headers=intake).json()
    return api, {"input": made["input"], "facts": made["facts"]}


def _with_legal(event: dict[str, Any], version: str, months: int) -> dict[str, Any]:
    legal = {"danger_amendment": "2017-05-30", "disabled_routes": [], "lrsss_consent_max_months": months}
    return {**event, "input": {**event["input"], "regime_version": version, "legal": legal}}


@pytest.mark.parametrize("months", [0, 121, 10**6, -(10**6)])
def test_settings_a_deployment_cannot_have_are_a_422_naming_them(consent_api: Any, auth: Any, months: int) -> None:
    """The settings' own bounds (`CONSENT_LRSSS_CONSENT_MAX_MONTHS`: 1 to 120): a million months was a 500."""
    api, event = _recorded_lrsss(consent_api, auth)
    version = rules.version_of(rules.build_tables(LegalSettings(lrsss_consent_max_months=months))[Regime.LRSSS])
    answer = api.post("/v1/evaluations", json=_with_legal(event, version, months), headers=auth(DISCLOSER, "auditor"))
    assert answer.status_code == 422 and "lrsss_consent_max_months" in answer.text


def test_settings_naming_no_known_table_leave_nothing_behind(consent_api: Any, auth: Any) -> None:
    """Each distinct `input.legal` an auditor sent built every edition of its tables and kept them for good."""
    api, event = _recorded_lrsss(consent_api, auth)
    before = len(rules.TABLES)
    for months in range(1, 11):
        answer = api.post(
            "/v1/evaluations", json=_with_legal(event, "nope", months), headers=auth(DISCLOSER, "auditor")
        )
        assert answer.status_code == 409
    assert len(rules.TABLES) == before
