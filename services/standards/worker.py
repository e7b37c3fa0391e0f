"""The board's stream processor: a faust-streaming app, at least once, with idempotent table values.

Tables (each with its changelog topic `<app_id>-<table>-changelog`, as many partitions as the topics read):

| table | key | value |
| --- | --- | --- |
| `referrals` | referral id | its dated steps, by CloudEvent id |
| `calls` | `<region>|<call id>` | the call, its reports merged |
| `schedules` | `hours|<org>|<service>` | the service's schedules, by the day each counts from; its offer (`offered`) |

An agent per topic read sets the table values of a record (one; a registration: one per service with hours
standards) — the same record read twice sets the same value — and changes the rows by what the value contributes
(`state.py`), derived before the value is stored: a record whose change cannot be derived is dead-lettered, never
stored. A timer publishes the changed rows on the board topic. Dead letters go as the platform's consumers send
theirs (`send_dead_letter`, kafka-python, in a thread): without the record's content when Kafka refuses it, and a
record whose letter Kafka refuses even so is logged by position, counted and skipped; while Kafka is unavailable the
record waits (its partition with it), and nothing is skipped.
After a recovery the rows are derived from the tables again and all published (a stored value that cannot be
derived is left out, logged by its key), and the rows on the board topic they no longer give are deleted. Offsets
are committed only past records processed (`commits.py`). Run alone with `python -m services.standards.worker`, or
inside `rls serve standards`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT, StreamT, TopicT
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.backoff import Backoff
from services.common.consumer import DeadLetterSink, send_dead_letter
from services.common.envelope import CloudEvent, derived_id, schema_uri
from services.common.kafka import KafkaPublisher, PublishError, dlq_topic, ensure_topics, make_admin
from services.common.kafka_security import KafkaAccess
from services.standards.calls import call_key, is_call_key, merge
from services.standards.commits import commit_only_processed, drain_before_commit
from services.standards.hours import offered_since
from services.standards.inbound import PoisonRecordError, ScheduleDeclared, call_report, directory_record, referral_step
from services.standards.settings import StandardsSettings
from services.standards.state import BoardState, Change, Publication, Skipped
from services.standards.views import BoardView

log = logging.getLogger(__name__)

SOURCE = "/rls/standards"


def broker_credentials(access: KafkaAccess) -> faust.SASLCredentials | None:
    """The service's own principal, over TLS (None on a plaintext development broker)."""
    if not access.authenticated:
        return None
    assert access.password is not None
    context = ssl.create_default_context(cafile=str(access.ca_file) if access.ca_file else None)
    return faust.SASLCredentials(
        username=access.username,
        password=access.password.get_secret_value(),
        mechanism=access.sasl_mechanism,
        ssl_context=context,
    )


def ensure_board_topics(settings: StandardsSettings) -> None:
    """The compacted board topic and the dead-letter topics of the topics read (the topics read are the platform's)."""
    admin = make_admin(settings.kafka_access, f"{settings.app_id}-admin")
    try:
        ensure_topics(
            admin,
            [dlq_topic(t) for t in (settings.referral_topic, settings.agreements_topic, settings.calls_topic)],
            with_dlq=False,
        )
        if settings.board_topic not in admin.list_topics():
            compact = {"cleanup.policy": "compact"}
            compacted = NewTopic(
                settings.board_topic, settings.partitions, settings.replication_factor, topic_configs=compact
            )
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created it meanwhile
                admin.create_topics([compacted])
    finally:
        admin.close()


def encoded(publication: Publication, time: datetime) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """A board record's value and headers (a CloudEvent; no value and no headers for a deleted row)."""
    if publication.payload is None:
        return None, []
    data = publication.payload.model_dump(mode="json")
    event = CloudEvent(
        id=derived_id(publication.key, json.dumps(data, sort_keys=True)),
        source=SOURCE,
        type=publication.type,
        time=time,
        subject=publication.key,
        dataschema=schema_uri(publication.type),
        data=data,
    )
    headers, value = event.to_kafka()
    return value, headers


@dataclass(frozen=True)
class Write:
    """A table value a record sets, and what it changes on the board (derived before the value is stored)."""

    table: Any
    key: str
    value: Any
    change: Change


