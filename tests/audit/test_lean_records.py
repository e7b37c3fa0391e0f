"""The audit replay's lean record decoding (`services.audit.records`) gives what kafka-python's own decoding gives:
same offsets, timestamps, headers and values, same positions, same errors."""

from __future__ import annotations

import struct
import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBase
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from kafka.record.util import calc_crc32c

from services.audit.inbound import row_of
from services.audit.records import _LeanPartitionRecords, lean
from services.audit.views import Rejected
from services.common.kafka import ensure_topics, make_admin

TP = TopicPartition("history", 0)
T0 = 1_767_621_600_000
LONG = b"x" * 300  # lengths of two varint bytes and more
Record = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def records(count: int, start: int = 0) -> list[Record]:
    """Records of every shape: keys or none, values null, empty or long, headers null, long or repeated."""
    shapes: list[Record] = []
    for n in range(start, start + count):
        headers: list[tuple[str, bytes | None]] = [("ce_id", f"id-{n}".encode()), ("ce_specversion", b"1.0")]
        if n % 3 == 0:
            headers += [("ce_dataschema", LONG), ("ce_id", b"again"), ("nothing", None), ("é" * 70, b"")]
        value = None if n % 7 == 3 else b"" if n % 7 == 4 else b'{"n": %d}' % n + (LONG if n % 2 else b"")
        shapes.append((T0 + 37 * n, None if n % 4 == 1 else str(n).encode(), value, headers))
    return shapes


def batch(shapes: list[Record], offset: int = 0, magic: int = 2, compression: int = 0) -> bytes:
    builder = MemoryRecordsBuilder(magic, compression, 10_000_000, offset=offset)
    for timestamp, key, value, headers in shapes:
        assert builder.append(timestamp, key, value, headers if magic == 2 else None) is not None
    builder.close()
    return bytes(builder.buffer())


def with_attributes(raw: bytes, bits: int) -> bytes:
    """A v2 batch with more attribute bits set (control batch, log append time), its CRC recomputed."""
    data = bytearray(raw)
    at = DefaultRecordBase.ATTRIBUTES_OFFSET
    struct.pack_into(">h", data, at, struct.unpack_from(">h", data, at)[0] | bits)
    struct.pack_into(">I", data, DefaultRecordBase.CRC_OFFSET, calc_crc32c(memoryview(data)[at:]))
    return bytes(data)


def decoded(kind: Any, raw: bytes, fetch_offset: int = 0, take: int | None = None, crcs: bool = True) -> Any:
    part = kind(fetch_offset, TP, MemoryRecords(raw), check_crcs=crcs)
    taken = part.take(take)
    if kind is Fetcher.PartitionRecords:
        taken = [(r.offset, r.timestamp, dict(r.headers), r.value) for r in taken]
    return taken, part.next_fetch_offset, part.leader_epoch


def same(raw: bytes, fetch_offset: int = 0, take: int | None = None) -> list[Any]:
    ours = decoded(_LeanPartitionRecords, raw, fetch_offset, take)
    assert ours == decoded(Fetcher.PartitionRecords, raw, fetch_offset, take)
    return list(ours[0])


@pytest.mark.parametrize("compression", [0, 1], ids=["uncompressed", "gzip"])
def test_records_decode_as_kafka_python_decodes_them(compression: int) -> None:
    raw = batch(records(40), compression=compression) + batch(records(25, 40), offset=40, compression=compression)
    got = same(raw)
    assert [r[0] for r in got] == list(range(65))
    assert got[3][2] == {
        "ce_id": b"again",
        "ce_specversion": b"1.0",
        "ce_dataschema": LONG,
        "nothing": None,
        "é" * 70: b"",
    }


def test_positions_follow_what_was_taken_and_where_the_fetch_started() -> None:
    raw = batch(records(30)) + batch(records(30, 30), offset=30)
    for fetch_offset, take in ((0, 1), (0, 29), (0, 31), (12, 5), (12, None), (45, 3)):
        got = same(raw, fetch_offset, take)
        assert got[0][0] == fetch_offset


