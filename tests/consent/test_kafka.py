"""Through a real Kafka broker: the read model fed from `rls.agreements.v1`, decisions published for auditors."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.common.kafka import KafkaPublisher, Outgoing
from services.common.relay import OutboxRelay
from services.consent.application import Actor, Consents, ConsentTerms, DecisionRequest
from services.consent.engine import evaluate
from services.consent.main import build_consumers
from services.consent.outbound import consent_messages
from services.consent.policy import Context, DecisionInput, Facts, ReasonCode, from_json, to_json
from services.consent.settings import ConsentSettings
from services.contract import topics
from services.contract.codes import AgreementStatus, InfoCategory, OrgKind, Outcome, Purpose, ServiceCode
from services.runtime.schemas import event_schemas
from tests.consent.conftest import PINNED, T0, agreement_event, organisation_event
from tests.helpers import read_topic, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def consents(tmp_path: Path) -> Iterator[Consents]:
    store = persistence_env(f"sqlite:///{tmp_path / 'consent.db'}")
    with Consents(env=store, clock=ManualClock(T0), regime_setting=PINNED) as app:
        yield app


def test_engine_uses_organisations_and_agreements_consumed_from_kafka_once_in_effect(
    kafka_bootstrap: str, consents: Consents, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    discloser, recipient, agreement_id = f"csss-{run}", f"org-{run}", f"ag-{run}"
    parties = (discloser, recipient)
    registered = organisation_event(recipient, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90))
    institution = organisation_event(discloser, OrgKind.CSSS, T0 - timedelta(days=90))
    on_behalf = ((discloser, (ServiceCode.CRISIS_24_7,)),)
    activated = agreement_event(
        "activated", T0 - timedelta(days=30), agreement_id=agreement_id, parties=parties, on_behalf=on_behalf
    )
    suspended = agreement_event(
        "suspended",
        T0 - timedelta(days=5),
        agreement_id=agreement_id,
        parties=parties,
        status=AgreementStatus.SUSPENDED,
        on_behalf=on_behalf,
    )
    poison = activated.model_copy(update={"id": f"poison-{run}", "data": {"agreement_id": agreement_id}})
    publisher = KafkaPublisher(kafka_bootstrap, f"test-agreements-{run}")
    try:
        publisher.publish(
            [Outgoing(topics.AGREEMENTS, org, e) for org, e in ((recipient, registered), (discloser, institution))]
        )
        # Same key, same partition, in order: the event, a second copy of it, a poison record, then the next event.
        publisher.publish(
            [Outgoing(topics.AGREEMENTS, agreement_id, e) for e in (activated, activated, poison, suspended)]
        )

        settings = ConsentSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            consumer_group=f"test-consent-{run}",
            var_dir=tmp_path,
            dev_key_file=tmp_path / "key",
        )
        stop = threading.Event()
        workers = build_consumers(settings, consents)
        consumer = threading.Thread(target=workers.loops["agreements-events"], args=(stop,))
        consumer.start()
        try:
            wait_for(
                lambda: (
                    [a.status for a in consents.view.agreements_between(discloser, recipient, T0)]
                    == [AgreementStatus.SUSPENDED]
                ),
                timeout=60,
            )
        finally:
            stop.set()
            consumer.join(30)
            workers.close()

        dead = wait_for(
            lambda: [r for r, e in read_topic(kafka_bootstrap, topics.AGREEMENTS + ".dlq") if e and e.id == poison.id]
        )
    finally:
        publisher.close()

    observed = [
        n
        for n in consents.recorder.select_notifications(start=0, limit=10_000)
        if n.topic.endswith("AgreementObserved.Observed")
        and consents.mapper.to_domain_event(n).agreement_id == agreement_id  # type: ignore[attr-defined]
    ]
    assert len(observed) == 2, "the second copy of `activated` had no effect"
    assert len(dead) == 1 and dict(dead[0].headers)["dlq_reason"].startswith(b"invalid data")
    assert consents.view.org_kind_at(recipient, T0) == OrgKind.COMMUNITY_ORGANISATION

    actor = Actor("worker", discloser)
    ask = DecisionRequest(
        subject_id=f"S-{run}",
        discloser_org_id=discloser,
        recipient_org_id=recipient,
        purpose=Purpose.SERVICE_ON_BEHALF,
        categories=(InfoCategory.IDENTIFICATION,),
        recipient_service=ServiceCode.CRISIS_24_7,
    )
    while_active, _ = consents.decide(DecisionRequest(**{**ask.__dict__, "at": T0 - timedelta(days=10)}), actor)
    now, _ = consents.decide(ask, actor)
    transfer, _ = consents.decide(
        DecisionRequest(
            **{**ask.__dict__, "purpose": Purpose.USER_REQUESTED_TRANSFER, "context": Context(user_request=True)}
        ),
        actor,
    )
    assert while_active.decision.outcome == Outcome.PERMIT
    assert while_active.decision.basis[0].agreement_id == agreement_id
    assert now.decision.outcome == Outcome.DENY
    assert [r.detail for r in now.decision.reasons if r.code == ReasonCode.AGREEMENT_NOT_IN_FORCE] == ["SUSPENDED"]
    assert transfer.decision.outcome == Outcome.DENY  # art. 24 never reaches a community organisation
    assert ReasonCode.RECIPIENT_KIND_NOT_ELIGIBLE in [r.code for r in transfer.decision.reasons]


def test_decision_events_on_kafka_carry_enough_to_reevaluate_them(kafka_bootstrap: str, consents: Consents) -> None:
    run = uuid.uuid4().hex[:8]
    actor = Actor("worker", f"csss-{run}")
    consents.record_consent(
        ConsentTerms(
            subject_id=f"S-{run}",
            subject_birth_date=T0.date() - timedelta(days=365 * 40),
            grantor_role="SELF",
            grantor_mandate_ref=None,
            grantor_scope=None,
            method="ELECTRONIC",
            purposes=("REFERRAL",),
            recipient_org_ids=(f"org-{run}",),
            recipient_kinds=(),
            categories=("IDENTIFICATION", "CONTACT"),
            valid_from=T0 - timedelta(days=1),
            valid_until=None,
        ),
        actor,
    )
    ask = DecisionRequest(
        f"S-{run}", actor.org, f"org-{run}", Purpose.REFERRAL, (InfoCategory.CONTACT, InfoCategory.HEALTH)
    )
    decided, _ = consents.decide(ask, actor)
    disclosed, _ = consents.disclose(ask, actor)
    publisher = KafkaPublisher(kafka_bootstrap, f"test-consent-relay-{run}")
    try:
        relay = OutboxRelay(consents, consent_messages, publisher, name="consent-relay")
        while relay.run_once():
            pass
    finally:
        publisher.close()

    wanted = {str(decided.decision_id), str(disclosed.decision_id)}
    published = [e for _, e in read_topic(kafka_bootstrap, topics.CONSENT_DECISIONS) if e and e.subject in wanted]
    internal = [
        e for _, e in read_topic(kafka_bootstrap, topics.CONSENT) if e and e.data.get("subject_id") == f"S-{run}"
    ]
    schemas = event_schemas()

    assert sorted(e.data["kind"] for e in published) == ["DECISION", "DISCLOSURE"]
    assert sorted(e.type for e in internal) == [
        "ca.qc.rls.consent.disclosure-registered.v1",
        "ca.qc.rls.consent.recorded.v1",
    ]
    for event in published + internal:
        jsonschema.validate(event.data, schemas[f"events/{event.type}.json"])
        assert "subject_birth_date" not in str(event.data)
    for event in published:
        # What an auditor does with the event alone: re-run the engine on its input and facts.
        again = evaluate(from_json(DecisionInput, event.data["input"]), from_json(Facts, event.data["facts"]))
        assert {k: v for k, v in to_json(again).items()} == {k: event.data[k] for k in to_json(again)}
        assert event.data["regime"] == "LSSSS_17_27_3" and event.data["regime_version"]


def test_running_service_consumes_agreements_and_publishes_its_decisions(
    kafka_bootstrap: str,
    consent_api: Callable[..., TestClient],
    auth: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    discloser, recipient = f"csss-{run}", f"pro-{run}"
    api = consent_api(
        kafka_bootstrap_servers=kafka_bootstrap,
        event_store=f"sqlite:///{tmp_path / 'service.db'}",
        relay_enabled=True,
        consumers_enabled=True,
        consumer_group=f"test-consent-service-{run}",
    )
    publisher = KafkaPublisher(kafka_bootstrap, f"test-service-{run}")
    try:
        publisher.publish(
            [
                Outgoing(topics.AGREEMENTS, recipient, organisation_event(recipient, OrgKind.PROFESSIONAL, T0)),
                Outgoing(topics.AGREEMENTS, discloser, organisation_event(discloser, OrgKind.CSSS, T0)),
            ]
        )
    finally:
        publisher.close()
    ask = {
        "subject_id": f"S-{run}",
        "discloser_org_id": discloser,
        "recipient_org_id": recipient,
        "purpose": "USER_REQUESTED_TRANSFER",
        "categories": ["IDENTIFICATION", "THIRD_PARTY_SUPPLIED"],
        "context": {"user_request": True},
    }

    def decided() -> dict[str, Any] | None:
        body: dict[str, Any] = api.post("/v1/disclosures", json=ask, headers=auth(discloser, "intake")).json()
        return body if body["outcome"] != "DENY" else None

    decision = wait_for(decided, timeout=60, interval=0.5)
    published = wait_for(
        lambda: [
            e
            for _, e in read_topic(kafka_bootstrap, topics.CONSENT_DECISIONS)
            if e and e.subject == decision["decision_id"]
        ],
        timeout=30,
    )

    assert api.get("/readyz").status_code == 200
    assert decision["outcome"] == "PERMIT_PARTIAL" and decision["basis"][0]["route"] == "A-2"
    assert decision["denied_categories"] == ["THIRD_PARTY_SUPPLIED"]
    assert published[0].data["register_entry_id"] == decision["register_entry_id"]
