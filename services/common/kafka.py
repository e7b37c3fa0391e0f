"""Kafka helpers: producer, topic administration and publishing of CloudEvents."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from services.common.envelope import CloudEvent
from services.common.kafka_security import Brokers, access_of

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"
DEFAULT_PARTITIONS = 3
SEND_TIMEOUT_S = 60.0


def dlq_topic(topic: str) -> str:
    """The dead-letter topic paired with `topic`."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class Outgoing:
    """One record to publish: the topic, the key (an aggregate id, so order holds per aggregate) and the event."""

    topic: str
    key: str
    event: CloudEvent


class PublishError(RuntimeError):
    """Kafka did not acknowledge every record of a batch."""


class RecordRefusedError(PublishError):
    """Kafka will never accept `messages[index]` of a batch as it is (larger than the producer or the broker takes);
    every record before it was acknowledged."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"Kafka refuses record {index} of the batch: {reason}")
        self.index = index
        self.reason = reason


REFUSED_FOR_EVER = (MessageSizeTooLargeError, RecordListTooLargeError)
"""Errors that sending the same record again cannot cure."""

NULL_HEADERS = "dlq_null_headers"
"""Dead-letter header: the names (a JSON array) of the consumed record's headers that had no value, sent empty."""
NULL_VALUE = "dlq_null_value"
"""Dead-letter header (`true`): the consumed record had neither key nor value; its value is sent empty."""

Header = tuple[str, bytes | None]


