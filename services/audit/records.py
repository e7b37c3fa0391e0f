"""Lean record decoding for the audit replay: kafka-python fetches, this module decodes only what a replay reads.

kafka-python decodes every record of a fetched batch into a `DefaultRecord`, then a `ConsumerRecord` of 13 fields
(sizes, checksum, deserialized key), with a Python function call per varint. A replay reads the offset, the timestamp,
the headers and the value of each record: `lean(consumer)` makes that one consumer's fetcher yield
`(offset, timestamp_ms, headers, value)` tuples instead (headers as a dict, the last value of a repeated name), decoded
in one loop over the batch's bytes. Everything else stays kafka-python's: fetch requests, positions, batch CRC
checks, decompression, control batches skipped. The hook is one attribute of one consumer's fetcher (never the
library's class), and `tests/audit/test_lean_records.py` checks it against kafka-python's own decoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.util import decode_varint

LeanRecord = tuple[int, int, dict[str, bytes | None], bytes | None]
"""offset, timestamp (epoch ms), headers by name, value."""

_LOG_APPEND_TIME = 1


class _LeanPartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """kafka-python's records of one fetched partition, decoded as `LeanRecord` tuples."""

    def _maybe_skip_record(self, record: LeanRecord) -> bool:
        # records of a batch before the fetch offset (a fetch starting inside a batch)
        fetch_offset: int = self.fetch_offset
        return record[0] < fetch_offset

    def _unpack_records(self, tp: Any, records: Any, key_deserializer: Any, value_deserializer: Any) -> Iterator[Any]:
        last_batch = None
        batch = records.next_batch()
        while batch is not None:
            last_batch = batch
            if self.check_crcs and not batch.validate_crc():
                raise CorruptRecordError(
                    f"Record batch for partition {tp} at offset {batch.base_offset} failed crc check"
                )
            if batch.magic != 2:
                for record in batch:  # message format v0/v1: kafka-python's records (no headers)
                    self.next_fetch_offset = record.offset + 1
                    yield record.offset, record.timestamp, {}, record.value
            elif batch.is_control_batch:
                self.next_fetch_offset = batch.next_offset
            else:
                self.leader_epoch = batch.leader_epoch
                for record in _decoded(batch):
                    self.next_fetch_offset = record[0] + 1
                    yield record
            batch = records.next_batch()
        if last_batch is not None and last_batch.magic == 2:
            self.next_fetch_offset = last_batch.next_offset
        self.drain()


def _decoded(batch: Any) -> Iterator[LeanRecord]:
    """The records of a v2 batch (decompressed by kafka-python), checked for size as kafka-python checks them."""
    iter(batch)  # decompresses the batch's records in place
    buffer = bytes(batch._buffer)  # one copy a batch: its slices are then the values, not copies to copy again
    pos: int = batch._pos
    base_offset: int = batch.base_offset
    append_time: int | None = batch.max_timestamp if batch.timestamp_type == _LOG_APPEND_TIME else None
    first_timestamp: int = batch.first_timestamp
    varint = decode_varint
    try:
        for _ in range(batch.records_count):
            length, pos = varint(buffer, pos)
            start = pos
            _, pos = varint(buffer, pos)  # attributes (unused in v2)
            timestamp_delta, pos = varint(buffer, pos)
            offset_delta, pos = varint(buffer, pos)
            key_length, pos = varint(buffer, pos)
            if key_length > 0:
                pos += key_length
            value_length, pos = varint(buffer, pos)
            value = None
            if value_length >= 0:
                value = buffer[pos : pos + value_length]
                pos += value_length
            count, pos = varint(buffer, pos)
            if count < 0:
                raise CorruptRecordError(f"Found invalid number of record headers {count}")
            headers: dict[str, bytes | None] = {}
            for _ in range(count):
                # header lengths mostly fit one byte (zigzag varint < 0x80): decoded inline, the rest by kafka-python
                name_length = buffer[pos]
                if name_length < 0x80:
                    name_length, pos = (name_length >> 1) ^ -(name_length & 1), pos + 1
                else:
                    name_length, pos = varint(buffer, pos)
                if name_length < 0:
                    raise CorruptRecordError(f"Invalid negative header key size {name_length}")
                name = buffer[pos : pos + name_length].decode()
                pos += name_length
                header_length = buffer[pos]
                if header_length < 0x80:
                    header_length, pos = (header_length >> 1) ^ -(header_length & 1), pos + 1
                else:
                    header_length, pos = varint(buffer, pos)
                if header_length >= 0:
                    headers[name] = buffer[pos : pos + header_length]
                    pos += header_length
                else:
                    headers[name] = None
            if pos - start != length:
                raise CorruptRecordError(f"Invalid record size: expected {length} bytes, read {pos - start}")
            moment = first_timestamp + timestamp_delta if append_time is None else append_time
            yield base_offset + offset_delta, moment, headers, value
    except (ValueError, IndexError) as error:
        raise CorruptRecordError(f"Found invalid record structure: {error!r}") from error
    if pos != len(buffer):
        raise CorruptRecordError(f"{len(buffer) - pos} unconsumed bytes after all records consumed")


def lean(consumer: KafkaConsumer) -> KafkaConsumer:
    """`consumer`, whose `poll` now returns `LeanRecord` tuples (it must read uncommitted, kafka-python's default:
    aborted transactions are not filtered here)."""
    fetcher = consumer._fetcher
    if fetcher.config["isolation_level"] != "read_uncommitted":
        raise ValueError("lean records read uncommitted only")
    fetcher.PartitionRecords = _LeanPartitionRecords
    return consumer
