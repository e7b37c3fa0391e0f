"""Re-evaluation of recorded consent decisions through the consent service's public API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.audit.domain import RuleTableUnavailableError, WhatIfRegimeError
from services.audit.main import build_app as build_audit
from services.audit.recheck import ConsentEvaluator, recheck, what_if_version
from services.audit.settings import AuditSettings
from services.audit.views import HistoryDB
from services.common.clock import ManualClock
from services.common.envelope import CloudEvent
from services.common.kafka import Outgoing
from services.consent.main import build_app
from services.consent.outbound import consent_messages
from services.consent.settings import ConsentSettings
from services.contract.codes import AgreementStatus, OrgKind
from tests.audit.conftest import Auth, rows_of, stored_messages
from tests.conftest import free_port
from tests.consent.conftest import agreement_event, organisation_event
from tests.consent.test_api import _observe

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
DISCLOSER, RECIPIENT, SUBJECT = "csss-alpha", "org-beta", "S-AUDIT-01"
CONSENT: dict[str, Any] = {
    "subject_id": SUBJECT,
    "subject_birth_date": "1985-02-03",
    "granted_by": {"role": "SELF"},
    "method": "WRITTEN",
    "purposes": ["REFERRAL"],
    "recipients": [{"org_id": RECIPIENT}],
    "categories": ["IDENTIFICATION", "CONTACT", "REFERRAL_REASON"],
    "valid_from": "2026-11-01",
    "valid_until": "2027-10-31",
}
ASK: dict[str, Any] = {
    "subject_id": SUBJECT,
    "discloser_org_id": DISCLOSER,
    "recipient_org_id": RECIPIENT,
    "purpose": "REFERRAL",
    "categories": ["IDENTIFICATION", "CONTACT", "ASSESSMENT"],
}


@pytest.fixture
def consent(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth
) -> Iterator[tuple[TestClient, TestClient]]:
    """The consent service with a consent and four decisions recorded; (intake client, auditor client)."""
    app = build_app(service_settings(ConsentSettings), clock=ManualClock(T0))
    intake = client_for(app)
    headers = auth(DISCLOSER, "intake")
    assert intake.post("/v1/consents", json=CONSENT, headers=headers).status_code == 201
    for body in (ASK, {**ASK, "recipient_org_id": "org-gamma"}, {**ASK, "purpose": "RESEARCH"}):
        assert intake.post("/v1/decisions", json=body, headers=headers).status_code == 200
    assert intake.post("/v1/disclosures", json=ASK, headers=headers).status_code == 200
    auditor = TestClient(app)
    auditor.headers.update(auth("audit-office", "network-auditor"))
    yield intake, auditor
    auditor.close()


@pytest.fixture
def history(consent: tuple[TestClient, TestClient], tmp_path: Path) -> HistoryDB:
    """The consent service's decision events (its own outbox mapping) in an audit database."""
    app: Any = consent[0].app
    db = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    db.ingest(rows_of(stored_messages(app.state.application, consent_messages)))
    return db


def test_an_unaltered_history_rechecks_with_no_difference(
    history: HistoryDB, consent: tuple[TestClient, TestClient]
) -> None:
    result = recheck(history.events_of("decision"), ConsentEvaluator(consent[1]))
    assert result.checked == 4
    assert result.differing == []


def test_a_decision_recorded_with_a_hand_altered_outcome_is_reported(
    history: HistoryDB, consent: tuple[TestClient, TestClient]
) -> None:
    genuine = next(r for r in history.events_of("decision") if r.payload["outcome"] == "PERMIT_PARTIAL")
    forged = json.loads(genuine.data) | {"decision_id": "forged-decision-1", "outcome": "PERMIT"}
    history.ingest(
        [replace(genuine, event_id="forged-event-1", entity_id="forged-decision-1", data=json.dumps(forged))]
    )

    result = recheck(history.events_of("decision"), ConsentEvaluator(consent[1]))

    assert result.checked == 5
    assert [(d.decision_id, d.differences) for d in result.differing] == [("forged-decision-1", ["outcome"])]
    assert result.differing[0].recorded.outcome == "PERMIT"
    assert result.differing[0].again is not None and result.differing[0].again.outcome == "PERMIT_PARTIAL"