class Worker:
    """The faust app of the board and the state its agents maintain."""

    def __init__(
        self,
        settings: StandardsSettings,
        dead_lettered: Counter[str] | None = None,
        dead_letters_refused: Counter[str] | None = None,
    ) -> None:
        self.settings = settings
        self.state = BoardState(settings.bounds())
        self.dead_lettered: Counter[str] = Counter() if dead_lettered is None else dead_lettered
        """Records dead-lettered by this process, per topic read (a metric)."""
        self.dead_letters_refused: Counter[str] = Counter() if dead_letters_refused is None else dead_letters_refused
        """Poison records this process skipped without a dead letter (Kafka refused it), per topic read (a metric)."""
        self._dead_letter_publisher = KafkaPublisher(settings.kafka_access, f"{settings.app_id}-dlq")
        self.dead_letters = DeadLetterSink(self._dead_letter_publisher.send_raw)
        datadir = Path(settings.var_dir) / "standards" / settings.app_id
        datadir.parent.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
        self.app = faust.App(
            settings.app_id,
            broker=[f"kafka://{host}" for host in settings.kafka_bootstrap_servers.split(",")],
            broker_credentials=broker_credentials(settings.kafka_access),
            processing_guarantee="at_least_once",
            store="memory://",
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            web_enabled=False,
            autodiscover=False,
            datadir=str(datadir),  # the tables live in their changelogs
            broker_session_timeout=settings.broker_session_timeout_s,
            broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 3),
            consumer_auto_offset_reset="earliest",
            table_standby_replicas=0,
            producer_linger=0.01,  # changelog and board records leave in batches
        )
        drain_before_commit(self.app.producer.buffer)
        self._guard_consumer()
        self.referrals = self._table("referrals")
        self.calls = self._table("calls")
        self.schedules = self._table("schedules")
        self.referrals.on_recover(self._rebuild_referrals)
        self.calls.on_recover(self._rebuild_calls)
        self.schedules.on_recover(self._rebuild_hours)
        self.board_topic = self._topic(settings.board_topic)
        self._consume(settings.referral_topic, self._referral)
        self._consume(settings.calls_topic, self._call)
        self._consume(settings.agreements_topic, self._schedule)
        self.app.timer(settings.publish_interval_s, name="publish-board")(self.publish)

    def _table(self, name: str) -> Any:
        return self.app.Table(name, default=None, partitions=self.settings.partitions, key_type=str)

    def _topic(self, name: str) -> TopicT:
        return self.app.topic(name, key_serializer="raw", value_serializer="raw", partitions=self.settings.partitions)

    def _guard_consumer(self) -> None:
        """Hooks the consumer (`commit_only_processed`) as faust builds it, when the app starts on its event loop:
        the app's own factory of it is wrapped (this app's attribute, not faust's class)."""
        build = self.app._new_consumer

        def guarded() -> Any:
            consumer = build()
            commit_only_processed(consumer)
            return consumer

        self.app._new_consumer = guarded  # type: ignore[method-assign]

    def _consume(self, name: str, derive: Callable[[EventT[bytes]], list[Write]]) -> None:
        """An agent applying every record of a topic: what the record changes (every table value it sets) is derived
        first, then the table values stored and the rows changed. A record whose change cannot be derived goes to the
        dead letters, whatever is wrong with it: an exception escaping the agent would make faust restart it, and
        every later record of the same key would fail again."""
        topic = self._topic(name)

        async def agent(stream: StreamT[bytes]) -> None:
            async for event in stream.events():
                try:
                    writes = derive(event)
                except PoisonRecordError as error:
                    await self._dead_letter(event, str(error))
                    continue
                except Exception as error:  # noqa: BLE001 -- one record the board's code cannot use; see above
                    log.warning("record %s: its change cannot be derived (%s)", _place(event), _origin(error))
                    await self._dead_letter(event, f"change not derivable ({type(error).__name__})")
                    continue
                for write in writes:
                    write.table[write.key] = write.value
                    self.state.apply(write.change)

        self.app.agent(topic, name=f"apply-{name}")(agent)

    async def _dead_letter(self, event: EventT[bytes], reason: str) -> None:
        """Sends the record's dead letter before the agent goes on (so no commit passes it) with the consumers' own
        function, in a thread (kafka-python blocks); once sent, or skipped because Kafka refuses it, the record is
        done. While Kafka is unavailable it is tried again, with backoff: the record is never skipped for that."""
        backoff = Backoff()
        while True:
            try:
                await asyncio.to_thread(
                    send_dead_letter,
                    self.dead_letters,
                    event.message,
                    reason,
                    self.settings.app_id,
                    self.dead_lettered,
                    self.dead_letters_refused,
                )
                return
            except (PublishError, KafkaError):  # logged by send_dead_letter
                await asyncio.sleep(backoff.next_delay())

    def close(self) -> None:
        """Closes the dead letters' producer (the faust app stops on its own)."""
        self._dead_letter_publisher.close()

    def _referral(self, event: EventT[bytes]) -> list[Write]:
        found = referral_step(event.message.headers, event.message.value)
        if found is None:
            return []
        old = self.referrals.get(found.referral_id)
        if old is not None and old.get(found.event_id) == found.step:
            return []
        new = {**(old or {}), found.event_id: found.step}
        return [Write(self.referrals, found.referral_id, new, self.state.referral_change(old, new))]

    def _call(self, event: EventT[bytes]) -> list[Write]:
        found = call_report(event.message.key, event.message.headers, event.message.value)
        if found is None:
            return []
        key = call_key(found.call)
        old = self.calls.get(key)
        new = merge(old, found.call)
        if new == old:
            return []
        return [Write(self.calls, key, new, self.state.call_change(old, new))]

    def _schedule(self, event: EventT[bytes]) -> list[Write]:
        """A schedule declared sets the entry of the day it counts from (`counted_from`: never before its declaration)
        in the service's value; a registration sets the offer of each service with hours standards the organisation
        offers (all derived before any is stored)."""
        found = directory_record(event.message.headers, event.message.value)
        if found is None:
            return []
        if isinstance(found, ScheduleDeclared):
            old = self.schedules.get(found.key) or {}
            known = old.get(found.effective_from)
            if known is not None and _latest(known) >= _latest(found.schedule):
                return []
            new = {**old, found.effective_from: found.schedule}
            return [Write(self.schedules, found.key, new, self.state.hours_change(found.key, new))]
        writes = []
        for offer in found:
            old = self.schedules.get(offer.key)
            new = offered_since(old, offer.org_id, offer.service, offer.registered_at)
            if new != old:
                writes.append(Write(self.schedules, offer.key, new, self.state.hours_change(offer.key, new)))
        return writes

    async def _rebuild_referrals(self) -> None:
        _log_skipped("referrals", self.state.rebuild_referrals((k, v) for k, v in self.referrals.items() if v))
        await self._delete_rows_not_derived("board|", self.settings.referral_topic)

    async def _rebuild_calls(self) -> None:
        calls = [(key, call) for key, call in self.calls.items() if call]
        current = [(key, call) for key, call in calls if is_call_key(key)]
        if len(current) < len(calls):
            log.warning(
                "calls table: %d value(s) under a call id alone (keys of an earlier version) left out of the board; "
                "rebuild the board to count those calls again",
                len(calls) - len(current),
            )
        _log_skipped("calls", self.state.rebuild_calls(current))
        await self._delete_rows_not_derived("infosocial|", self.settings.calls_topic)

    async def _rebuild_hours(self) -> None:
        _log_skipped("schedules", self.state.rebuild_hours((k, v) for k, v in self.schedules.items() if v))

    async def _delete_rows_not_derived(self, prefix: str, source: str) -> None:
        """After a rebuild: deletes the rows under `prefix` on the board topic that the tables no longer derive (a
        bound changed, a value skipped, an earlier version's keys). Only while this worker holds every partition of
        the topic its rows come from: the board runs as one worker, and a worker holding part of them (a second one
        started by mistake) would delete rows derived from the other's."""
        held = self.app.assignor.assigned_actives()
        if any(TP(source, p) not in held for p in range(self.settings.partitions)):
            log.warning("board topic: %s rows not checked for deletion (this worker holds part of %s)", prefix, source)
            return
        view = BoardView(self.settings.kafka_access, self.settings.board_topic, f"{self.settings.app_id}-recovery")
        try:
            await asyncio.to_thread(view.read_to_end)
        except KafkaError as error:  # the next recovery checks again; the rows derived are published meanwhile
            log.warning("board topic: %s rows not checked for deletion (%s)", prefix, type(error).__name__)
            return
        on_topic = [key for key in view.snapshot() if key.startswith(prefix)]
        deleted = self.state.delete_not_derived(on_topic, prefix)
        log.info("board topic: %d %s row(s) on it, %d no longer derived: deleted", len(on_topic), prefix, deleted)

    async def publish(self) -> None:
        """Publishes the rows changed since the last time (the board topic keeps each row's latest record)."""
        now = datetime.now(UTC)
        for publication in self.state.take():
            value, headers = encoded(publication, now)
            await self.board_topic.send(key=publication.key.encode(), value=value, headers=headers)


