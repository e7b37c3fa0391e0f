"""Replay from Kafka and states as of a date: what the audit rebuilds equals what the services showed at the time."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.agreements.main import build_app as build_agreements
from services.agreements.outbound import AgreementsOutbound
from services.agreements.settings import AgreementsSettings
from services.audit.inbound import KafkaReplay, row_of
from services.audit.sources import replay_stores
from services.audit.states import KINDS, state_as_of
from services.audit.views import Axis, HistoryDB, Rejected, parse_time
from services.common.auth import PLATFORM_ORG
from services.common.clock import ManualClock
from services.common.relay import Mapper
from services.consent.main import build_app as build_consent
from services.consent.outbound import consent_messages
from services.consent.settings import ConsentSettings
from services.contract import topics
from services.referral.main import build_app as build_referral
from services.referral.outbound import ReferralOutbound
from services.referral.settings import ReferralSettings
from services.runtime.registry import event_stores
from tests.audit.conftest import Auth, ingest, relay_to_fresh_topics, stored_messages
from tests.referral.fakes import fake_gateways

D1 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CSSS, ORG = "csss-a", "org-b"

REFERRAL_KEYS = ("status", "subject_id", "from_org", "from_service", "to_org", "to_service", "channel", "urgency")
AGREEMENT_KEYS = ("status", "version", "revision", "kind", "title", "parties", "services", "clientele", "start")
CONSENT_KEYS = ("status", "subject_id", "method", "purposes", "categories", "recorded_by_org")


class World:
    """The referral, agreements and consent services in one process, on SQLite stores, under one manual clock."""

    def __init__(
        self, service_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth, tmp: Path
    ) -> None:
        self.clock = ManualClock(D1)
        self.auth = auth
        referral_app = build_referral(
            service_settings(ReferralSettings, event_store=f"sqlite:///{tmp / 'referral.db'}")
        )
        referral_app.state.application.clock = self.clock
        referral_app.state.gateways = lambda token: fake_gateways()
        self.referral = client_for(referral_app)
        self.agreements = client_for(
            build_agreements(
                service_settings(
                    AgreementsSettings, event_store=f"sqlite:///{tmp / 'agreements.db'}", scheduler_enabled=False
                ),
                clock=self.clock,
            )
        )
        self.consent = client_for(
            build_consent(
                service_settings(ConsentSettings, event_store=f"sqlite:///{tmp / 'consent.db'}"), clock=self.clock
            )
        )
        self.ids: dict[str, str] = {}

    def call(self, client: TestClient, path: str, org: str, role: str, body: Any = None, expect: int = 200) -> Any:
        response = client.post(path, json=body, headers=self.auth(org, role) | {"Idempotency-Key": path})
        assert response.status_code == expect, response.text
        return response.json()

    def snapshot(self) -> tuple[datetime, dict[str, Any]]:
        auditor = self.auth("audit-office", "network-auditor")
        return self.clock.now, {
            "referral": self.referral.get(f"/v1/referrals/{self.ids['referral']}", headers=auditor).json(),
            "agreement": self.agreements.get(
                f"/v1/agreements/{self.ids['agreement']}", headers=self.auth(CSSS, "coordinator")
            ).json(),
            "consent": self.consent.get(f"/v1/consents/{self.ids['consent']}", headers=auditor).json(),
        }

    def outboxes(self) -> list[tuple[Any, Mapper]]:
        """Each service's application and the mapping its relay applies."""
        referrals, agreements = self.app(self.referral), self.app(self.agreements)
        return [
            (referrals, ReferralOutbound("http://referral.test", lambda i, v: referrals.repository.get(i, version=v))),
            (agreements, AgreementsOutbound(lambda i, v: agreements.repository.get(i, version=v))),
            (self.app(self.consent), consent_messages),
        ]

    def messages(self) -> list[Any]:
        """What the relays publish for the whole stores."""
        return [m for app, mapper in self.outboxes() for m in stored_messages(app, mapper)]

    @staticmethod
    def app(client: TestClient) -> Any:
        app: Any = client.app
        return app.state.application