def test_what_if_reevaluates_every_decision_under_another_regime(
    history: HistoryDB, consent: tuple[TestClient, TestClient]
) -> None:
    evaluator = ConsentEvaluator(consent[1])
    lrsss = [v for r, v, applied in evaluator.rule_tables() if r == "LRSSS" and applied]

    result = recheck(history.events_of("decision"), evaluator, regime="LRSSS")

    assert result.checked == 4 and result.regime_version == lrsss[0]
    assert all(d.error is None for d in result.differing)
    with pytest.raises(WhatIfRegimeError):
        recheck(history.events_of("decision"), evaluator, regime="LRSSS", regime_version="LRSSS+000000000000")


def test_a_decision_under_a_rule_table_this_build_lacks_is_listed_not_guessed(
    history: HistoryDB, consent: tuple[TestClient, TestClient]
) -> None:
    genuine = history.events_of("decision")[0]
    old = json.loads(genuine.data)
    old["input"]["regime_version"] = "LSSSS-2001+000000000000"
    old["decision_id"] = "old-table-1"
    history.ingest([replace(genuine, event_id="old-table-event", entity_id="old-table-1", data=json.dumps(old))])

    result = recheck(history.events_of("decision"), ConsentEvaluator(consent[1]))

    assert [(d.decision_id, d.differences) for d in result.differing] == [("old-table-1", ["rule-table"])]
    with pytest.raises(RuleTableUnavailableError):
        ConsentEvaluator(consent[1]).evaluate(old["input"], old["facts"])


def test_decisions_recorded_under_the_first_rule_tables_recheck_with_no_difference(
    consent: tuple[TestClient, TestClient], tmp_path: Path
) -> None:
    """Their events lack every field added since (discloser kind, on_behalf, danger assessment...): the consent
    service re-evaluates them under the table version they recorded, and gets what they recorded."""
    fixture = Path(__file__).parents[1] / "consent" / "fixtures" / "first-tables-decisions.json"
    events = [CloudEvent.model_validate(e) for e in json.loads(fixture.read_text())["decided_events"]]
    db = HistoryDB(f"sqlite:///{tmp_path / 'first.db'}")
    db.ingest(rows_of(Outgoing("rls.consent.decisions.v1", e.subject or "", e) for e in events))

    result = recheck(db.events_of("decision"), ConsentEvaluator(consent[1]))

    assert result.checked == 5 and result.differing == []


def test_an_organisations_auditor_rechecks_the_decisions_its_organisation_requested(
    consent: tuple[TestClient, TestClient],
    audit_settings: Callable[..., AuditSettings],
    client_for: Callable[..., TestClient],
    auth: Auth,
) -> None:
    """The ministry's network auditor asked for a decision between two others: the ministry's own auditors re-check
    it (the audit and the consent service take a decision's parties from the contract, requester included)."""
    intake, _ = consent
    assert intake.post("/v1/decisions", json=ASK, headers=auth("msss", "network-auditor")).status_code == 200
    consent_app: Any = intake.app
    audit = build_audit(
        audit_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", kafka_timeout_s=0.5), clock=ManualClock(T0)
    )
    audit.state.queries.history.ingest(rows_of(stored_messages(consent_app.state.application, consent_messages)))
    evaluations = TestClient(consent_app)

    def evaluator_for(token: str) -> ConsentEvaluator:
        evaluations.headers["Authorization"] = f"Bearer {token}"
        return ConsentEvaluator(evaluations)

    audit.state.evaluator_factory = evaluator_for
    api = client_for(audit)

    requester = api.get("/v1/decisions/recheck", headers=auth("msss", "auditor"))
    discloser = api.get("/v1/decisions/recheck", headers=auth(DISCLOSER, "auditor"))

    assert requester.status_code == 200, requester.text
    assert requester.json()["checked"] == 1 and requester.json()["differing"] == []
    assert discloser.status_code == 200 and discloser.json()["checked"] == 5


