"""A referral read by the auditors of an organisation that received it and redirected it away: as it stood at that
redirection at the latest, never what other organisations did with it afterwards (the referral service no longer
shows it to that organisation at all). Its sender, its current receiver and network auditors read it whole.

The history is what the referral service itself publishes for the steps below (plus one delay flag of the new
receiver's, published by its clock), each record stamped by Kafka a second after its event took effect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.audit.inbound import row_of
from services.audit.main import build_app as build_audit
from services.audit.states import state_as_of
from services.audit.views import HistoryDB, HistoryRow, Rejected
from services.common.clock import ManualClock
from services.common.envelope import CloudEvent
from services.common.kafka import Outgoing
from services.contract.referral_events import ReferralDelayV1
from services.referral.domain import Step
from services.referral.main import build_app as build_referral
from services.referral.main import outbox
from services.referral.settings import ReferralSettings
from services.runtime.registry import event_stores
from tests.audit.conftest import Auth, rows_of, stored_messages
from tests.conftest import free_port
from tests.referral.conftest import T0 as REFERRAL_T0
from tests.referral.fakes import FakeDirectory, fake_gateways
from tests.referral.test_clocks import make_app as make_referrals
from tests.referral.test_clocks import submit

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
SENDER, B, C, D = "csss-a", "org-b", "org-c", "org-d"
NETWORK = ("ministere", "network-auditor")


@dataclass
class World:
    audit: TestClient
    referral: TestClient
    history: HistoryDB
    ids: dict[str, str]
    """Referral ids by story: `away` (B → C, which closes it), `back` (B → C → B → D), `returned` (B → C → B)."""
    at: dict[tuple[str, str], datetime]
    """When each step took effect, by (story, `<org> <command>`)."""


def _recorded_rows(messages: list[Outgoing]) -> list[HistoryRow]:
    """Each message as the replay reads it, published (Kafka timestamp) one second after it took effect."""
    rows = []
    for offset, message in enumerate(messages):
        headers, value = message.event.to_kafka()
        assert message.event.time is not None
        published = int((message.event.time + timedelta(seconds=1)).timestamp() * 1000)
        row = row_of(message.topic, 0, offset, published, headers, value)
        assert not isinstance(row, Rejected), row
        rows.append(row)
    return rows


def _delay_flag(referral_id: str, at: datetime, accepted_at: datetime) -> Outgoing:
    """The new receiver's first-contact clock breached (published by the referral service's clock tick)."""
    data = ReferralDelayV1(
        referral_id=referral_id,
        subject_id="S-0001",
        from_org=SENDER,
        from_service="AAOR",
        to_org=C,
        to_service="PSYCH_CONSULT",
        channel="PHONE",
        urgency="ROUTINE",
        status="ACCEPTED",
        occurred_at=at,
        information_url="http://referral.test/info",
        standard="CONSULT_FIRST_CONTACT",
        bound_s=600,
        started_at=accepted_at,
        due_at=at,
        clock_state="BREACHED",
        responsible_org=C,
    )
    event = CloudEvent(
        id=f"delay-{referral_id}",
        source="/rls/referral",
        type="ca.qc.rls.referral.delay-breached.v1",
        time=at,
        subject=referral_id,
        data=data.model_dump(mode="json"),
    )
    return Outgoing("rls.referral.v1", referral_id, event)


@pytest.fixture
def world(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    audit_settings: Callable[..., Any],
    auth: Auth,
) -> World:
    clock = ManualClock(T0)
    app = build_referral(service_settings(ReferralSettings))
    app.state.application.clock = clock
    app.state.gateways = lambda token: fake_gateways()
    referral = client_for(app)
    ids: dict[str, str] = {}
    at: dict[tuple[str, str], datetime] = {}

    def story(name: str, steps: list[tuple[str, str, dict[str, Any]]]) -> None:
        body = {
            "subject_id": "S-0001",
            "from_org": SENDER,
            "from_service": "AAOR",
            "to_org": B,
            "to_service": "SOCIAL_CONSULT",
            "channel": "PHONE",
            "urgency": "ROUTINE",
            "reason_code": "FAMILY_CRISIS",
        }
        answer = referral.post("/v1/referrals", json=body, headers=auth(SENDER, "intake"))
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
        for org, command, extra in steps:
            clock.advance(STEP)
            answer = referral.post(
                f"/v1/referrals/{ids[name]}/{command}", json=extra or None, headers=auth(org, "intake")
            )
            assert answer.status_code == 200, answer.text
            at[name, f"{org} {command}"] = clock()

    to_c = {"to_org": C, "to_service": "PSYCH_CONSULT"}
    back_to_b = {"to_org": B, "to_service": "SOCIAL_CONSULT"}
    story(
        "away",
        [
            (B, "receive", {}),
            (B, "redirect", to_c),
            (C, "receive", {}),
            (C, "accept", {}),
            (C, "close", {"outcome": "SERVICES_RENDERED"}),
        ],
    )
    back = [(B, "receive", {}), (B, "redirect", to_c), (C, "receive", {}), (C, "redirect", back_to_b)]
    story("back", [*back, (B, "receive", {}), (B, "redirect", {"to_org": D, "to_service": "SOCIAL_CONSULT"})])
    story("returned", [*back, (B, "receive", {}), (B, "accept", {})])
    for org, command in ((D, "receive"), (D, "accept")):  # after the other story's steps: histories interleave
        clock.advance(STEP)
        answer = referral.post(f"/v1/referrals/{ids['back']}/{command}", headers=auth(org, "intake"))
        assert answer.status_code == 200, answer.text
        at["back", f"{org} {command}"] = clock()

    referrals = app.state.application
    messages = stored_messages(referrals, outbox(referrals, "http://referral"))
    accepted = at["away", f"{C} accept"]
    messages.append(_delay_flag(ids["away"], accepted + timedelta(minutes=1), accepted))
    audit_app = build_audit(
        audit_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", kafka_timeout_s=0.5),
        clock=ManualClock(T0 + timedelta(days=1)),
        stores=event_stores,
    )
    history: HistoryDB = audit_app.state.queries.history
    history.ingest(_recorded_rows(messages))
    return World(client_for(audit_app), referral, history, ids, at)


def _state(world: World, story: str, auth: Auth, org: str, role: str = "auditor", **query: str) -> dict[str, Any]:
    answer = world.audit.get(f"/v1/referrals/{world.ids[story]}/state", params=query, headers=auth(org, role))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _steps(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(step["step"], step["to_org"]) for step in state["history"]]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_former_receivers_auditor_reads_the_referral_as_it_stood_when_redirected_away(
    world: World, auth: Auth
) -> None:
    rid, redirected = world.ids["away"], world.at["away", f"{B} redirect"]
    # the referral service shows the former receiver nothing of it any more
    assert world.referral.get(f"/v1/referrals/{rid}", headers=auth(B, "auditor")).status_code == 404

    for as_of in ({}, {"as_of": _iso(world.at["away", f"{C} accept"])}, {"as_of": _iso(redirected)}):
        body = _state(world, "away", auth, B, **as_of)
        state = body["state"]
        assert _steps(state) == [("submitted", B), ("received", B), ("redirected", C)], as_of
        assert (state["status"], state["to_org"], state["to_service"]) == ("REDIRECTED", C, "PSYCH_CONSULT")
        assert state["outcome"] is None and state["delay_flags"] == []
        assert body["shown_until"] == _iso(redirected)
        assert "SERVICES_RENDERED" not in str(body) and "CLOSED" not in str(body) and "ACCEPTED" not in str(body)

    # before the redirection, it is read as everyone reads it then
    before = _iso(redirected - timedelta(seconds=1))
    mine = _state(world, "away", auth, B, as_of=before)
    assert mine == _state(world, "away", auth, *NETWORK, as_of=before)
    assert mine["shown_until"] is None and mine["state"]["status"] == "RECEIVED"


def test_the_cut_holds_on_the_recorded_axis(world: World, auth: Auth) -> None:
    """Published order and publication times: what was published after the redirection stays out."""
    published = world.at["away", f"{B} redirect"] + timedelta(seconds=1)
    later = _state(world, "away", auth, B, axis="recorded", as_of=_iso(published + timedelta(days=1)))
    assert later["state"]["status"] == "REDIRECTED" and later["shown_until"] is not None
    assert _steps(later["state"])[-1] == ("redirected", C)
    earlier = _state(world, "away", auth, B, axis="recorded", as_of=_iso(published - timedelta(milliseconds=1)))
    assert earlier["state"]["status"] == "RECEIVED" and earlier["shown_until"] is None


@pytest.mark.parametrize(
    ("org", "role"), [(SENDER, "auditor"), (C, "auditor"), NETWORK], ids=["sender", "current-receiver", "network"]
)
def test_the_sender_the_current_receiver_and_network_auditors_read_it_whole(
    world: World, auth: Auth, org: str, role: str
) -> None:
    body = _state(world, "away", auth, org, role)
    whole = state_as_of(world.history, "referral", world.ids["away"], T0 + timedelta(days=1))
    assert body["state"] == whole and body["shown_until"] is None
    assert (whole["status"], whole["outcome"]) == ("CLOSED", "SERVICES_RENDERED")
    assert [flag["responsible_org"] for flag in whole["delay_flags"]] == [C]


def test_an_organisation_that_never_received_it_reads_none_of_it(world: World, auth: Auth) -> None:
    for org in ("org-z", D):
        answer = world.audit.get(f"/v1/referrals/{world.ids['away']}/state", headers=auth(org, "auditor"))
        assert answer.status_code == 404 and "SERVICES_RENDERED" not in answer.text


def test_a_receiver_that_got_it_back_reads_its_periods_up_to_its_last_redirection_away(
    world: World, auth: Auth
) -> None:
    """B → C → B → D: B's auditors read up to the redirection to D (C's steps in between included: B was shown them
    when it got the referral back), nothing of D's; C's auditors up to their own redirection back to B."""
    b = _state(world, "back", auth, B)
    assert _steps(b["state"]) == [
        ("submitted", B),
        ("received", B),
        ("redirected", C),
        ("received", C),
        ("redirected", B),
        ("received", B),
        ("redirected", D),
    ]
    assert b["state"]["status"] == "REDIRECTED" and b["shown_until"] == _iso(world.at["back", f"{B} redirect"])

    c = _state(world, "back", auth, C)
    assert _steps(c["state"])[-1] == ("redirected", B) and len(c["state"]["history"]) == 5
    assert c["shown_until"] == _iso(world.at["back", f"{C} redirect"])

    # between its periods, B reads the referral as it stood then (it was shown all of it on its return)
    while_at_c = _state(world, "back", auth, B, as_of=_iso(world.at["back", f"{C} receive"]))
    assert while_at_c["state"]["to_org"] == C and while_at_c["shown_until"] is None

    d = _state(world, "back", auth, D)  # the current receiver: whole
    assert d["state"]["status"] == "ACCEPTED" and _steps(d["state"])[-1] == ("accepted", D)
    assert d["shown_until"] is None


def test_a_receiver_that_holds_it_again_reads_it_whole(world: World, auth: Auth) -> None:
    body = _state(world, "returned", auth, B)
    assert body["state"]["status"] == "ACCEPTED" and body["shown_until"] is None
    assert _steps(body["state"])[-1] == ("accepted", B)
    assert world.referral.get(f"/v1/referrals/{world.ids['returned']}", headers=auth(B, "auditor")).status_code == 200


def test_a_cut_read_is_on_the_trail_and_no_other_route_shows_the_referral_to_a_former_receiver(
    world: World, auth: Auth
) -> None:
    rid = world.ids["away"]
    _state(world, "away", auth, B)
    _state(world, "away", auth, B, as_of=_iso(world.at["away", f"{B} receive"]))
    _state(world, "away", auth, SENDER)
    own = world.audit.get("/v1/inquiries", headers=auth(B, "auditor")).json()
    assert [(e["target"], e["outcome"]) for e in own if e["action"] == "STATE"] == [
        (f"referral/{rid}", "OK: CUT AT REDIRECTION"),
        (f"referral/{rid}", "OK"),
    ]
    everyone = world.audit.get("/v1/inquiries", headers=auth(*NETWORK)).json()
    assert [e["outcome"] for e in everyone if e["action"] == "STATE"] == ["OK: CUT AT REDIRECTION", "OK", "OK"]
    # the network-wide report and the others are not an organisation's auditor's to read
    for path in ("/v1/reports/compliance", "/v1/reports/compliance?format=csv", "/v1/integrity", "/v1/replay"):
        assert world.audit.get(path, headers=auth(B, "auditor")).status_code == 403


def test_a_former_receivers_own_breaches_flagged_after_its_redirection_are_read_by_its_auditors(
    audit_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth
) -> None:
    """org-b's call-back bound passed while no tick ran; org-b redirected to org-c, which then received and accepted
    it and let its own first-contact bound pass. The tick flags org-b's breaches after the redirection (true time
    before it): they are org-b's own, its auditors read them (the notifications service delivers them to org-b);
    org-c's steps, status and breach stay out of their view (review: the cut hid org-b's own breaches)."""
    clock = ManualClock(REFERRAL_T0)
    referrals = make_referrals(clock=clock)
    referral = submit(referrals, "AAOR", channel="PHONE")
    clock.advance(timedelta(hours=30))
    redirected_at = clock()
    referrals.redirect(
        referral.id, Step(B, "worker", redirected_at, to_org=C, to_service="SOCIAL_CONSULT"), None, FakeDirectory()
    )
    assert referrals.tick() == 2  # org-b's own clock: flagged now, after the redirection
    for command in ("receive", "accept"):
        clock.advance(STEP)
        referrals.perform(referral.id, command, Step(C, "worker", clock()), None)
    clock.advance(timedelta(days=60))
    assert referrals.tick() >= 1  # org-c's clocks
    audit_app = build_audit(
        audit_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", kafka_timeout_s=0.5),
        clock=ManualClock(clock() + timedelta(days=1)),
        stores=event_stores,
    )
    audit_app.state.queries.history.ingest(rows_of(stored_messages(referrals, outbox(referrals, "http://referral"))))
    audit = client_for(audit_app)

    def read(org: str, role: str = "auditor") -> dict[str, Any]:
        answer = audit.get(f"/v1/referrals/{referral.id}/state", headers=auth(org, role))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    whole = read(*NETWORK)["state"]
    assert whole["status"] == "ACCEPTED" and C in [flag["responsible_org"] for flag in whole["delay_flags"]]
    body = read(B)
    state = body["state"]
    assert [flag["responsible_org"] for flag in state["delay_flags"]] == [B, B]
    assert {flag["state"] for flag in state["delay_flags"]} == {"AT_RISK", "BREACHED"}
    assert [(step["step"], step["to_org"]) for step in state["history"]][-1] == ("redirected", C)
    assert (state["status"], state["to_org"], state["outcome"]) == ("REDIRECTED", C, None)
    assert body["shown_until"] == _iso(redirected_at)
    assert "ACCEPTED" not in str(body) and "CONSULT_FIRST_CONTACT" not in str(body)
    assert read(C)["state"] == whole  # the current receiver reads it whole


def test_a_former_receivers_flag_naming_the_next_receiver_does_not_hand_that_one_the_whole_referral(
    audit_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth
) -> None:
    """org-b's call-back bound passed while no tick ran; org-b oriented the person to org-c's AAOR, which passed the
    request to org-d, which accepted it. org-b's flags, caught up afterwards, show the referral as org-b's
    redirection left it (to org-c): org-c is not its holder for that, and its auditors still read it only up to its
    own redirection to org-d."""
    clock = ManualClock(REFERRAL_T0)
    referrals = make_referrals(clock=clock)
    referral = submit(referrals, "AAOR", channel="PHONE")
    clock.advance(timedelta(hours=30))
    referrals.redirect(referral.id, Step(B, "worker", clock(), to_org=C, to_service="AAOR"), None, FakeDirectory())
    referrals.perform(referral.id, "receive", Step(C, "worker", clock.advance(STEP)), None)
    away = clock.advance(STEP)
    referrals.redirect(
        referral.id, Step(C, "worker", away, to_org=D, to_service="PSYCH_CONSULT"), None, FakeDirectory()
    )
    referrals.perform(referral.id, "accept", Step(D, "worker", clock.advance(STEP)), None)
    assert referrals.tick() == 2  # org-b's call-back, at risk and breached
    audit_app = build_audit(
        audit_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", kafka_timeout_s=0.5),
        clock=ManualClock(clock() + timedelta(days=1)),
        stores=event_stores,
    )
    audit_app.state.queries.history.ingest(rows_of(stored_messages(referrals, outbox(referrals, "http://referral"))))
    answer = client_for(audit_app).get(f"/v1/referrals/{referral.id}/state", headers=auth(C, "auditor"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["shown_until"] == _iso(away)
    assert (body["state"]["status"], body["state"]["to_org"]) == ("REDIRECTED", D)
    assert "ACCEPTED" not in str(body)
