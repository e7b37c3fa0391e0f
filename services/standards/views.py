"""The board as the API reads it: the latest record of every row of the compacted board topic, in memory.

The API never computes the board; it follows the topic the worker publishes (from its first offset), so it serves
the same board wherever the worker runs, and any number of API processes can.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from services.common.envelope import HEADER_PREFIX
from services.common.kafka_security import Brokers, access_of

log = logging.getLogger(__name__)


class BoardView:
    """Every row of the board topic by key: its CloudEvent type and payload (rows deleted on the topic are gone)."""

    def __init__(self, access: Brokers, topic: str, client_id: str) -> None:
        self._access = access
        self._topic = topic
        self._client_id = client_id
        self._rows: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.caught_up = threading.Event()
        """Set once every record on the topic when the view started has been read."""

    def rows(self, type_: str, prefix: str = "") -> Iterator[dict[str, Any]]:
        """The payloads of one type whose key starts with `prefix`."""
        with self._lock:
            found = [data for key, (t, data) in self._rows.items() if t == type_ and key.startswith(prefix)]
        yield from found

    def snapshot(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every row by key: its type and payload."""
        with self._lock:
            return dict(self._rows)

    def apply(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if key is None:
            return
        name = key.decode()
        with self._lock:
            if value is None:
                self._rows.pop(name, None)
                return
            type_ = dict(headers).get(HEADER_PREFIX + "type", b"").decode()
            self._rows[name] = (type_, json.loads(value))

    def read_to_end(self) -> None:
        """Reads the topic once, from its first offset to its end offsets when called (the worker's recovery)."""
        consumer = KafkaConsumer(
            **access_of(self._access).client_config(), client_id=self._client_id, enable_auto_commit=False
        )
        try:
            partitions = [TopicPartition(self._topic, p) for p in consumer.partitions_for_topic(self._topic) or []]
            if not partitions:
                return
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            while any(consumer.position(tp) < ends[tp] for tp in partitions):
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        self.apply(record.key, record.value, list(record.headers or []))
        finally:
            consumer.close()

    def run(self, stop: threading.Event) -> None:
        """Follows the topic until `stop` (a background loop of the API process)."""
        consumer = KafkaConsumer(
            **access_of(self._access).client_config(), client_id=self._client_id, enable_auto_commit=False
        )
        try:
            partitions = [
                TopicPartition(self._topic, p) for p in sorted(consumer.partitions_for_topic(self._topic) or [])
            ]
            if not partitions:
                stop.wait(1.0)  # the worker creates the topic; try again
                return
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    for record in records:
                        self.apply(record.key, record.value, list(record.headers or []))
                if not self.caught_up.is_set() and all(consumer.position(tp) >= ends[tp] for tp in partitions):
                    self.caught_up.set()
        finally:
            consumer.close()