def consent_body(subject_id: str, valid_from: str, **more: Any) -> dict[str, Any]:
    """A written consent of the person themself to a referral to ORG, of their contact details unless said."""
    return {
        "subject_id": subject_id,
        "subject_birth_date": "1990-05-06",
        "granted_by": {"role": "SELF"},
        "method": "WRITTEN",
        "purposes": ["REFERRAL"],
        "recipients": [{"org_id": ORG}],
        "categories": ["CONTACT"],
        "valid_from": valid_from,
    } | more


def live_history(world: World) -> list[tuple[datetime, dict[str, Any]]]:
    """Three dates of changes, each followed by a snapshot of what the services show."""
    w, snapshots = world, []
    for org, kind in ((CSSS, "CSSS"), (ORG, "COMMUNITY_ORGANISATION")):
        body = {"id": org, "name": org, "kind": kind, "territory": "RLS Nord", "services": ["AAOR", "SOCIAL_CONSULT"]}
        w.call(w.agreements, "/v1/organisations", PLATFORM_ORG, "admin", body, expect=201)
    draft = {
        "kind": "COLLABORATION",
        "title": "Entente de collaboration",
        "parties": [CSSS, ORG],
        "services": ["SOCIAL_CONSULT"],
        "clientele": "Adults",
        "start": "2026-03-01",
    }
    w.ids["agreement"] = w.call(w.agreements, "/v1/agreements", CSSS, "coordinator", draft, expect=201)["id"]
    w.call(w.agreements, f"/v1/agreements/{w.ids['agreement']}/sign", CSSS, "coordinator")
    consent = consent_body(
        "S-AUDIT-02", "2026-03-01", categories=["IDENTIFICATION", "CONTACT"], valid_until="2026-12-31"
    )
    w.ids["consent"] = w.call(w.consent, "/v1/consents", CSSS, "intake", consent, expect=201)["id"]
    referral = {
        "subject_id": "S-AUDIT-02",
        "from_org": CSSS,
        "from_service": "AAOR",
        "to_org": ORG,
        "to_service": "SOCIAL_CONSULT",
        "channel": "PHONE",
        "urgency": "ROUTINE",
        "reason_code": "FAMILY_CRISIS",
    }
    w.ids["referral"] = w.call(w.referral, "/v1/referrals", CSSS, "intake", referral, expect=201)["id"]
    w.clock.advance(timedelta(hours=2))
    w.call(w.referral, f"/v1/referrals/{w.ids['referral']}/receive", ORG, "clinician")
    w.clock.advance(timedelta(hours=1))
    snapshots.append(w.snapshot())

    w.clock.advance(timedelta(days=3))
    w.call(w.agreements, f"/v1/agreements/{w.ids['agreement']}/sign", ORG, "coordinator")
    w.call(w.referral, f"/v1/referrals/{w.ids['referral']}/accept", ORG, "clinician")
    w.clock.advance(timedelta(hours=5))
    w.call(w.referral, f"/v1/referrals/{w.ids['referral']}/first-contact", ORG, "clinician")
    w.clock.advance(timedelta(hours=1))
    snapshots.append(w.snapshot())

    w.clock.advance(timedelta(days=20))
    w.call(w.agreements, f"/v1/agreements/{w.ids['agreement']}/suspend", CSSS, "coordinator", {"reason": "review"})
    w.call(w.consent, f"/v1/consents/{w.ids['consent']}/withdraw", CSSS, "intake", {})
    w.call(w.referral, f"/v1/referrals/{w.ids['referral']}/start-follow-up", ORG, "clinician")
    w.call(w.referral, f"/v1/referrals/{w.ids['referral']}/close", ORG, "clinician", {"outcome": "SERVICES_GIVEN"})
    w.clock.advance(timedelta(minutes=30))
    snapshots.append(w.snapshot())
    return snapshots


def same_time(a: Any, b: Any) -> bool:
    return parse_time(str(a)) == parse_time(str(b))