def _latest(schedule: dict[str, Any]) -> tuple[datetime, str]:
    """Orders two declarations of one effective date: the later declared wins (ties: by content), in any order.
    Instants are compared, not their text (`14:00Z` is before `10:00-05:00`)."""
    return datetime.fromisoformat(schedule["occurred_at"]), json.dumps(schedule, sort_keys=True)


def _log_skipped(table: str, skipped: list[Skipped]) -> None:
    """A value the rebuild could not derive is left out of the board: said by key, never by value."""
    for value in skipped:
        log.error(
            "%s table: value of key %s cannot be derived (%s): left out of the board", table, value.key, value.error
        )


def _place(event: EventT[bytes]) -> str:
    message = event.message
    return f"{message.topic}#{message.partition}@{message.offset}"


def _origin(error: BaseException) -> str:
    """The error's type and the line that raised it (its message may quote the record's values)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return type(error).__name__
    last = frames[-1]
    return f"{type(error).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


def main() -> None:
    """`python -m services.standards.worker`: the board's stream processor alone (SIGTERM stops it)."""
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = StandardsSettings()
    ensure_board_topics(settings)
    worker = Worker(settings)
    try:
        faust.Worker(worker.app, loglevel="INFO").execute_from_commandline()
    finally:
        worker.close()


if __name__ == "__main__":
    main()