def sendable(
    key: bytes | None, value: bytes | None, headers: Iterable[Header]
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """What a dead letter can carry of a consumed record. Kafka stores headers without a value and records with
    neither key nor value (Java and librdkafka producers write them); kafka-python and aiokafka refuse to send them.
    A header without value is sent empty and named in `dlq_null_headers`; a record without key nor value gets an
    empty value and `dlq_null_value`. Every other byte is carried as it was."""
    carried: list[tuple[str, bytes]] = []
    null: list[str] = []
    for name, raw in headers:
        if raw is None:
            null.append(name)
        carried.append((name, b"" if raw is None else raw))
    if null:
        carried.append((NULL_HEADERS, json.dumps(null).encode()))
    if key is None and value is None:
        value = b""
        carried.append((NULL_VALUE, b"true"))
    return key, value, carried


def make_producer(brokers: Brokers, client_id: str) -> KafkaProducer:
    """An idempotent producer waiting for every in-sync replica (`acks=all`)."""
    return KafkaProducer(
        **access_of(brokers).client_config(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_in_flight_requests_per_connection=5,
        retries=2**31 - 1,
        request_timeout_ms=15_000,
        delivery_timeout_ms=int(SEND_TIMEOUT_S * 1000),
    )


def make_admin(brokers: Brokers, client_id: str, timeout_ms: int = 10_000) -> KafkaAdminClient:
    """An admin client that gives up after `timeout_ms` when the brokers do not answer (or refuse to authenticate)."""
    return KafkaAdminClient(
        **access_of(brokers).client_config(),
        client_id=client_id,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


BROKER_DEFAULT = -1
"""Replication factor of the topics services create on first use (per-organisation topics, dead letters): the
broker's `default.replication.factor` (KIP-464), so a three-broker cluster replicates them like its other topics."""


def ensure_topics(
    admin: KafkaAdminClient,
    topics: Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    with_dlq: bool = True,
) -> None:
    """Creates the topics (and their dead-letter twins) that do not exist yet."""
    wanted = set(topics)
    if with_dlq:
        wanted |= {dlq_topic(t) for t in wanted if not t.endswith(DLQ_SUFFIX)}
    missing = sorted(wanted - set(admin.list_topics()))
    for name in missing:
        with contextlib.suppress(TopicAlreadyExistsError):  # another process created it meanwhile
            admin.create_topics([NewTopic(name, partitions, BROKER_DEFAULT)])


class KafkaPublisher:
    """Publishes batches of CloudEvents and returns only once Kafka acknowledged all of them.

    Topics are created on first use (per-organisation topics appear as organisations do). A topic outside the
    principal's ACLs fails the batch with a `PublishError` naming it.
    """

    def __init__(self, brokers: Brokers, client_id: str) -> None:
        self._brokers = brokers
        self._client_id = client_id
        self._clients: tuple[KafkaProducer, KafkaAdminClient] | None = None
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self._in_flight = threading.Lock()
        """One batch or raw record in flight at a time: Kafka's refusal of one record fails every record in flight on
        the producer, so callers sharing it (the standards board's agents dead-lettering in threads) took another's
        refusal for their own (`tests/integration/test_shared_publisher.py`)."""

    @property
    def _producer(self) -> KafkaProducer:
        return self._connect()[0]

    def _connect(self) -> tuple[KafkaProducer, KafkaAdminClient]:
        """Connects on first use, so a service starts (and reports not-ready) while Kafka is down."""
        with self._lock:
            if self._clients is None:
                self._clients = (
                    make_producer(self._brokers, self._client_id),
                    make_admin(self._brokers, self._client_id + "-admin"),
                )
            return self._clients

    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Raises `RecordRefusedError` naming the first record Kafka will never take (the ones before it
        acknowledged), `PublishError` when any other record is not acknowledged."""
        self._ensure({m.topic for m in messages})
        with self._in_flight:
            try:
                self._send(messages)
            except RecordRefusedError:
                if len(messages) == 1:
                    raise
                # a refused record fails every record in flight with the same error (the idempotent producer stops):
                # which one it was shows by sending them one at a time (those before it again, with the same ids)
                for index, message in enumerate(messages):
                    try:
                        self._send([message])
                    except RecordRefusedError as refused:
                        raise RecordRefusedError(index, refused.reason) from refused

    def _send(self, messages: Sequence[Outgoing]) -> None:
        sent = []
        try:
            for message in messages:
                headers, value = message.event.to_kafka()
                try:
                    future = self._producer.send(message.topic, key=message.key.encode(), value=value, headers=headers)
                except TopicAuthorizationFailedError as error:
                    raise _unauthorised(message.topic) from error
                sent.append((message.topic, future))
            self._producer.flush(timeout=SEND_TIMEOUT_S)
            for topic, future in sent:
                try:
                    future.get(timeout=SEND_TIMEOUT_S)
                except TopicAuthorizationFailedError as error:
                    raise _unauthorised(topic) from error
        except REFUSED_FOR_EVER as error:  # by the producer before sending, or by the broker
            self.close()  # after the broker's refusal the producer sends nothing more: the next use opens another
            raise RecordRefusedError(0, type(error).__name__) from error
        except KafkaError as error:
            raise PublishError(f"Kafka refused a record: {type(error).__name__}") from error

    def dead_letter(self, message: Outgoing, reason: str) -> None:
        """Says on `<topic>.dlq` that `message` could not be published, and why: its CloudEvent attributes (its id,
        type and subject) without its data, which Kafka refused."""
        headers, _ = message.event.to_kafka()
        marks = [("dlq_reason", reason.encode()), ("dlq_topic", message.topic.encode())]
        self.send_raw(dlq_topic(message.topic), message.key.encode(), None, [*headers, *marks])

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        """Publishes one record as is (dead letters keep the original bytes). Raises `RecordRefusedError` when the
        record can never be sent as it is (kafka-python's own checks refuse it, or it is too large), another error
        (`PublishError`, `KafkaError`) when Kafka did not acknowledge it: sending it again later may succeed."""
        self._ensure({topic})
        with self._in_flight:
            try:
                self._producer.send(topic, key=key, value=value, headers=headers).get(timeout=SEND_TIMEOUT_S)
            except (TypeError, ValueError) as error:  # kafka-python's checks of the record, before anything is sent
                raise RecordRefusedError(0, type(error).__name__) from error
            except REFUSED_FOR_EVER as error:
                self.close()  # after the broker's refusal the producer sends nothing more: the next use opens another
                raise RecordRefusedError(0, type(error).__name__) from error
            except TopicAuthorizationFailedError as error:
                raise _unauthorised(topic) from error

    def _ensure(self, topics: set[str]) -> None:
        """Creates the topics it writes that do not exist yet (their dead-letter twins are the consumers' affair)."""
        admin = self._connect()[1]
        new = topics - self._known
        if new:
            try:
                ensure_topics(admin, new, with_dlq=False)
            except TopicAuthorizationFailedError as error:
                raise _unauthorised(", ".join(sorted(new))) from error
            self._known |= new

    def close(self) -> None:
        with self._lock:
            if self._clients is not None:
                producer, admin = self._clients
                producer.close(timeout=5)
                admin.close()
                self._clients = None


def _unauthorised(topics: str) -> PublishError:
    """Writing outside the principal's ACLs is a configuration error: say which topic, loudly."""
    log.error("the broker refused this principal the right to write %s (see deploy/kafka/acls.toml)", topics)
    return PublishError(f"not authorised to write {topics}")


class KafkaProbe:
    """Answers whether the brokers respond (for /readyz)."""

    def __init__(self, brokers: Brokers, client_id: str) -> None:
        self._brokers = brokers
        self._client_id = client_id
        self._admin: KafkaAdminClient | None = None

    def check(self) -> None:
        """Raises when no broker answers; a failed client is dropped, so the next check starts afresh instead of
        waiting out the old client's reconnection backoff."""
        try:
            if self._admin is None:  # a readiness probe answers within seconds, never hangs on a dead broker
                self._admin = make_admin(self._brokers, self._client_id, timeout_ms=3_000)
            self._admin.list_topics()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