def assert_same(kind: str, rebuilt: dict[str, Any], seen: dict[str, Any]) -> None:
    if kind == "referral":
        assert {k: rebuilt[k] for k in REFERRAL_KEYS} == {k: seen[k] for k in REFERRAL_KEYS}
        assert same_time(rebuilt["submitted_at"], seen["submitted_at"])
        assert [(s["step"], s["to_org"], s["to_service"]) for s in rebuilt["history"]] == [
            (s["step"], s["to_org"], s["to_service"]) for s in seen["history"]
        ]
        assert all(same_time(a["at"], b["at"]) for a, b in zip(rebuilt["history"], seen["history"], strict=True))
    elif kind == "agreement":
        assert {k: rebuilt[k] for k in AGREEMENT_KEYS} == {k: seen[k] for k in AGREEMENT_KEYS}
        assert sorted(rebuilt["signed_by"]) == sorted(s["party"] for s in seen["signatures"])
        assert rebuilt.get("reason") == seen["status_reason"]
    else:
        assert {k: rebuilt[k] for k in CONSENT_KEYS} == {k: seen[k] for k in CONSENT_KEYS}
        for key in ("valid_from", "valid_until", "withdrawn_at"):
            assert (rebuilt[key] is None and seen[key] is None) or same_time(rebuilt[key], seen[key])


@pytest.mark.integration
def test_states_at_three_dates_equal_the_states_captured_at_those_moments(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    kafka_bootstrap: str,
) -> None:
    world = World(service_settings, client_for, auth, tmp_path)
    snapshots = live_history(world)
    prefix = relay_to_fresh_topics(kafka_bootstrap, world.outboxes())
    history = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    wanted = [prefix + t for t in (topics.REFERRAL, topics.AGREEMENTS, topics.CONSENT_DECISIONS, topics.CONSENT)]

    stats = KafkaReplay(kafka_bootstrap, wanted, history, batch=50).run()

    assert stats.complete and stats.rejected == 0 and stats.read == len(world.messages()) == history.count()
    for moment, seen in snapshots:
        for kind in ("referral", "agreement", "consent"):
            rebuilt = state_as_of(history, kind, world.ids[kind], moment)  # type: ignore[arg-type]
            assert rebuilt is not None, (kind, moment)
            assert_same(kind, rebuilt, seen[kind])
    assert state_as_of(history, "referral", world.ids["referral"], D1 - timedelta(seconds=1)) is None
    # On the recorded axis, what the platform had published by then: nothing in March (relayed today), all of it now.
    assert state_as_of(history, "consent", world.ids["consent"], snapshots[2][0], "recorded") is None
    now = state_as_of(history, "consent", world.ids["consent"], datetime.now(UTC), "recorded")
    assert now is not None and now["status"] == "WITHDRAWN"


@pytest.mark.integration
def test_replay_until_a_date_leaves_out_what_happened_after_it(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    kafka_bootstrap: str,
) -> None:
    world = World(service_settings, client_for, auth, tmp_path)
    snapshots = live_history(world)
    prefix = relay_to_fresh_topics(kafka_bootstrap, [(world.app(world.consent), consent_messages)])
    history = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")

    stats = KafkaReplay(kafka_bootstrap, [prefix + topics.CONSENT], history, until=snapshots[0][0]).run()

    assert (stats.read, stats.stored, stats.after_until) == (2, 1, 1)  # recorded, then withdrawn after --until
    rebuilt = state_as_of(history, "consent", world.ids["consent"], snapshots[2][0])
    assert rebuilt is not None and rebuilt["status"] == "ACTIVE" and rebuilt["withdrawn_at"] is None


@pytest.mark.integration
def test_states_rebuild_the_same_on_a_postgresql_audit_database(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    postgres_dsn: str,
) -> None:
    world = World(service_settings, client_for, auth, tmp_path)
    snapshots = live_history(world)
    history = HistoryDB(f"{postgres_dsn}{'&' if '?' in postgres_dsn else '?'}schema=h_{uuid.uuid4().hex[:10]}")
    ingest(history, world.messages())
    ingest(history, world.messages())  # a relay re-publishing after a crash: same ids, nothing doubled

    assert history.count() == len(world.messages())
    for moment, seen in snapshots:
        rebuilt = state_as_of(history, "agreement", world.ids["agreement"], moment)
        assert rebuilt is not None
        assert_same("agreement", rebuilt, seen["agreement"])


