"""Decisions recorded before the corrections (rule tables 2026-11-25) re-evaluate exactly as they were decided.

`fixtures/first-tables-decisions.json` was written by the code of that time (commit 1b8b8e8): its stored events, as
its event store held them (version 1 of the decision, register entry and agreement observation events), and the
`ca.qc.rls.consent.decided.v1` events its relay published. Among them are decisions the current tables refuse: a
community organisation disclosing "under art. 108", a bare danger flag on an ordinary referral, an open-ended 2019
verbal consent under the LRSSS. They were lawful for the tables that decided them, and an auditor must find them so.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.common.settings import store_cipher
from services.consent.application import Consents
from services.consent.engine import evaluate
from services.consent.main import build_app
from services.consent.rules import CURRENT_VERSION
from services.consent.settings import ConsentSettings
from services.consent.views import RegisterQuery
from services.contract.codes import Outcome
from tests.consent.conftest import FIRST_VERSION, T0

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "first-tables-decisions.json").read_text())
DECISIONS: list[dict[str, Any]] = FIXTURE["decisions"]


def load_first_history(store_url: str, cipher: AESCipher | None = None) -> None:
    """Writes the stored events of 2026-11-25 into a fresh store, byte for byte as that code wrote them (encrypted
    with `cipher`, as a store is in every mode since issue 11)."""
    seal = cipher.encrypt if cipher is not None else bytes
    with Consents(env=persistence_env(store_url)) as app:
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=uuid.UUID(e["originator_id"]),
                    originator_version=e["originator_version"],
                    topic=e["topic"],
                    state=seal(json.dumps(e["state"]).encode()),
                )
                for e in FIXTURE["stored_events"]
            ]
        )


@pytest.fixture
def first(store_url: str) -> Iterator[Consents]:
    load_first_history(store_url)
    with Consents(env=persistence_env(store_url), clock=ManualClock(T0)) as app:
        yield app


def test_every_first_decision_reevaluates_to_what_was_recorded(first: Consents) -> None:
    outcomes = []
    for recorded_decision in DECISIONS:
        recorded, again = first.reevaluate(uuid.UUID(recorded_decision["decision_id"]))
        assert again == recorded.decision
        assert recorded.decision.outcome == recorded_decision["outcome"]
        assert recorded.input.regime_version == FIRST_VERSION[recorded.input.regime]
        outcomes.append((recorded.decision.outcome, [b.route for b in recorded.decision.basis]))
    assert outcomes == [
        (Outcome.PERMIT_PARTIAL, ["A-3"]),  # a community organisation "under art. 108", no on_behalf
        (Outcome.PERMIT, ["A-1", "A-6"]),  # a bare danger flag on a referral
        (Outcome.DENY, []),  # anonymity closed every route, danger included
        (Outcome.PERMIT_PARTIAL, ["A-1"]),
        (Outcome.PERMIT_PARTIAL, ["B-1"]),  # an open-ended 2019 verbal consent under the LRSSS
    ]


def test_the_current_tables_would_decide_those_requests_otherwise(first: Consents) -> None:
    """The same inputs and facts under the current tables: the corrections matter (and say why)."""
    answers = []
    for recorded_decision in DECISIONS:
        recorded = first.get_decision(uuid.UUID(recorded_decision["decision_id"]))
        current = dataclasses.replace(recorded.input, regime_version=CURRENT_VERSION[recorded.input.regime])
        answers.append(evaluate(current, recorded.facts).outcome)
    assert answers[0] == Outcome.DENY, "the discloser's kind was not recorded: no institution route"
    assert answers[4] == Outcome.DENY, "an open-ended consent given before the LRSSS"


def test_the_first_register_entries_and_agreements_read_as_before(first: Consents) -> None:
    rows, _ = first.register_entries(RegisterQuery())
    assert [r.bases[0]["route"] for r in rows] == ["A-3", "A-1"]
    assert all(r.justification is None and r.disclosed_by is None and not r.regime_superseded for r in rows)
    [agreement] = first.view.agreements_between("csss-alpha", "org-beta", T0)
    assert agreement.on_behalf == (), "agreements observed before on_behalf existed carry nothing on anyone's behalf"


def test_reevaluate_endpoint_and_evaluations_give_the_same_answers(
    tmp_path: Path,
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Callable[..., dict[str, str]],
) -> None:
    store = f"sqlite:///{tmp_path / 'consent.db'}"
    settings = service_settings(ConsentSettings, event_store=store)
    load_first_history(store, store_cipher(settings.store_cipher_key))
    api = client_for(build_app(settings, clock=ManualClock(T0)))
    auditor = auth("audit-office", "network-auditor")
    for recorded_decision in DECISIONS:
        answer = api.post(f"/v1/decisions/{recorded_decision['decision_id']}/reevaluate", headers=auditor)
        assert answer.status_code == 200, answer.text
        assert answer.json()["same"] is True
        assert answer.json()["reevaluated_permitted_categories"] == recorded_decision["permitted"]
    for event in FIXTURE["decided_events"]:
        data = event["data"]
        answer = api.post("/v1/evaluations", json={"input": data["input"], "facts": data["facts"]}, headers=auditor)
        assert answer.status_code == 200, answer.text
        keys = ("outcome", "permitted_categories", "denied_categories", "obligations", "reasons", "regime_version")
        assert {k: answer.json()[k] for k in keys} == {k: data[k] for k in keys}
        assert [{k: v for k, v in b.items() if k != "discloser_kind"} for b in answer.json()["basis"]] == data["basis"]
