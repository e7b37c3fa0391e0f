# ruff: noqa: S608 -- the tests tamper with stores through SQL built from fixed table names
"""Tamper evidence of the event stores (SQLite file and a real PostgreSQL server): seals, verification, checkpoints."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from services.audit.application import IntegrityAnswer
from services.audit.verification import NO_CHECKPOINT, FindingKind, verify_store, verify_stores
from services.common.eventstore import StoreRef, TrackedApplication, persistence_env
from services.common.integrity import sealing
from services.common.integrity.checkpoints import Checkpoint, CheckpointPublisher, checkpoint_of
from services.common.integrity.sealing import (
    LOOK_AHEAD_WAIT,
    READ_AHEAD_WAIT,
    AggregateHeads,
    HeadsAhead,
    SealedStore,
)
from services.common.kafka import Outgoing
from services.common.metrics import checkpoint_readings
from services.contract.audit_events import IntegrityCheckpointV1
from services.referral.application import Referrals
from services.referral.vault import Vault
from tests.conftest import fresh_postgres_store
from tests.helpers import spied
from tests.integration.test_event_stores import SUBMISSION
from tests.referral.fakes import FakeDirectory


class Counter(Aggregate):
    @event("Started")
    def __init__(self) -> None:
        self.n = 0

    @event("Incremented")
    def increment(self) -> None:
        self.n += 1


class Memo(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class Counters(TrackedApplication):
    name = "counters"


class RawStore:
    """Direct SQL on a store, as someone with database access would tamper with it."""

    def __init__(self, url: str, application: str) -> None:
        parsed = urlparse(url)
        self.postgres = parsed.scheme.startswith("postgres")
        if self.postgres:
            self.dsn = url.split("?")[0]
            self.schema = parse_qs(parsed.query)["schema"][0]
            self.events, self.seals, self.nid = f"{application}_events", f"{application}_seals", "notification_id"
        else:
            self.path = parsed.path.removeprefix("/")
            self.events, self.seals, self.nid = "stored_events", "integrity_seals", "rowid"

    def run(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        results: list[Any] = []
        if self.postgres:
            with psycopg.connect(self.dsn) as db:
                db.execute(f"SET search_path TO {self.schema}")
                for sql, params in statements:
                    cursor = db.execute(sql.replace("?", "%s"), params)
                    results.append(cursor.fetchall() if cursor.description else None)
            return results
        db = sqlite3.connect(self.path)
        with db:
            for sql, params in statements:
                cursor = db.execute(sql, params)
                results.append(cursor.fetchall())
        db.close()
        return results

    def flip_byte(self, nid: int) -> None:
        (rows,) = self.run([(f"SELECT state FROM {self.events} WHERE {self.nid} = ?", (nid,))])
        state = bytearray(rows[0][0])
        state[len(state) // 2] ^= 0x01
        self.run([(f"UPDATE {self.events} SET state = ? WHERE {self.nid} = ?", (bytes(state), nid))])

    def delete(self, nid: int) -> None:
        self.run([(f"DELETE FROM {self.events} WHERE {self.nid} = ?", (nid,))])

    def swap(self, a: int, b: int) -> None:
        update = f"UPDATE {self.events} SET {self.nid} = ? WHERE {self.nid} = ?"
        self.run([(update, (-1, a)), (update, (a, b)), (update, (b, -1))])

    def edit_seal(self, nid: int) -> None:
        self.run([(f"UPDATE {self.seals} SET aggregate_hash = ? WHERE notification_id = ?", ("0" * 64, nid))])

    def drop_seal(self, nid: int) -> None:
        self.run([(f"DELETE FROM {self.seals} WHERE notification_id = ?", (nid,))])

    def drop_seals_from(self, nid: int) -> None:
        self.run([(f"DELETE FROM {self.seals} WHERE notification_id >= ?", (nid,))])


@pytest.fixture
def counters(store_url: str) -> Iterator[Counters]:
    """Twelve events of three counters recorded together, then one more event per counter (fifteen in all)."""
    with Counters(env=persistence_env(store_url)) as app:
        items = [Counter() for _ in range(3)]
        for item in items:
            for _ in range(3):
                item.increment()
        app.record(*items)
        for item in items:
            item.increment()
            app.save(item)
        yield app


def raw(store_url: str) -> RawStore:
    return RawStore(store_url, "counters")


def kinds_at(app: TrackedApplication) -> list[tuple[str, int | None]]:
    assert isinstance(app.recorder, SealedStore)
    return [(f.kind.value, f.notification_id) for f in verify_store(app.recorder).findings]


def test_each_stored_event_is_sealed_and_the_store_verifies(counters: Counters) -> None:
    assert isinstance(counters.recorder, SealedStore)
    result = verify_store(counters.recorder)
    head = counters.sealed_head()
    assert result.ok and result.events == result.sealed == 15
    assert head is not None and head.notification_id == 15 and head.sealed == 15


def test_one_changed_byte_of_one_event_is_named(counters: Counters, store_url: str) -> None:
    raw(store_url).flip_byte(5)
    assert kinds_at(counters) == [("altered", 5)]


def test_a_deleted_event_is_named(counters: Counters, store_url: str) -> None:
    raw(store_url).delete(7)
    assert kinds_at(counters) == [("removed", 7)]


def test_two_swapped_events_are_both_named(counters: Counters, store_url: str) -> None:
    raw(store_url).swap(3, 9)
    assert kinds_at(counters) == [("reordered", 3), ("reordered", 9)]


def test_a_deleted_event_with_its_seal_breaks_the_chain_at_the_next_seal(counters: Counters, store_url: str) -> None:
    store = raw(store_url)
    store.delete(6)
    store.run([(f"DELETE FROM {store.seals} WHERE notification_id = ?", (6,))])
    findings = kinds_at(counters)
    assert findings[0] == ("removed", None)  # the aggregate's version is missing, and so is its seal
    assert ("seal-broken", 7) in findings


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda raw: raw.flip_byte(5), [("altered", 5)]),
        (lambda raw: raw.delete(7), [("removed", 7)]),
        (lambda raw: raw.swap(3, 9), [("reordered", 3), ("reordered", 9)]),
        (lambda raw: raw.delete(15), [("removed", 15)]),
        (lambda raw: raw.edit_seal(8), [("seal-broken", 8), ("seal-broken", 14)]),
    ],
    ids=["altered", "removed", "swapped", "last-removed", "seal-edited"],
)
def test_tampering_is_named_the_same_whatever_the_page_size(
    counters: Counters, store_url: str, tamper: Callable[[RawStore], None], expected: list[tuple[str, int]]
) -> None:
    """Verification reads pages of events and seals side by side: page boundaries change nothing it finds."""
    tamper(raw(store_url))
    assert isinstance(counters.recorder, SealedStore)
    for page in (2, 3, 10_000):
        found = [(f.kind.value, f.notification_id) for f in verify_store(counters.recorder, page=page).findings]
        assert found == expected, page


class ListSink:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def publish(self, messages: Sequence[Outgoing]) -> None:
        self.sent.extend(messages)


def test_checkpoints_publish_the_chain_head_when_it_moves(counters: Counters) -> None:
    sink = ListSink()
    publisher = CheckpointPublisher(counters.recorder, sink, application="counters", source="/rls/test")
    first = publisher.run_once()
    assert first is not None and first.notification_id == 15
    assert publisher.run_once() is None  # nothing new: nothing published
    item = Counter()
    counters.save(item)
    assert publisher.run_once() is not None
    payloads = [IntegrityCheckpointV1.model_validate(m.event.data) for m in sink.sent]  # the public contract
    assert [p.notification_id for p in payloads] == [15, 16]
    assert sink.sent[0].topic == "rls.audit.checkpoints.v1"


def test_a_checkpoint_counts_the_seals_recorded_since_the_one_before(counters: Counters, store_url: str) -> None:
    """A process's first checkpoint counts every seal; each later one adds the seals after the one before (an index
    range), so publishing costs the same after ten years of events as after ten. Seals deleted under an earlier
    checkpoint are verification's to find, not the count's."""
    sink = ListSink()
    publisher = CheckpointPublisher(counters.recorder, sink, application="counters", source="/rls/test")
    publisher.run_once()
    raw(store_url).drop_seal(3)
    counters.save(*(Counter() for _ in range(3)))
    publisher.run_once()
    payloads = [IntegrityCheckpointV1.model_validate(m.event.data) for m in sink.sent]
    assert [(p.notification_id, p.sealed_events) for p in payloads] == [(15, 15), (18, 18)]
    head = counters.sealed_head()
    assert head is not None and head.sealed == 17  # counted from the start
    assert any(nid == 3 for _, nid in kinds_at(counters))  # the event left without its seal


def test_the_checkpoint_metric_counts_the_events_stored_after_the_last_checkpoint(counters: Counters) -> None:
    """`rls_integrity_checkpoint_behind`, read at every scrape, from the last event's id (not a count of the seals)."""
    publisher = CheckpointPublisher(counters.recorder, ListSink(), application="counters", source="/rls/test")
    [_, behind] = checkpoint_readings(publisher)
    recorder: Any = counters.recorder
    statements = recorder._statements
    uncountable = dataclasses.replace(statements, count="SELECT n FROM no_such_table")  # a scrape counts no seal
    recorder._statements = uncountable

    def reading() -> list[Any]:
        return list(behind.read())

    assert reading() == [(("counters",), 15.0)]
    recorder._statements = statements
    publisher.run_once()
    recorder._statements = uncountable
    counters.save(Counter(), Counter())
    assert reading() == [(("counters",), 2.0)]


