"""How a replay shares the partitions among its processes (pure: no broker)."""

from __future__ import annotations

from kafka import TopicPartition

from services.audit.inbound import KafkaReplay, _split
from services.audit.views import HistoryDB


def test_each_partition_goes_to_one_process_and_the_records_are_shared_about_evenly() -> None:
    offsets = {TopicPartition(f"t{n % 4}", n): (10, 10 + count) for n, count in enumerate([900, 50, 400, 400, 300, 60])}

    shares = _split(offsets, 2)

    assert sorted(tp for share in shares for tp in share) == sorted(offsets)  # once each
    assert all(share[tp] == offsets[tp][1] for share in shares for tp in share)  # up to the end offset
    assert sorted(sum(offsets[tp][1] - offsets[tp][0] for tp in share) for share in shares) == [
        1010,
        1100,
    ]  # largest first, each to the lighter share


def test_never_more_processes_than_partitions_and_none_for_nothing_to_read() -> None:
    assert len(_split({TopicPartition("t", 0): (0, 5)}, 4)) == 1
    assert _split({}, 4) == []


def test_an_audit_database_in_memory_is_filled_in_this_process(tmp_path: object) -> None:
    assert KafkaReplay("localhost:1", ["t"], HistoryDB("memory://"), processes=4).processes == 1
    assert HistoryDB(f"sqlite:///{tmp_path}/h.db").shared