def test_replay_from_the_event_stores_gives_the_history_the_relays_publish(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    audit_settings: Callable[..., Any],
) -> None:
    world = World(service_settings, client_for, auth, tmp_path)
    snapshots = live_history(world)
    settings = audit_settings(var_dir=tmp_path)  # the stores are <var>/<service>.db, as by default
    from_stores = HistoryDB(f"sqlite:///{tmp_path / 'from-stores.db'}")

    stats = replay_stores(event_stores(settings), from_stores, until=snapshots[1][0])

    relayed = [m.event for m in world.messages()]
    assert stats.read == len(relayed) and stats.rejected == 0
    assert stats.stored + stats.after_until == len(relayed) and stats.after_until > 0
    kept = {e.id for e in relayed if e.time <= snapshots[1][0]}
    assert {r.event_id for kind in ("referral", "agreement", "consent") for r in from_stores.events_of(kind)} <= kept
    rebuilt = state_as_of(from_stores, "referral", world.ids["referral"], snapshots[2][0])
    assert rebuilt is not None and rebuilt["status"] == snapshots[1][1]["referral"]["status"]


def recorded_times(history: HistoryDB) -> dict[str, str | None]:
    """When the audit database says each of its events was recorded, by CloudEvent id."""
    with history.connect() as db:
        return dict(db.execute("SELECT event_id, recorded_at FROM history_events").fetchall())


def test_a_replay_from_the_stores_alone_dates_the_recorded_axis_by_when_each_store_recorded_the_event(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    audit_settings: Callable[..., Any],
) -> None:
    """No Kafka timestamp in a store: an event counts on the recorded axis from the timestamp its service stored it
    with (to the millisecond, as Kafka's), not never."""
    before = datetime.now(UTC)
    world = World(service_settings, client_for, auth, tmp_path)
    live_history(world)
    after = datetime.now(UTC)
    history = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")

    replay_stores(event_stores(audit_settings(var_dir=tmp_path)), history)

    for kind in KINDS:
        entity_id = world.ids[kind]
        assert state_as_of(history, kind, entity_id, before - timedelta(seconds=1), "recorded") is None
        recorded = state_as_of(history, kind, entity_id, after, "recorded")
        assert recorded is not None and recorded == state_as_of(history, kind, entity_id, after)
    times = recorded_times(history)
    assert times and all(before - timedelta(milliseconds=1) < parse_time(str(t)) <= after for t in times.values())


@pytest.mark.integration
def test_replays_from_kafka_and_from_the_stores_differ_on_the_recorded_axis_only_by_the_relay_delay(
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    audit_settings: Callable[..., Any],
    kafka_bootstrap: str,
) -> None:
    """A store dates an event when it stored it, Kafka when the relay published it (later). Replayed from both (as
    `rls audit replay --from-stores`: the topics first), an event on Kafka keeps Kafka's time; one only in a store
    (recorded after the relay's last run) gets the store's."""
    world = World(service_settings, client_for, auth, tmp_path)
    live_history(world)
    stored_by = datetime.now(UTC)
    prefix = relay_to_fresh_topics(kafka_bootstrap, world.outboxes())
    unrelayed = world.consent.post(
        "/v1/consents", json=consent_body("S-AUDIT-07", "2026-03-01"), headers=auth(CSSS, "intake")
    ).json()["id"]
    stores = event_stores(audit_settings(var_dir=tmp_path))
    wanted = [prefix + t for t in (topics.REFERRAL, topics.AGREEMENTS, topics.CONSENT_DECISIONS, topics.CONSENT)]
    from_kafka, from_stores, mixed = (HistoryDB(f"sqlite:///{tmp_path / f'{n}.db'}") for n in ("k", "s", "m"))

    assert KafkaReplay(kafka_bootstrap, wanted, from_kafka).run().complete
    replay_stores(stores, from_stores)
    assert KafkaReplay(kafka_bootstrap, wanted, mixed).run().complete
    replay_stores(stores, mixed)

    published, stored, both = recorded_times(from_kafka), recorded_times(from_stores), recorded_times(mixed)
    only_stored = stored.keys() - published.keys()
    assert len(only_stored) == 1 and published.keys() < stored.keys()
    assert all(str(stored[i]) <= str(published[i]) for i in published)  # stored before it was published
    assert both == published | {i: stored[i] for i in only_stored}
    now = datetime.now(UTC)
    for kind in KINDS:
        entity_id = world.ids[kind]
        replayed = state_as_of(from_stores, kind, entity_id, now, "recorded")
        assert replayed is not None and replayed == state_as_of(from_kafka, kind, entity_id, now, "recorded")
    # stored, not yet published: the stores show it on the recorded axis, Kafka does not
    assert state_as_of(from_stores, "consent", world.ids["consent"], stored_by, "recorded") is not None
    assert state_as_of(from_kafka, "consent", world.ids["consent"], stored_by, "recorded") is None
    assert state_as_of(from_kafka, "consent", unrelayed, now, "recorded") is None
    assert state_as_of(mixed, "consent", unrelayed, now, "recorded") is not None


