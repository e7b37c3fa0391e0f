"""Stored consent events -> integration events: every one valid against its committed schema, none personal."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import jsonschema
from eventsourcing.persistence import Tracking

from services.common.envelope import schema_uri
from services.consent import inbound
from services.consent.application import Actor, Consents, ConsentTerms, DecisionRequest, RefusalTerms, RestrictionTerms
from services.consent.outbound import consent_messages
from services.contract import topics
from services.contract.codes import InfoCategory, OrgKind, Purpose
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT, T0, agreement_event, organisation_event

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def test_every_stored_event_maps_to_a_valid_integration_event(consents: Consents) -> None:
    actor = Actor("worker", DISCLOSER)
    inbound.handler(consents)(organisation_event(RECIPIENT, OrgKind.CSSS, T0), Tracking("t#0", 1))
    inbound.handler(consents)(agreement_event("activated", T0 - timedelta(days=1)), Tracking("t#0", 2))
    consent, _ = consents.record_consent(
        ConsentTerms(
            subject_id=SUBJECT,
            subject_birth_date=date(1970, 4, 4),
            grantor_role="CURATOR",
            grantor_mandate_ref="500-14-000001-199",
            grantor_scope=("REFERRAL",),
            method="WRITTEN",
            purposes=("REFERRAL",),
            recipient_org_ids=(RECIPIENT,),
            recipient_kinds=("PROFESSIONAL",),
            categories=("IDENTIFICATION",),
            valid_from=T0 - timedelta(days=2),
            valid_until=T0 + timedelta(days=100),
        ),
        actor,
    )
    restriction, _ = consents.record_restriction(RestrictionTerms(SUBJECT, (), (), ("RESEARCH",), (), None), actor)
    ask = DecisionRequest(SUBJECT, DISCLOSER, RECIPIENT, Purpose.REFERRAL, (InfoCategory.IDENTIFICATION,))
    consents.decide(ask, actor)
    consents.disclose(ask, actor)
    consents.withdraw_consent(uuid.UUID(consent.consent_id), actor, reason="free text that must not be published")
    consents.lift_restriction(uuid.UUID(restriction.restriction_id), actor)
    refusal, _ = consents.record_refusal(RefusalTerms(SUBJECT, ("SPOUSE",), T0 - timedelta(days=3), "DOC-1"), actor)
    consents.withdraw_refusal(uuid.UUID(refusal.refusal_id), actor)

    messages = [
        m
        for n in consents.recorder.select_notifications(start=0, limit=100)
        for m in consent_messages(consents.mapper.to_domain_event(n))
    ]

    assert sorted(m.event.type.split(".")[-2] for m in messages) == [
        "decided",
        "decided",
        "disclosure-registered",
        "recorded",
        "refusal-recorded",
        "refusal-withdrawn",
        "restriction-lifted",
        "restriction-recorded",
        "withdrawn",
    ]
    for message in messages:
        schema = json.loads((SCHEMAS / f"{message.event.type}.json").read_text())
        jsonschema.validate(message.event.data, schema)
        assert message.event.dataschema == schema_uri(message.event.type)
        assert message.topic == (topics.CONSENT_DECISIONS if "decided" in message.event.type else topics.CONSENT)
        text = json.dumps(message.event.data)
        assert "1970-04-04" not in text and "free text" not in text and "500-14" not in text
    ids = [m.event.id for m in messages]
    assert len(set(ids)) == len(ids)
    again = [
        m.event.id
        for n in consents.recorder.select_notifications(start=0, limit=100)
        for m in consent_messages(consents.mapper.to_domain_event(n))
    ]
    assert again == ids, "event ids are deterministic: a re-published event keeps its id"