def test_a_store_rewritten_and_resealed_contradicts_its_published_checkpoint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    sink = ListSink()
    with Counters(env=persistence_env(url)) as app:
        items = [Counter() for _ in range(4)]
        app.record(*items)
        CheckpointPublisher(app.recorder, sink, application="counters", source="/rls/test").run_once()
        for item in items:
            item.increment()
        app.record(*items)
    store = RawStore(url, "counters")
    store.flip_byte(2)
    store.drop_seals_from(2)
    with Counters(env=persistence_env(url)) as reopened:  # start-up seals the unsealed events again: re-chained
        assert isinstance(reopened.recorder, SealedStore)
        assert verify_store(reopened.recorder).ok  # the seals alone cannot tell
        checkpoints = [c for m in sink.sent if (c := checkpoint_of(m.event))]
        result = verify_store(reopened.recorder, checkpoints)
    assert [(f.kind, f.notification_id) for f in result.findings] == [(FindingKind.REWRITTEN, 4)]
    assert "after #0" in result.findings[0].detail


def rewritten_from_a_new_store_id(url: str, sink: ListSink) -> None:
    """Four counters recorded, checkpointed, incremented, checkpointed; then an event altered, every seal and the
    store id deleted: the next start-up seals the whole store again from a fresh store id."""
    with Counters(env=persistence_env(url)) as app:
        items = [Counter() for _ in range(4)]
        app.record(*items)
        CheckpointPublisher(app.recorder, sink, application="counters", source="/rls/test").run_once()
        for item in items:
            item.increment()
        app.record(*items)
        CheckpointPublisher(app.recorder, sink, application="counters", source="/rls/test").run_once()
    store = RawStore(url, "counters")
    store.flip_byte(2)
    store.drop_seals_from(1)
    store.run([("DELETE FROM integrity_meta", ())])


