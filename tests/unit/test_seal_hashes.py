"""The seals' hashes are a stored and published format (checkpoints carry chain hashes): the same events hash to the
same bytes in every version, whichever way a write computes them."""

from __future__ import annotations

import hashlib

from services.common.integrity.hashing import (
    Seal,
    aggregate_hash,
    body_hash,
    chain_hash,
    chain_lines,
    genesis,
    line_events,
)

REFERRAL = "0f5a7c52-3d1e-4b7a-9a51-8c6f0e2d4b13"
OTHER = "ffffffff-0000-4000-8000-000000000000"
FLAGGED = "services.referral.domain:Referral.DelayFlagged"
EVENTS = [
    (REFERRAL, 1, "services.referral.domain:Referral.Submitted", b"\x01state one"),
    (REFERRAL, 2, FLAGGED, b"\x02state two"),
    (OTHER, 5, FLAGGED, bytes(range(40))),
]
OTHER_BEFORE = bytes.fromhex("ab" * 32)
SEALS = [
    Seal(
        41,
        REFERRAL,
        1,
        "55105f4a8ea66d27ff913ab44bc57c35dd4e073c5edc6d3b02b95b386165503c",
        "96ba189cd6f36c0d14214c06c58222278a3fcdc6977cbaa7db2676d82ce8e6aa",
        "97362f741df9330e71098b6457ca0d8ef71da196ba6244d8eebaae81f5790db6",
    ),
    Seal(
        42,
        REFERRAL,
        2,
        "d605ccafc29676d8a7775d0c8aba3fb55fd04bacec9920895f96eabcdd68afdc",
        "e49087ed2e4f703837e9e72b2dedd167b94d2e2f6fd6a8ba3609b0dce99ea75f",
        "12fa073300340248a5d9c0a896a9c8babbf8d66b24864c6e306aed1dd73ee951",
    ),
    Seal(
        43,
        OTHER,
        5,
        "9b01f22266d1182baf79378207e0903a68ec71d1bb4b667319d38b3d763622ba",
        "1573ee7ad46b91ca043f10d7cc181ff16928d3d74c8a95e92af6ba600de127b6",
        "abd3bbe812db6a23052d2a95cf43d8ebdd3af9bdc7f2b138d57a628be6bcc999",
    ),
]


def test_a_write_seals_its_events_with_the_hashes_every_earlier_version_gave_them() -> None:
    lined = line_events(EVENTS, {OTHER: OTHER_BEFORE}.__getitem__)
    assert chain_lines(lined, [41, 42, 43], genesis("store-1")) == SEALS


def test_a_verifier_recomputes_the_same_hashes_one_event_at_a_time() -> None:
    chain = genesis("store-1")
    aggregates = {OTHER: OTHER_BEFORE}
    for (originator_id, version, topic, state), seal in zip(EVENTS, SEALS, strict=True):
        body = body_hash(originator_id, topic, state)
        aggregate = aggregate_hash(aggregates.get(originator_id, bytes(32)), version, body)
        chain = chain_hash(chain, seal.notification_id, aggregate)
        aggregates[originator_id] = aggregate
        assert (body.hex(), aggregate.hex(), chain.hex()) == seal[3:]


def test_the_body_hash_is_the_documented_length_prefixed_sha256() -> None:
    def part(value: bytes) -> bytes:
        return len(value).to_bytes(8, "big") + value

    originator_id, _, topic, state = EVENTS[2]
    expected = hashlib.sha256(b"rls-seal-v1/body" + part(originator_id.encode()) + part(topic.encode()) + part(state))
    assert body_hash(originator_id, topic, state) == expected.digest()
