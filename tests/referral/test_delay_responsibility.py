"""A delay flag names the organisation and service whose clock it is, also when the referral has moved on to another."""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.persistence import StoredEvent

from services.common.clock import ManualClock
from services.referral.domain import Referral, Step
from services.referral.outbound import ReferralOutbound
from services.referral.ports import Coverage
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


def test_a_former_receivers_flag_shows_the_referral_as_it_left_that_organisation_not_where_it_went_next() -> None:
    """org-b's call-back bound passed while no tick ran; org-b oriented the person to org-c's AAOR, which passed the
    request to org-d's consultation, which accepted it. The caught-up flag of org-b's clock goes to org-b alone: it
    shows the referral as org-b's redirection left it (the API gives org-b 404 since, and the audit cuts its view
    there), never org-d, its service, its acceptance or the agreement covering it."""
    clock = ManualClock(T0)
    app = make_app(clock=clock)
    directory = FakeDirectory(
        coverages={("csss-a", "org-c"): Coverage("agr-c", "SERVICE"), ("csss-a", "org-d"): Coverage("agr-d", "SERVICE")}
    )
    referral = submit(app, "AAOR", channel="PHONE")
    clock.advance(timedelta(hours=30))
    app.redirect(referral.id, Step("org-b", "w", clock(), to_org="org-c", to_service="AAOR"), None, directory)
    app.perform(referral.id, "receive", Step("org-c", "w", clock.advance(timedelta(hours=1))), None)
    app.redirect(referral.id, Step("org-c", "w", clock(), to_org="org-d", to_service="PSYCH_CONSULT"), None, directory)
    app.perform(referral.id, "accept", Step("org-d", "w", clock.advance(timedelta(hours=1))), None)
    app.tick()
    outbound = ReferralOutbound("http://x", lambda rid, version: app.repository.get(rid, version=version))
    stored = [e for e in app.repository.event_store.get(referral.id) if isinstance(e, Referral.DelayFlagged)]
    sent = [outbound(e)[0].event.data for e in stored if e.responsible_org == "org-b"]
    assert len(sent) == 2  # the call-back at risk and breached
    shown = {(d["to_org"], d["to_service"], d["status"], d["agreement_id"], d["responsible_org"]) for d in sent}
    assert shown == {("org-c", "AAOR", "REDIRECTED", "agr-c", "org-b")}

    # the current receiver's own flags show the referral as it stands
    clock.advance(timedelta(days=8))
    app.tick()
    later = [e for e in app.repository.event_store.get(referral.id) if isinstance(e, Referral.DelayFlagged)]
    current = [outbound(e)[0].event.data for e in later if e.responsible_org == "org-d"]
    assert current
    assert {(d["to_org"], d["status"], d["agreement_id"]) for d in current} == {("org-d", "ACCEPTED", "agr-d")}