def test_a_store_rewritten_and_resealed_from_a_new_store_id_is_named_replaced(tmp_path: Path) -> None:
    """The old checkpoints name the old store id only; the ids they name, not this store's, are what tell."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    sink = ListSink()
    rewritten_from_a_new_store_id(url, sink)
    old_id = {c.store_id for m in sink.sent if (c := checkpoint_of(m.event))}.pop()
    with Counters(env=persistence_env(url)) as reopened:
        assert isinstance(reopened.recorder, SealedStore)
        new_id = reopened.recorder.store_id()
        assert new_id is not None and new_id != old_id and verify_store(reopened.recorder).ok  # seals alone: no
        # the restarted service publishes the new chain head too: checkpoints under both ids
        CheckpointPublisher(reopened.recorder, sink, application="counters", source="/rls/test").run_once()
        checkpoints = [c for m in sink.sent if (c := checkpoint_of(m.event))]
        result = verify_store(reopened.recorder, checkpoints, application="counters")
    assert not result.ok
    assert [f.kind for f in result.findings] == [FindingKind.REPLACED_STORE]
    assert (result.checkpoints_matched, result.checkpoints_total) == (1, 1)  # the one under the new id
    detail = result.findings[0].detail
    assert f"store id {old_id} published 2 checkpoint(s) of counters up to event #8" in detail
    assert f"this store's id is {new_id}" in detail
    assert result.other_store_ids == [old_id]


def test_every_other_store_id_of_the_application_is_named_and_other_applications_are_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with Counters(env=persistence_env(url)) as app:
        app.save(Counter())
        assert isinstance(app.recorder, SealedStore)
        current = app.recorder.store_id()
        checkpoints = [
            Checkpoint("gone-1", 3, "00" * 32, datetime(2026, 1, 5, tzinfo=UTC), "counters"),
            Checkpoint("gone-2", 9, "00" * 32, datetime(2026, 2, 5, tzinfo=UTC), "counters"),
            Checkpoint("elsewhere", 4, "00" * 32, datetime(2026, 2, 6, tzinfo=UTC), "referrals"),
        ]
        result = verify_store(app.recorder, checkpoints, application="counters")
        elsewhere = verify_store(app.recorder, checkpoints, application="referrals")
    assert [(f.kind, f.detail.split()[2]) for f in result.findings] == [
        (FindingKind.REPLACED_STORE, "gone-2"),  # the id seen last, first
        (FindingKind.REPLACED_STORE, "gone-1"),
    ]
    assert "the last published 2026-02-05T00:00:00+00:00" in result.findings[0].detail
    assert [f.detail.split()[2] for f in elsewhere.findings] == ["elsewhere"]
    assert current not in {f.detail.split()[2] for f in result.findings}


def test_a_replaced_store_fails_the_verification_of_every_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    sink = ListSink()
    rewritten_from_a_new_store_id(url, sink)
    with Counters(env=persistence_env(url)):
        pass  # start-up re-seals
    checkpoints = [c for m in sink.sent if (c := checkpoint_of(m.event))]
    [verified] = verify_stores([StoreRef("counters", "counters", url)], checkpoints)
    answer = IntegrityAnswer([verified], len(checkpoints), None).as_dict()
    assert answer["ok"] is False
    [store] = answer["stores"]
    assert store["ok"] is False and store["first_finding"].startswith("replaced-store: store: store id ")
    assert store["other_store_ids_with_checkpoints"] == [checkpoints[0].store_id]
    assert store["checkpoints"] == 0 and store["notes"] == []


def test_a_fresh_install_verifies_before_its_first_checkpoint_with_a_note(tmp_path: Path) -> None:
    """No checkpoint anywhere yet (or only other applications'): the seals vouch alone, which the answer says."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    other = Checkpoint("audit-store", 2, "00" * 32, datetime(2026, 2, 6, tzinfo=UTC), "audit")
    with Counters(env=persistence_env(url)) as app:
        app.save(Counter())
    for checkpoints in ([], [other]):
        [verified] = verify_stores([StoreRef("counters", "counters", url)], checkpoints)
        assert verified.ok and verified.result is not None and verified.result.findings == []
        assert verified.notes == [NO_CHECKPOINT]
    sink = ListSink()
    with Counters(env=persistence_env(url)) as app:
        CheckpointPublisher(app.recorder, sink, application="counters", source="/rls/test").run_once()
    [verified] = verify_stores(
        [StoreRef("counters", "counters", url)], [c for m in sink.sent if (c := checkpoint_of(m.event))]
    )
    assert verified.ok and verified.notes == [] and verified.as_dict()["checkpoints_matched"] == 1


def test_an_empty_store_has_nothing_to_checkpoint_and_no_note(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with Counters(env=persistence_env(url)):
        pass
    [verified] = verify_stores([StoreRef("counters", "counters", url)], [])
    assert verified.ok and verified.notes == []


def test_erasing_a_persons_information_by_key_deletion_leaves_every_seal_valid(store_url: str, tmp_path: Path) -> None:
    vault_url = store_url if store_url.startswith("postgres") else f"sqlite:///{tmp_path / 'vault.db'}"
    with Referrals(env=persistence_env(store_url), vault=Vault(vault_url, b"k" * 32)) as referrals:
        referrals.submit(SUBMISSION, "worker-1", "k-erase", FakeDirectory(), {"CONTACT": "555-0199"})
        assert isinstance(referrals.recorder, SealedStore)
        before = verify_store(referrals.recorder)
        assert referrals.vault.erase_subject(SUBMISSION.subject_id)
        after = verify_store(referrals.recorder)
    assert before.ok and after.ok and after.events == before.events >= 1


@pytest.mark.parametrize("service", ["referral", "agreements", "consent", "notifications", "audit"])
def test_every_service_event_store_is_sealed(
    service: str, service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    from services.runtime.registry import app_builder, settings_class

    settings = service_settings(settings_class(service), event_store=f"sqlite:///{tmp_path / 'store.db'}")
    app = app_builder(service)(settings)
    try:
        head_store = app.state.application.recorder
        assert isinstance(head_store, SealedStore)
        assert head_store.store_id()
    finally:
        app.state.application.close()


def test_in_memory_stores_are_not_sealed_and_publish_no_checkpoint() -> None:
    sink = ListSink()
    with Counters(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}) as memory:
        assert CheckpointPublisher(memory.recorder, sink, application="counters", source="/t").run_once() is None
    assert not sink.sent  # nothing outside the process can rewrite an in-memory store


def test_the_deleted_last_event_is_named_and_events_recorded_during_verification_are_not(
    counters: Counters, store_url: str
) -> None:
    raw(store_url).delete(15)
    assert kinds_at(counters) == [("removed", 15)]
    assert isinstance(counters.recorder, SealedStore)
    store = counters.recorder

    class Busy:
        """The store, with an event recorded between reading the rows and reading the seals."""

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def read_rows(self, after: int, limit: int) -> Any:
            rows = store.read_rows(after, limit)
            counters.save(Counter())
            return rows

    assert [(f.kind.value, f.notification_id) for f in verify_store(Busy()).findings] == [("removed", 15)]  # type: ignore[arg-type]


@pytest.mark.integration
def test_a_running_service_publishes_its_checkpoints_on_kafka(
    service_settings: Callable[..., Any],
    client_for: Callable[..., Any],
    auth: Callable[..., dict[str, str]],
    tmp_path: Path,
    kafka_bootstrap: str,
) -> None:
    from services.audit.main import build_app
    from services.audit.settings import AuditSettings
    from services.audit.verification import read_checkpoints
    from tests.helpers import wait_for

    topic = f"t{uuid.uuid4().hex[:8]}.rls.audit.checkpoints.v1"
    settings = service_settings(
        AuditSettings,
        event_store=f"sqlite:///{tmp_path / 'audit.db'}",
        database=f"sqlite:///{tmp_path / 'history.db'}",
        relay_enabled=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        checkpoint_topic=topic,
        checkpoint_interval_s=0.2,
    )
    client = client_for(build_app(settings))
    client.get("/v1/inquiries", headers=auth("cai", "auditor"))  # records an inquiry: the chain head moves

    checkpoints = wait_for(lambda: read_checkpoints(kafka_bootstrap, topic, idle_ms=300), timeout=30)

    store = client.app.state.application.recorder  # type: ignore[attr-defined]
    assert {c.application for c in checkpoints} == {"audit"}
    assert {c.store_id for c in checkpoints} == {store.store_id()}
    assert verify_store(store, checkpoints).checkpoints_matched == len(checkpoints) >= 1


def test_a_store_encrypted_at_rest_is_sealed_and_verified_without_its_key(tmp_path: Path) -> None:
    from eventsourcing.cryptography import AESCipher

    from services.audit.verification import open_store
    from services.common.eventstore import StoreRef

    url = f"sqlite:///{tmp_path / 'events.db'}"
    cipher = {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": AESCipher.create_key(16)}
    with Counters(env={**persistence_env(url), **cipher}) as app:
        items = [Counter() for _ in range(3)]
        app.record(*items)
    store, close = open_store(StoreRef("counters", "counters", url))  # the auditor holds no key
    try:
        assert verify_store(store).ok
        RawStore(url, "counters").flip_byte(2)
        assert [(f.kind.value, f.notification_id) for f in verify_store(store).findings] == [("altered", 2)]
    finally:
        close()


def seal_rows_read(app: Counters, store_url: str, ids: list[str]) -> int:
    """How much of the seals table the sealing recorder's last-seal lookup reads for `ids`: rows read from it
    (PostgreSQL's plan, as executed), or virtual-machine steps (SQLite's, counted by a progress handler)."""
    recorder = app.recorder
    assert isinstance(recorder, SealedStore)
    statement = recorder._statements.aggregate_heads  # type: ignore[attr-defined]
    store = raw(store_url)
    if store.postgres:
        with psycopg.connect(store.dsn) as db:
            text = statement.as_string(db)
            [(plan,)] = db.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}", (ids,)).fetchall()
        return sum(
            node["Actual Rows"] * node["Actual Loops"]
            for node in plan_nodes(plan[0]["Plan"])
            if node.get("Relation Name") == store.seals
        )
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    db = sqlite3.connect(store.path)
    db.set_progress_handler(step, 1)
    db.execute(statement, (json.dumps(ids),)).fetchall()
    db.close()
    return steps


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def test_the_last_seal_of_an_aggregate_is_found_without_reading_its_history(counters: Counters, store_url: str) -> None:
    """Each event of an aggregate seen before chains to that aggregate's last seal: the lookup seeks it from the last
    version, so a write to an aggregate of 1,000 events reads as little as one to an aggregate of 5."""
    long = Counter()
    for _ in range(999):
        long.increment()
    counters.record(long)
    short = next(n.originator_id for n in counters.recorder.select_notifications(1, 1))  # type: ignore[attr-defined]
    read_short = seal_rows_read(counters, store_url, [str(short)])
    read_long = seal_rows_read(counters, store_url, [str(long.id)])
    assert read_long <= read_short + 2, (read_short, read_long)
    assert isinstance(counters.recorder, SealedStore)
    assert verify_store(counters.recorder).ok


def store_lookups(app: Counters, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The aggregates whose last seal `app`'s recorder asks its store for, one list a write that asks."""
    return spied(app.recorder, monkeypatch, "_id_list", list)


def test_a_write_following_the_recorders_own_last_seal_asks_the_store_nothing(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder remembers the last seal of what it sealed itself: the next event of that aggregate chains to it
    without a lookup. Once another writer (another process) has stored an event of it, the versions differ and the
    store is asked again."""
    with Counters(env=persistence_env(store_url)) as mine, Counters(env=persistence_env(store_url)) as theirs:
        asked = store_lookups(mine, monkeypatch)
        counter = Counter()
        counter.increment()
        mine.save(counter)  # versions 1 and 2: a new aggregate follows nothing
        counter.increment()
        mine.save(counter)  # version 3 follows version 2, sealed by this recorder
        assert asked == []

        elsewhere = theirs.repository.get(counter.id)
        elsewhere.increment()
        theirs.save(elsewhere)  # version 4, by another writer
        counter = mine.repository.get(counter.id)
        counter.increment()
        mine.save(counter)  # version 5: this recorder remembers version 3 only
        assert asked == [[str(counter.id)]]

        counter.increment()
        mine.save(counter)
        assert asked == [[str(counter.id)]]
        assert isinstance(mine.recorder, SealedStore)
        assert verify_store(mine.recorder).ok


def test_a_seal_read_from_the_store_is_remembered_unless_a_later_one_is() -> None:
    heads = AggregateHeads()
    heads.learnt({"a": (3, b"three"), "b": (1, b"one")})
    heads.learnt({"a": (2, b"two")})  # read before this recorder's own commit of version 3
    assert heads.before_each({"a": 4, "b": 2}) == {"a": b"three", "b": b"one"}
    assert heads.before_each({"a": 3}) == {}


def test_a_recorder_at_its_capacity_forgets_the_seals_written_least_recently() -> None:
    """Seals are remembered in two generations of half the capacity: the older one is forgotten as a whole when the
    recent one is full (in steps of half the capacity, not one seal at a time)."""
    heads = AggregateHeads(capacity=4)
    heads.learnt({"a": (1, b"a1"), "b": (1, b"b1")})
    heads.learnt({"a": (2, b"a2")})  # written again: now among the last to be forgotten
    heads.learnt({"c": (1, b"c1")})
    assert heads.before_each({"a": 3, "b": 2, "c": 2}) == {"a": b"a2", "c": b"c1"}
    heads.learnt({"c": (0, b"c0")})  # an older seal read late: the later one stays, as recent
    heads.learnt({"d": (1, b"d1")})
    assert heads.before_each({"a": 3, "c": 2, "d": 2}) == {"c": b"c1", "d": b"d1"}


def test_the_seals_of_a_transaction_that_did_not_commit_are_not_remembered(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after its events were sealed leaves nothing remembered: another writer may then store
    other bytes at that version, and the next event must chain to those (a remembered seal of the failed write
    would break the aggregate's line)."""
    with Counters(env=persistence_env(store_url)) as mine, Counters(env=persistence_env(store_url)) as theirs:
        counter = Counter()
        mine.save(counter)  # version 1, remembered
        recorder: Any = mine.recorder
        statements = recorder._statements
        mark = "%s" if statements.columnar else "?"  # PostgreSQL's insert takes six arrays, SQLite's six values
        failing = f"INSERT INTO no_such_table VALUES ({', '.join([mark] * 6)})"
        recorder._statements = dataclasses.replace(statements, insert_seal=failing)
        counter.increment()
        with pytest.raises(Exception, match="no_such_table"):
            mine.save(counter)  # version 2 sealed, then its transaction fails
        recorder._statements = statements

        elsewhere = theirs.repository.get(counter.id)
        elsewhere.increment()
        theirs.save(elsewhere)  # version 2, other bytes than the failed write's (its time)
        asked = store_lookups(mine, monkeypatch)
        counter = mine.repository.get(counter.id)
        counter.increment()
        mine.save(counter)  # version 3 chains to the store's version 2
        assert asked == [[str(counter.id)]]
        assert isinstance(mine.recorder, SealedStore)
        assert verify_store(mine.recorder).ok


def counters_moved_elsewhere(store_url: str, n: int) -> list[uuid.UUID]:
    """`n` counters at version 2, recorded by another writer (a recorder of this process remembers none of them)."""
    with Counters(env=persistence_env(store_url)) as theirs:
        items = [Counter() for _ in range(n)]
        for item in items:
            item.increment()
        theirs.record(*items)
    return [item.id for item in items]


def increment_all(app: Counters, ids: list[uuid.UUID]) -> None:
    """One write of the next event of each counter (as a clock tick flags a thousand referrals)."""
    items = [app.repository.get(originator_id) for originator_id in ids]
    for item in items:
        item.increment()
    app.record(*items)


def inserts_attempted(app: Counters, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each insert `app`'s recorder attempted held (the library attempts a write again after an
    operational error)."""
    recorder: Any = app.recorder
    insert, attempts = recorder._insert_stored_events, []

    def counted(curs: Any, stored_events: Sequence[Any], **kwargs: Any) -> None:
        attempts.append(len(stored_events))
        insert(curs, stored_events, **kwargs)

    monkeypatch.setattr(recorder, "_insert_stored_events", counted)
    return attempts


def reads_ahead(app: Counters, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many aggregates each read ahead of `app`'s recorder asked for, one entry a connection reading."""
    return spied(app.recorder, monkeypatch, "_read_heads", len)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("aggregates", "read_from", "read", "asked"),
    [(300, 64, [75, 75, 75, 75], []), (63, 64, [], [63]), (20, 10, [20], [])],
)
def test_a_write_to_64_aggregates_or_more_reads_their_seals_ahead_fewer_ask_them_in_its_transaction(
    postgres_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    aggregates: int,
    read_from: int,
    read: list[int],
    asked: list[int],
) -> None:
    """The seals a write of 300 aggregates' next events chains to are read on four other connections while the
    events are encoded and inserted, not asked in the transaction that holds the events table's lock. Under 64 (a
    referral's step, a consent's withdrawal), reading ahead costs more than it saves: they are asked in that
    transaction, in one query (`read_ahead_from` lowers that bound: then one connection reads them). The events
    chain to them either way (verification passes)."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, aggregates)
    with Counters(env=persistence_env(store_url)) as mine:
        mine.recorder.read_ahead_from = read_from  # type: ignore[attr-defined]
        lookups = store_lookups(mine, monkeypatch)
        reads = reads_ahead(mine, monkeypatch)
        increment_all(mine, ids)
        assert reads == read
        assert [len(lookup) for lookup in lookups] == asked
        assert isinstance(mine.recorder, SealedStore)
        assert verify_store(mine.recorder).ok


@pytest.mark.integration
def test_a_large_write_that_another_writer_outran_fails_once_as_a_conflict(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas' clock ticks flag the same 300 referrals: the second one's write conflicts. psycopg met the
    conflict as it still sent the write's parts and left the pipeline aborted, so the library's commit failed with
    `PipelineAborted`, an operational error it attempted the whole write again for (up to ten times, 0.2 s apart,
    under the events table's lock), and which then escaped the tick instead of its fallback for a conflict."""
    store_url = fresh_postgres_store(postgres_dsn)
    for _ in range(5):
        ids = counters_moved_elsewhere(store_url, 300)
        with Counters(env=persistence_env(store_url)) as late:
            stale = [late.repository.get(originator_id) for originator_id in ids]
            increment_all(late, ids)  # the other replica's tick goes first
            attempts = inserts_attempted(late, monkeypatch)
            for item in stale:
                item.increment()
            with pytest.raises(IntegrityError):
                late.record(*stale)
            assert attempts == [300]
            assert verify_store(late.recorder).ok


@pytest.mark.integration
def test_seals_that_failed_to_be_read_ahead_are_asked_in_the_writes_transaction(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read ahead is a shortcut: one that failed (a connection lost) or found no seal leaves those aggregates to the
    write's own query, and the write goes on."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 200)
    with Counters(env=persistence_env(store_url)) as mine:
        recorder: Any = mine.recorder
        read_heads = recorder._read_heads
        calls = 0

        def fails_once_finds_less(wanted: list[Any]) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise psycopg.OperationalError("connection lost")
            return dict(list(read_heads(wanted).items())[1:])  # the first aggregate's seal not found

        monkeypatch.setattr(recorder, "_read_heads", fails_once_finds_less)
        asked = store_lookups(mine, monkeypatch)
        increment_all(mine, ids)
        assert calls == 3  # 200 aggregates: three connections
        assert len(asked) == 1
        assert len(asked[0]) == 67 + 1 + 1  # the first range's, and the first of each other range
        assert verify_store(recorder).ok


def slowed_reads(app: Counters, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """`app`'s reads ahead start `seconds` late (as a cold read of a large store outlasts the encoding and insert)."""
    spied(app.recorder, monkeypatch, "_read_heads", lambda _: time.sleep(seconds))


@pytest.mark.integration
def test_a_statement_queued_for_the_tables_lock_stalls_neither_the_write_nor_itself(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write waits for its reads ahead holding the events table's lock; an `ALTER TABLE` queued meanwhile waits for
    the write, and the reads queued behind the `ALTER` waited for it: a cycle PostgreSQL does not see, which lasted
    until the server killed the writer's connection, idle in its transaction for 5 s. A read ahead now waits for no
    lock (it fails, and the write asks the store itself)."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 300)
    schema = parse_qs(urlparse(store_url).query)["schema"][0]
    with Counters(env=persistence_env(store_url)) as mine:
        slowed_reads(mine, monkeypatch, 0.5)
        started = time.monotonic()
        writer = threading.Thread(target=increment_all, args=(mine, ids))
        writer.start()
        time.sleep(0.25)  # the write holds the lock, waiting for its reads
        with psycopg.connect(postgres_dsn, autocommit=True) as ddl:
            ddl.execute(f"ALTER TABLE {schema}.counters_events ADD COLUMN note text")
        writer.join(10)
        assert time.monotonic() - started < 3, "the write and the ALTER waited for each other"
        assert verify_store(mine.recorder).ok
        assert mine.recorder.max_notification_id() == 900  # type: ignore[attr-defined]
        monkeypatch.undo()
        with psycopg.connect(postgres_dsn) as holder:
            holder.execute(f"LOCK TABLE {schema}.counters_seals IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(psycopg.errors.LockNotAvailable):  # at once, not when the holder lets go
                mine.recorder._read_heads([(str(ids[0]), 3)])  # type: ignore[attr-defined]


@pytest.mark.integration
def test_a_write_waits_for_its_reads_ahead_a_bounded_time(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads ahead still under way after `READ_AHEAD_WAIT` are not waited for under the lock: the write asks the
    store for those seals itself."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 100)
    with Counters(env=persistence_env(store_url)) as mine:
        slowed_reads(mine, monkeypatch, READ_AHEAD_WAIT + 2)
        asked = store_lookups(mine, monkeypatch)
        started = time.monotonic()
        increment_all(mine, ids)
        assert time.monotonic() - started < READ_AHEAD_WAIT + 0.7  # waited once for them, not twice
        assert [len(a) for a in asked] == [100]
        assert verify_store(mine.recorder).ok


@pytest.mark.integration
def test_a_look_ahead_waits_for_its_reads_to_end_and_the_write_then_reads_and_asks_nothing(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look-ahead holds no lock: it waits for reads slower than `READ_AHEAD_WAIT` (a cold store), and remembers
    what they read, for any number of aggregates; the write it prepared then needs neither reads ahead nor the
    store, and its hashes are computed while the server inserts its events (not once the ids are back)."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 100)
    with Counters(env=persistence_env(store_url)) as mine:
        slowed_reads(mine, monkeypatch, READ_AHEAD_WAIT + 0.2)
        assert mine.read_seals_ahead([(i, 3) for i in ids]) == 100
        monkeypatch.undo()
        assert mine.read_seals_ahead([(i, 3) for i in counters_moved_elsewhere(store_url, 3)]) == 3
        reads, asked = reads_ahead(mine, monkeypatch), store_lookups(mine, monkeypatch)
        # the events whose hashes were computed once their ids were back
        after_ids = spied(mine.recorder, monkeypatch, "_lined", lambda _, events, __: len(events))
        increment_all(mine, ids)
        assert (reads, asked, after_ids) == ([], [], [])
        assert verify_store(mine.recorder).ok


@pytest.mark.integration
@pytest.mark.parametrize("looked_ahead", [True, False])
def test_a_write_to_many_aggregates_finds_the_seals_it_knows_once(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, looked_ahead: bool
) -> None:
    """A write to many aggregates finds which seals it knows (remembered, or looked ahead) once, as it starts reading
    the others ahead: its insert chains to what that found, and does not look again."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 100)
    with Counters(env=persistence_env(store_url)) as mine:
        if looked_ahead:
            assert mine.read_seals_ahead([(i, 3) for i in ids]) == 100
        looked = spied(mine.recorder, monkeypatch, "_known_heads", lambda _: "looked")
        increment_all(mine, ids)
        assert looked == ["looked"]
        assert verify_store(mine.recorder).ok


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_write_of_forty_thousand_events_is_stored_and_sealed(postgres_dsn: str) -> None:
    """psycopg's pipeline, which the library's insert runs in, stalled for good on one statement of some 12 MiB or
    more of small values (here 40,000 events, 16 MiB): the server waited for the rest of it, psycopg for its result,
    and the events table stayed locked; a tick catching up on as many flags after a long stop would have. A write
    goes out in statements of at most 4 MiB, in one transaction."""
    with Counters(env=persistence_env(fresh_postgres_store(postgres_dsn))) as app:
        app.record(*[Memo("x" * 350) for _ in range(40_000)])
        assert app.recorder.max_notification_id() == 40_000  # type: ignore[attr-defined]
        assert verify_store(app.recorder).ok


@pytest.mark.integration
def test_a_write_sent_in_several_statements_is_numbered_and_sealed_in_order(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With statements of 2 KiB, a write of 100 counters goes out in several inserts of its events, and its seals in
    parts of 7, each part chained on from the one before, in its one transaction: the ids come back in the events'
    order, and the chain verifies."""
    monkeypatch.setattr(sealing, "STATEMENT_BYTES", 2048)
    monkeypatch.setattr(sealing, "SEALS_SENT_AT_ONCE", 7)
    with Counters(env=persistence_env(fresh_postgres_store(postgres_dsn))) as app:
        counters = [Counter() for _ in range(100)]
        recordings = app.record(*counters)
        assert [r.notification.originator_id for r in recordings] == [c.id for c in counters]
        assert [r.notification.id for r in recordings] == list(range(1, 101))
        assert verify_store(app.recorder).ok


def parts_encoded(app: Counters, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events `app` encoded before each insert statement its recorder sent (then after the last)."""
    encoded = [0]
    encode, columns = app.mapper._stored, sealing._originator_ids  # type: ignore[attr-defined]

    def counted(parent: str | None, event: Any) -> Any:
        encoded[-1] += 1
        return encode(parent, event)

    def sending(*arguments: Any) -> Any:
        encoded.append(0)
        return columns(*arguments)

    monkeypatch.setattr(app.mapper, "_stored", counted)
    monkeypatch.setattr(sealing, "_originator_ids", sending)
    return encoded


@pytest.mark.integration
def test_a_write_of_many_events_is_encoded_a_part_at_a_time_each_sent_before_the_next(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write of more events than a part (a clock tick's flags) encodes them in its own transaction, a part at a
    time, and sends each part's insert before encoding the next: the server inserts it meanwhile. The ids come back
    in the events' order and the chain verifies; a write of one part is encoded before it is written, as ever."""
    monkeypatch.setattr(sealing, "ENCODED_PART", 10)
    with Counters(env=persistence_env(fresh_postgres_store(postgres_dsn))) as app:
        encoded = parts_encoded(app, monkeypatch)
        counters = [Counter() for _ in range(35)]
        recordings = app.record(*counters)
        assert encoded == [10, 10, 10, 5, 0]  # each part sent before the next is encoded
        assert [r.notification.originator_id for r in recordings] == [c.id for c in counters]
        assert [r.notification.id for r in recordings] == list(range(1, 36))
        encoded[:] = [0]
        app.record(*[Counter() for _ in range(10)])
        assert encoded == [10, 0]
        assert verify_store(app.recorder).ok


def statements_sent(app: Counters, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What `app` does as it writes, in order: "e" an event encoded, "I" an insert of events sent, "S" an insert of
    seals sent."""
    log: list[str] = []
    spied(app.mapper, monkeypatch, "_stored", lambda *_: log.append("e"))
    spied(sealing, monkeypatch, "_originator_ids", lambda *_: log.append("I"))
    spied(app.recorder, monkeypatch, "_insert_seals", lambda *_: log.append("S"))
    return log


@pytest.mark.integration
def test_a_write_sends_each_parts_seals_behind_its_insert_when_it_knows_every_seal_they_chain_to(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write of many new aggregates knows every seal its events chain to (none) before it sends any: it takes its
    ids first, then sends each part's insert and that part's seals behind it before encoding the next part (the
    server inserts both meanwhile), instead of sending all the seals once the last part's ids are back."""
    monkeypatch.setattr(sealing, "ENCODED_PART", 10)
    with Counters(env=persistence_env(fresh_postgres_store(postgres_dsn))) as app:
        sent = statements_sent(app, monkeypatch)
        recordings = app.record(*[Counter() for _ in range(100)])
        assert "".join(sent) == ("e" * 10 + "IS") * 10
        assert [r.notification.id for r in recordings] == list(range(1, 101))
        del sent[:]
        recordings = app.record(*[Counter() for _ in range(5)])  # a small write: one insert, then its seals
        assert "".join(sent) == "e" * 5 + "IS"
        assert verify_store(app.recorder).ok


@pytest.mark.integration
def test_a_large_write_asks_the_store_for_the_seals_it_chains_to_with_its_ids(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write of many events, made before it is sent, to aggregates another writer sealed (no seal remembered, none
    read ahead) asks the store for their seals in the round trip that takes its ids, before its insert: each part's
    seals then go behind it, and the store is not asked again once the insert is stored."""
    monkeypatch.setattr(sealing, "ENCODED_PART", 10)
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 30)
    with Counters(env=persistence_env(store_url)) as mine:
        items = [mine.repository.get(originator_id) for originator_id in ids]
        for item in items:
            item.increment()
        stored = [mine.mapper.to_stored_event(e) for item in items for e in item.collect_events()]
        sent = statements_sent(mine, monkeypatch)
        asked_after = spied(mine.recorder, monkeypatch, "_previous_heads", lambda *_: "asked")
        mine.recorder.insert_events(stored, ahead=HeadsAhead())
        assert "".join(sent) == "IS"  # made before it is sent: one part
        assert asked_after == []
        assert verify_store(mine.recorder).ok


@pytest.mark.integration
@pytest.mark.parametrize("made_all", [True, False])
def test_a_write_attempted_again_inserts_every_event_made_in_the_attempt_before(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, made_all: bool
) -> None:
    """The library attempts a write again after a lost connection: its second attempt inserts the events the first
    one made (all of them, or the parts it had come to), then makes the rest."""
    monkeypatch.setattr(sealing, "ENCODED_PART", 10)
    with Counters(env=persistence_env(fresh_postgres_store(postgres_dsn))) as app:
        counters = [Counter() for _ in range(35)]
        stored = sealing.StoredInParts(
            [event for counter in counters for event in counter.collect_events()], app.mapper.to_stored_event
        )
        first_attempt = list(stored) if made_all else next(stored.parts())
        assert len(first_attempt) == (35 if made_all else 10)
        ids = app.recorder.insert_events(stored)
        assert list(ids or []) == list(range(1, 36))
        assert verify_store(app.recorder).ok


@pytest.mark.integration
def test_a_failure_to_encode_a_later_part_stores_nothing_of_the_write(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts encoded and sent before a failure to encode one are rolled back with it (the library's transaction
    commits what it catches): the caller gets the error, nothing of the write is stored, and the next one is."""
    monkeypatch.setattr(sealing, "ENCODED_PART", 10)
    with Counters(env=persistence_env(fresh_postgres_store(postgres_dsn))) as app:
        encode, calls = app.mapper._stored, [0]  # type: ignore[attr-defined]

        def failing_at_the_25th(parent: str | None, event: Any) -> Any:
            calls[0] += 1
            if calls[0] == 25:
                raise ValueError("cannot encode")
            return encode(parent, event)

        monkeypatch.setattr(app.mapper, "_stored", failing_at_the_25th)
        with pytest.raises(ValueError, match="cannot encode"):
            app.record(*[Counter() for _ in range(35)])
        monkeypatch.undo()
        assert app.recorder.max_notification_id() is None  # type: ignore[attr-defined]
        app.record(*[Counter() for _ in range(35)])
        assert len(app.recorder.select_notifications(start=None, limit=100)) == 35
        assert verify_store(app.recorder).ok


@pytest.mark.integration
def test_a_version_conflict_in_a_later_part_stores_nothing_of_the_write(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write encoded in parts whose last part takes a version already stored fails as a whole (IntegrityError, as
    a tick's flags on a referral that moved), and the connections go on writing."""
    monkeypatch.setattr(sealing, "ENCODED_PART", 10)
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 35)
    with Counters(env=persistence_env(store_url)) as mine, Counters(env=persistence_env(store_url)) as theirs:
        items = [mine.repository.get(originator_id) for originator_id in ids]
        moved = theirs.repository.get(ids[-1])
        moved.increment()
        theirs.save(moved)
        stored = mine.recorder.max_notification_id()  # type: ignore[attr-defined]
        for item in items:
            item.increment()
        with pytest.raises(IntegrityError):
            mine.record(*items)  # the last one read before `theirs` moved it
        assert mine.recorder.max_notification_id() == stored  # type: ignore[attr-defined]
        increment_all(mine, ids)
        assert len(mine.recorder.select_notifications(start=stored + 1, limit=100)) == 35
        assert verify_store(mine.recorder).ok


@pytest.mark.integration
def test_a_version_conflict_leaves_the_connection_fit_for_the_next_writes(postgres_dsn: str) -> None:
    """psycopg prepares a statement at its fifth run on a connection. When that run came in the pipeline of an insert
    that failed its version check, the write raised `ProgrammingError: prepared statement "_pg3_N" does not exist`
    instead of the conflict (a tick then did not fall back to flagging each referral on its own), and writes failed
    so in a stress run with two writers (58 in 25 s). The last seal's read, sent after the insert, is never
    prepared."""
    env = {
        **persistence_env(fresh_postgres_store(postgres_dsn)),
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "0",
    }
    with Counters(env=env) as app:
        counter = Counter()
        app.save(counter)
        for _ in range(3):
            counter.increment()
            app.save(counter)  # four runs of each statement on the pool's one connection
        stale = app.repository.get(counter.id, version=3)
        stale.increment()
        with pytest.raises(IntegrityError):
            app.save(stale)  # the fifth, in a failed pipeline
        for _ in range(3):
            counter.increment()
            app.save(counter)
        assert app.repository.get(counter.id).version == 7
        assert verify_store(app.recorder).ok


@pytest.mark.integration
def test_a_look_ahead_whose_reads_are_cancelled_by_closing_returns(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the recorder cancels reads still queued (behind a write's, here): a look-ahead waiting for one
    returns within its bound instead of waiting for a read that will never run."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 320)
    with Counters(env=persistence_env(store_url)) as mine:
        recorder: Any = mine.recorder
        slowed_reads(mine, monkeypatch, 1.0)
        recorder.read_ahead([(i, 3) for i in ids[:256]])  # a write's reads: the four readers busy
        looked: list[int] = []
        looking = threading.Thread(target=lambda: looked.append(mine.read_seals_ahead([(i, 3) for i in ids[256:]])))
        looking.start()
        time.sleep(0.2)  # its read queued behind them
        recorder.close_reads_ahead()
        looking.join(LOOK_AHEAD_WAIT + 2)
        assert not looking.is_alive()
        assert looked == [0]


@pytest.mark.integration
def test_a_closing_recorder_reads_nothing_ahead_and_its_writes_go_on(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing cancels the reads not started: a write waiting for them asks the store (it raised `CancelledError`,
    its transaction rolled back); writes after it read nothing ahead (one raised: no new thread after shutdown)."""
    store_url = fresh_postgres_store(postgres_dsn)
    ids = counters_moved_elsewhere(store_url, 200)
    with Counters(env=persistence_env(store_url)) as mine:
        recorder: Any = mine.recorder
        cancelled: Future[Any] = Future()
        cancelled.cancel()
        assert HeadsAhead((cancelled,)).heads() == {}
        recorder.close_reads_ahead()
        read = reads_ahead(mine, monkeypatch)
        increment_all(mine, ids)
        assert read == []
        assert verify_store(recorder).ok


@pytest.mark.parametrize(
    ("broken", "still_reading"), [("_known_heads", False), ("line_events", False), ("_previous_heads", True)]
)
def test_an_error_while_sealing_stores_nothing_and_is_raised_as_it_was(
    store_url: str, monkeypatch: pytest.MonkeyPatch, broken: str, still_reading: bool
) -> None:
    """An error of the sealing itself (not of the database) rolls the events' transaction back: the caller is told
    the write failed, so nothing of it may be stored (on PostgreSQL the library catches errors inside its transaction
    and commits before raising them again). Whether it comes as the write finds which seals it chains to, as it
    hashes its events (on PostgreSQL while the server inserts them), or once its insert is stored (on PostgreSQL, a
    seal it chains to still being read ahead when its events were sent: waited for then, the rest asked of the
    store)."""
    with Counters(env=persistence_env(store_url)) as app, Counters(env=persistence_env(store_url)) as theirs:
        counter = Counter()
        theirs.save(counter)  # its seal is not one this recorder remembers
        counter = app.repository.get(counter.id)
        counter.increment()
        recorder: Any = app.recorder
        stored = [app.mapper.to_stored_event(e) for e in counter.collect_events()]
        ahead = HeadsAhead((Future(),)) if still_reading else HeadsAhead()

        def failing(*_: Any, **__: Any) -> dict[str, bytes]:
            raise ValueError("sealing failed")

        monkeypatch.setattr(recorder if broken.startswith("_") else sealing, broken, failing)
        with pytest.raises(ValueError, match="sealing failed"):
            recorder.insert_events(stored, ahead=ahead)
        monkeypatch.undo()
        assert recorder.max_notification_id() == 1
        recorder.insert_events(stored, ahead=ahead)
        assert isinstance(recorder, SealedStore)
        assert verify_store(recorder).ok


@pytest.mark.integration
def test_sealing_a_write_on_postgresql_adds_at_most_two_waits_for_the_server(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last seal and the ids after it are read in the pipeline that inserts the events (their results come back
    with the insert's ids): a sealed write waits for the server at most twice more than the library's own unsealed
    write (five times more when they were read one statement at a time)."""
    waits = 0
    wait = psycopg.Connection.wait

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal waits
        waits += 1
        return wait(self, *args, **kwargs)

    def waits_for_one_write(env: dict[str, str]) -> int:
        nonlocal waits
        with Counters(env=env) as app:
            app.record(Counter())  # the pool's connections opened, the statements prepared
            app.record(Counter())
            waits = 0
            app.record(Counter())
            return waits

    monkeypatch.setattr(psycopg.Connection, "wait", counted)
    sealed = waits_for_one_write(persistence_env(fresh_postgres_store(postgres_dsn)))
    unsealed_env = persistence_env(fresh_postgres_store(postgres_dsn))
    unsealed_env["PROCESS_RECORDER_TOPIC"] = "eventsourcing.postgres:PostgresProcessRecorder"
    unsealed = waits_for_one_write(unsealed_env)
    assert sealed <= unsealed + 2, (sealed, unsealed)