def test_a_decision_the_consent_service_refuses_to_evaluate_is_listed_and_the_others_rechecked(
    history: HistoryDB, consent: tuple[TestClient, TestClient], auth: Auth
) -> None:
    genuine = history.events_of("decision")[0]
    foreign = json.loads(genuine.data) | {"decision_id": "foreign-decision-1", "requested_by_org": "org-z"}
    foreign["input"] |= {"discloser_org_id": "org-x", "recipient_org_id": "org-y"}
    history.ingest(
        [replace(genuine, event_id="foreign-event-1", entity_id="foreign-decision-1", data=json.dumps(foreign))]
    )
    evaluations = TestClient(consent[0].app)
    evaluations.headers.update(auth(DISCLOSER, "auditor"))  # not an auditor of org-x, org-y nor org-z

    result = recheck(history.events_of("decision"), ConsentEvaluator(evaluations))

    assert result.checked == 5
    assert [(d.decision_id, d.differences) for d in result.differing] == [("foreign-decision-1", ["not-evaluated"])]
    assert result.differing[0].error is not None and "403" in result.differing[0].error


def test_a_disclosure_judged_when_it_was_recorded_rechecks_with_no_difference(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth, tmp_path: Path
) -> None:
    """From the rule tables of 2026-12-05 a disclosure is judged on the agreements as they stood when it was recorded
    too: its event carries them (`facts.agreements_when_disclosed`), and the consent service re-evaluates it on them as
    it decided (here: the agreement terminated between the disclosure's `at` and its recording)."""
    app = build_app(service_settings(ConsentSettings), clock=ManualClock(T0))
    intake = client_for(app)
    _observe(
        intake,
        organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
        organisation_event(RECIPIENT, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90)),
        agreement_event("activated", T0 - timedelta(days=30)),
        agreement_event("terminated", T0 - timedelta(minutes=1), status=AgreementStatus.TERMINATED),
    )
    on_behalf = {
        **ASK,
        "purpose": "SERVICE_ON_BEHALF",
        "recipient_service": "CRISIS_24_7",
        "categories": ["IDENTIFICATION", "REFERRAL_REASON"],
        "at": (T0 - timedelta(minutes=3)).isoformat(),
    }
    disclosed = intake.post("/v1/disclosures", json=on_behalf, headers=auth(DISCLOSER, "intake"))
    assert disclosed.status_code == 200 and disclosed.json()["outcome"] == "DENY"
    db = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    db.ingest(rows_of(stored_messages(app.state.application, consent_messages)))
    [row] = db.events_of("decision")
    assert [a["status"] for a in row.payload["facts"]["agreements_when_disclosed"]] == ["TERMINATED"]
    auditor = TestClient(app)
    auditor.headers.update(auth("audit-office", "network-auditor"))

    result = recheck(db.events_of("decision"), ConsentEvaluator(auditor))

    assert result.checked == 1 and result.differing == []


class Tables:
    """An evaluator that only lists rule tables (what `what_if_version` asks)."""

    def __init__(self, *tables: tuple[str, str, bool]) -> None:
        self.tables = list(tables)

    def evaluate(
        self, decision_input: dict[str, Any], facts: dict[str, Any], requested_by_org: str | None = None
    ) -> dict[str, Any]:
        raise AssertionError("not evaluated")

    def rule_tables(self) -> list[tuple[str, str, bool]]:
        return self.tables


@pytest.mark.parametrize(
    ("tables", "version", "field"),
    [
        ([("LRSSS", "LRSSS+1", True)], "typed-version-9", "regime_version"),
        ([("LRSSS", "LRSSS+1", False), ("LRSSS", "LRSSS+2", False)], None, "regime"),
    ],
    ids=["no such version", "no table applied today"],
)
def test_an_unknown_what_if_regime_names_the_field_not_the_values_given(
    tables: list[tuple[str, str, bool]], version: str | None, field: str
) -> None:
    with pytest.raises(WhatIfRegimeError) as raised:
        what_if_version(Tables(*tables), "LRSSS", version)
    assert raised.value.field == field
    assert "LRSSS" not in str(raised.value) and "typed-version-9" not in str(raised.value)