def test_older_message_formats_and_broker_batches_decode_as_kafka_python_decodes_them() -> None:
    assert len(same(batch(records(9), magic=0) + batch(records(9, 9), offset=9, magic=1))) == 18
    log_append_time = with_attributes(batch(records(5)), DefaultRecordBase.TIMESTAMP_TYPE_MASK)
    assert {r[1] for r in same(log_append_time)} == {T0 + 37 * 4}
    control = with_attributes(batch(records(3)), DefaultRecordBase.CONTROL_MASK)
    got = same(batch(records(4)) + control[:0] + with_attributes(batch(records(3), 4), DefaultRecordBase.CONTROL_MASK))
    assert [r[0] for r in got] == [0, 1, 2, 3]
    assert decoded(_LeanPartitionRecords, control)[:2] == ([], 3)


def test_damaged_batches_fail_as_kafka_python_fails() -> None:
    raw = bytearray(batch(records(6)))
    raw[-20] ^= 0xFF  # inside the last record
    for kind in (_LeanPartitionRecords, Fetcher.PartitionRecords):
        with pytest.raises(CorruptRecordError, match="crc"):
            decoded(kind, bytes(raw))
    lengths = bytearray(batch(records(6)))
    lengths[DefaultRecordBase.HEADER_STRUCT.size] = 0x7E  # the first record's length: 63 instead of its own
    for kind in (_LeanPartitionRecords, Fetcher.PartitionRecords):
        with pytest.raises(CorruptRecordError):
            decoded(kind, bytes(lengths), crcs=False)


def test_a_null_cloudevent_attribute_is_a_rejected_record() -> None:
    row = row_of("history", 0, 7, T0, {"ce_id": None, "ce_type": b"t", "ce_time": b"2026-01-05T14:00:00Z"}, b"{}")
    assert row == Rejected("history", 0, 7, "CloudEvent attribute is not UTF-8")


def test_only_the_given_consumer_decodes_lean_and_only_when_it_reads_uncommitted() -> None:
    consumer = lean(KafkaConsumer(bootstrap_servers="127.0.0.1:9", api_version=(2, 5)))
    other = KafkaConsumer(bootstrap_servers="127.0.0.1:9", api_version=(2, 5), isolation_level="read_committed")
    try:
        assert consumer._fetcher.PartitionRecords is _LeanPartitionRecords
        assert other._fetcher.PartitionRecords is Fetcher.PartitionRecords
        with pytest.raises(ValueError, match="uncommitted"):
            lean(other)
    finally:
        consumer.close()
        other.close()


@pytest.mark.integration
def test_a_lean_consumer_polls_what_a_plain_consumer_polls(kafka_bootstrap: str) -> None:
    topic = f"lean-{uuid.uuid4().hex[:8]}"
    admin = make_admin(kafka_bootstrap, "lean-records-test")
    ensure_topics(admin, [topic], partitions=1, with_dlq=False)
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    for timestamp, key, value, headers in records(300):  # a producer sends no null header value and a key
        sent = [(name, header) for name, header in headers if header is not None]
        producer.send(topic, key=key or b"k", value=value, headers=sent, timestamp_ms=timestamp)
    producer.flush()
    producer.close()
    polled = []
    for consumer in (
        KafkaConsumer(bootstrap_servers=kafka_bootstrap),
        lean(KafkaConsumer(bootstrap_servers=kafka_bootstrap)),
    ):
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        got: list[Any] = []
        for _ in range(60):
            if len(got) >= 300:
                break
            for batch_records in consumer.poll(timeout_ms=1000, max_records=70).values():
                got += batch_records
        polled.append(got)
        consumer.close()
    plain, ours = polled
    assert ours == [(r.offset, r.timestamp, dict(r.headers), r.value) for r in plain]
