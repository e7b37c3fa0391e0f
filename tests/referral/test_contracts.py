"""Referral integration events: the committed JSON Schemas, the right types, and never record information."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.referral.application import Referrals
from services.referral.domain import Step
from services.referral.outbound import ReferralOutbound
from tests.referral.conftest import T0
from tests.referral.fakes import FakeDirectory, MemoryVault
from tests.referral.test_clocks import submission

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def test_every_stored_event_maps_to_a_valid_integration_event_without_record_information() -> None:
    clock = ManualClock(T0)
    app = Referrals(env=persistence_env("memory://"), clock=clock, vault=MemoryVault())
    referral, _ = app.submit(submission("AAOR"), "w", None, FakeDirectory(), {"HEALTH": "synthetic secret"})
    app.perform(referral.id, "callback", Step("org-b", "w", clock.advance(timedelta(hours=1))), None)
    redirect = Step("org-b", "w", clock.advance(timedelta(hours=1)), to_org="org-c", to_service="SOCIAL_CONSULT")
    app.redirect(referral.id, redirect, None, FakeDirectory())
    app.perform(referral.id, "accept", Step("org-c", "w", clock.advance(timedelta(hours=1))), None)
    clock.advance(timedelta(days=40))
    app.tick()
    contracts = ReferralOutbound("https://rls.example", lambda rid, v: app.repository.get(rid, version=v))
    notifications = app.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False)
    messages = [m for n in notifications for m in contracts(app.mapper.to_domain_event(n))]
    types = [m.event.type.removeprefix("ca.qc.rls.referral.").removesuffix(".v1") for m in messages]
    assert types[:4] == ["submitted", "called-back", "redirected", "accepted"]
    assert set(types[4:]) == {"delay-at-risk", "delay-breached"}
    for message in messages:
        schema = json.loads((SCHEMAS / f"{message.event.type}.json").read_text())
        jsonschema.validate(message.event.data, schema)
        assert message.key == str(referral.id) == message.event.subject
        assert message.topic == "rls.referral.v1"
        text = message.event.model_dump_json()
        assert "synthetic secret" not in text
        assert "reason_code" not in message.event.data
    redirected = messages[2].event.data
    assert (redirected["redirected_from_org"], redirected["to_org"]) == ("org-b", "org-c")
    breached = [m.event.data for m in messages if m.event.type.endswith("delay-breached.v1")]
    assert {d["responsible_org"] for d in breached} == {"org-c"}
    assert len({m.event.id for m in messages}) == len(messages)