def test_replay_from_a_store_encrypted_at_rest_uses_the_services_key(
    monkeypatch: pytest.MonkeyPatch,
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
    tmp_path: Path,
    audit_settings: Callable[..., Any],
) -> None:
    from eventsourcing.cryptography import AESCipher

    key = AESCipher.create_key(16)
    consent = client_for(
        build_consent(
            service_settings(ConsentSettings, event_store=f"sqlite:///{tmp_path / 'consent.db'}", cipher_key=key),
            clock=ManualClock(D1),
        )
    )
    body = consent_body("S-AUDIT-05", "2026-03-01")
    consent_id = consent.post("/v1/consents", json=body, headers=auth(CSSS, "intake")).json()["id"]
    history = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")

    monkeypatch.setenv("CONSENT_CIPHER_KEY", key)  # the consent service's own variable, read by the registry
    stats = replay_stores(event_stores(audit_settings(var_dir=tmp_path)), history)

    assert stats.stored == 1 and stats.skipped == ["referral", "agreements"]
    rebuilt = state_as_of(history, "consent", consent_id, D1)
    assert rebuilt is not None and rebuilt["categories"] == ["CONTACT"]


def test_a_backdated_withdrawal_counts_from_the_date_it_took_effect_on_the_effective_axis_only(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], auth: Auth, tmp_path: Path
) -> None:
    """Recorded on the 12th, effective on the 5th: as of the 8th the consent was withdrawn (what happened), though
    the platform published it only on the 12th (what the recorded axis shows)."""
    clock = ManualClock(datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
    consent = client_for(build_consent(service_settings(ConsentSettings), clock=clock))
    body = consent_body("S-AUDIT-06", "2026-11-01")
    consent_id = consent.post("/v1/consents", json=body, headers=auth(CSSS, "intake")).json()["id"]
    clock.advance(timedelta(days=10))
    withdrawn = consent.post(
        f"/v1/consents/{consent_id}/withdraw", json={"at": "2026-11-05T12:00:00Z"}, headers=auth(CSSS, "intake")
    )
    assert withdrawn.status_code == 200, withdrawn.text
    history = HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")
    rows = []
    for message in stored_messages(consent.app.state.application, consent_messages):  # type: ignore[attr-defined]
        headers, value = message.event.to_kafka()
        published_ms = int(message.event.time.timestamp() * 1000)  # relayed as soon as recorded
        row = row_of(message.topic, 0, len(rows), published_ms, headers, value)
        assert not isinstance(row, Rejected)
        rows.append(row)
    history.ingest(rows)

    def seen(day: int, axis: Axis) -> tuple[str, str | None]:
        state = state_as_of(history, "consent", consent_id, datetime(2026, 11, day, 23, 0, tzinfo=UTC), axis)
        assert state is not None
        return state["status"], state["withdrawn_at"]

    assert seen(4, "effective") == ("ACTIVE", None)
    assert seen(8, "effective") == ("WITHDRAWN", "2026-11-05T12:00:00Z")
    assert seen(8, "recorded") == ("ACTIVE", None)
    assert seen(12, "recorded") == ("WITHDRAWN", "2026-11-05T12:00:00Z")
