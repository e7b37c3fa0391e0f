"""CloudEvents envelope: deterministic ids and binary-mode Kafka headers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.common.envelope import CloudEvent, EnvelopeError, event_id, event_type

AGGREGATE = uuid.UUID("00000000-0000-4000-8000-000000000001")


def sample() -> CloudEvent:
    return CloudEvent(
        id=event_id(AGGREGATE, 1),
        source="/rls/test",
        type=event_type("referral", "submitted"),
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        subject=str(AGGREGATE),
        correlationid="c-1",
        data={"referral_id": str(AGGREGATE), "n": 1},
    )


def test_event_id_is_deterministic_per_originator_and_version() -> None:
    assert event_id(AGGREGATE, 1) == event_id(str(AGGREGATE), 1)
    assert event_id(AGGREGATE, 1) != event_id(AGGREGATE, 2)


def test_event_type_is_versioned() -> None:
    assert event_type("referral", "submitted") == "ca.qc.rls.referral.submitted.v1"


def test_binary_mode_round_trip_keeps_every_attribute() -> None:
    headers, value = sample().to_kafka()
    names = {name for name, _ in headers}
    assert {"ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject", "ce_correlationid"} <= names
    assert ("content-type", b"application/json") in headers
    assert CloudEvent.from_kafka(headers, value) == sample()


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"{}", "invalid CloudEvent attributes"),
        (
            [("ce_id", b"x"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_time", b"2026-01-01T00:00:00Z")],
            b"not json",
            "not JSON",
        ),
        (
            [("ce_id", b"x"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_time", b"2026-01-01T00:00:00Z")],
            b"[1]",
            "JSON object",
        ),
        (
            [
                ("ce_id", b"x"),
                ("ce_source", b"s"),
                ("ce_type", b"t"),
                ("ce_time", b"2026-01-01T00:00:00Z"),
                ("ce_specversion", b"0.3"),
            ],
            b"{}",
            "specversion",
        ),
    ],
)
def test_malformed_records_are_refused_with_a_reason(
    headers: list[tuple[str, bytes]], value: bytes, reason: str
) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        CloudEvent.from_kafka(headers, value)


ATTRIBUTES = [("ce_id", b"x"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_time", b"2026-01-01T00:00:00Z")]


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([*ATTRIBUTES, ("content-type", None)], b"{}", "header content-type has no value"),
        ([*ATTRIBUTES[1:], ("ce_id", None)], b"{}", "header ce_id has no value"),
        ([*ATTRIBUTES, ("content-type", b"\xff")], b"{}", "header content-type is not UTF-8"),
        ([*ATTRIBUTES[1:], ("ce_id", b"\xc3")], b"{}", "header ce_id is not UTF-8"),
        (ATTRIBUTES, b"[" * 200_000, "not JSON"),
        (ATTRIBUTES, b'{"a":' * 65 + b"1" + b"}" * 65, "nested deeper than 64 levels"),
        (ATTRIBUTES, b'{"a":' + b"1" * 5000 + b"}", "not JSON"),
    ],
    ids=[
        "null-content-type",
        "null-ce-header",
        "binary-content-type",
        "binary-ce-header",
        "recursion",
        "deep",
        "digits",
    ],
)
@pytest.mark.usefixtures("collector_paused")
def test_records_no_client_would_write_are_refused_as_malformed_not_raised_as_something_else(
    headers: list[tuple[str, bytes | None]], value: bytes, reason: str
) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        CloudEvent.from_kafka(headers, value)


PERSON = "Jean Tremblay NAM TREJ12345678"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([*ATTRIBUTES, (f"ce_{PERSON}", b"x")], "invalid CloudEvent attributes: <key>"),
        ([*ATTRIBUTES, (f"ce_{PERSON}", None)], "header ce_<key> has no value"),
        ([*ATTRIBUTES, (f"ce_{PERSON}", b"\xff")], "header ce_<key> is not UTF-8"),
        ([*ATTRIBUTES, ("ce_specversion", PERSON.encode())], "unsupported specversion (not 1.0)"),
    ],
    ids=["unknown-attribute", "unknown-null-header", "unknown-binary-header", "specversion"],
)
def test_a_refusal_quotes_no_header_value_nor_a_header_name_the_envelope_does_not_declare(
    headers: list[tuple[str, bytes | None]], reason: str
) -> None:
    """A consumer logs the refusal and puts it on the dead letter: the producer's text may be personal."""
    with pytest.raises(EnvelopeError) as refused:
        CloudEvent.from_kafka(headers, b"{}")
    assert str(refused.value) == reason


def test_a_header_the_envelope_does_not_read_may_have_no_value() -> None:
    headers, value = sample().to_kafka()
    assert CloudEvent.from_kafka([*headers, ("x-trace", None)], value) == sample()


def test_structured_mode_is_one_json_document() -> None:
    document = sample().to_structured()
    assert CloudEvent.model_validate_json(document) == sample()
