"""A delay flag names the organisation and service whose clock it is, also when the referral has moved on to another."""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.persistence import StoredEvent

from services.common.clock import ManualClock
from services.referral.domain import Referral, Step
from services.referral.outbound import ReferralOutbound
from tests.referral.conftest import T0
from tests.referral.fakes import FakeDirectory
from tests.referral.test_clocks import make_app, submit


def test_a_breach_of_the_earlier_targets_clock_is_sent_to_that_organisation() -> None:
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    referral = submit(app, "AAOR", channel="PHONE")
    clock.advance(timedelta(hours=30))  # the call-back's bound passed while no tick ran
    redirect = Step("org-b", "worker", clock(), to_org="org-c", to_service="SOCIAL_CONSULT")
    app.redirect(referral.id, redirect, None, FakeDirectory())
    assert app.tick() == 2
    outbound = ReferralOutbound("http://x", lambda rid, version: app.repository.get(rid, version=version))
    stored = [e for e in app.repository.event_store.get(referral.id) if isinstance(e, Referral.DelayFlagged)]
    assert [(e.responsible_org, e.service) for e in stored] == [("org-b", "AAOR")] * 2
    published = [outbound(e)[0].event.data for e in stored]
    assert [(d["responsible_org"], d["to_org"]) for d in published] == [("org-b", "org-c")] * 2
    assert [(d["responsible_service"], d["to_service"]) for d in published] == [("AAOR", "SOCIAL_CONSULT")] * 2

    # a flag stored before flags named their organisation still loads, and is sent to the clock's organisation
    codec = app.mapper.transcoder
    v2 = app.mapper.to_stored_event(stored[0])
    state = {
        k: v for k, v in codec.decode(v2.state).items() if k not in ("responsible_org", "service", "class_version")
    }
    v1 = app.mapper.to_domain_event(StoredEvent(v2.originator_id, v2.originator_version, v2.topic, codec.encode(state)))
    assert isinstance(v1, Referral.DelayFlagged)
    assert (v1.responsible_org, v1.service) == (None, None)
    assert outbound(v1)[0].event.data["responsible_org"] == "org-b"
    assert outbound(v1)[0].event.data["responsible_service"] == "AAOR"
