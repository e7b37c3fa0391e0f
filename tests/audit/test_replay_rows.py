"""The audit replay's row of a record (`inbound.row_of`) parses the record's value and time faster than the standard
library but keeps what the library's parsing kept: the same rows, the same rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.audit import inbound
from services.audit.inbound import row_of
from services.audit.views import HistoryRow, Rejected, parse_time, utc_text

TYPE = b"ca.qc.rls.consent.recorded.v1"
"""A type whose entity is the `consent_id` field of the value."""
FIELD = "consent_id"
TIME = b"2026-01-05T14:00:00.250000Z"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from([FIELD, "a", "é"]) | st.text(), inner),
    max_leaves=12,
)


def row(value: bytes, time: bytes = TIME) -> HistoryRow | Rejected:
    return row_of(
        "history",
        0,
        1,
        1_767_621_600_000,
        {"ce_id": b"e", "ce_type": TYPE, "ce_time": time, "ce_specversion": b"1.0"},
        value,
    )


def by_the_library(value: bytes) -> HistoryRow | Rejected:
    """What the row was when the standard library parsed every value."""
    try:
        data = json.JSONDecoder().decode(value.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Rejected("history", 0, 1, "record value is not JSON")
    except RecursionError:  # it stopped the replay: now a rejected record
        return Rejected("history", 0, 1, "record value is not JSON")
    if not isinstance(data, dict):
        return Rejected("history", 0, 1, "record value must be a JSON object")
    if not isinstance(data.get(FIELD), str):
        return Rejected("history", 0, 1, f"{TYPE.decode()}: {FIELD} missing")
    return HistoryRow(
        "e",
        "history",
        0,
        1,
        TYPE.decode(),
        "consent",
        data[FIELD],
        utc_text(parse_time(TIME.decode())),
        "2026-01-05T14:00:00.000000Z",
        value.decode(),
    )


def kept(value: bytes) -> None:
    assert row(value) == by_the_library(value)


@settings(max_examples=400, deadline=None)
@given(json_values, st.booleans())
@example({FIELD: "c-1", "n": 10**30}, False)  # beyond 64 bits: a float to orjson, an int to the library
@example({FIELD: float("nan")}, False)  # NaN: the library's extension, refused by orjson
@example({FIELD: "\ud800"}, True)  # a lone surrogate, escaped
@example({FIELD: "a", FIELD + " ": "b"}, False)
def test_a_json_value_gives_the_row_the_librarys_parsing_gave(value: Any, ascii_only: bool) -> None:
    kept(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=40)
    | st.text(alphabet='{}[]",:\\ 0123456789.eE+-tfnulraNIy\ud800', max_size=30).map(
        lambda t: t.encode("utf-8", "surrogatepass")
    )
)
@example(b'{"consent_id": "a", "consent_id": "b"}')  # a repeated key: the last one, for both
@example(b"\xef\xbb\xbf{}")
@example(b"  {}\n")
@example(b"")
def test_any_bytes_give_the_row_or_the_rejection_the_librarys_parsing_gave(value: bytes) -> None:
    kept(value)


def test_a_value_nested_too_deep_to_parse_is_a_rejected_record_not_a_stopped_replay() -> None:
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        assert row(deep) == Rejected("history", 0, 1, "record value is not JSON")


@pytest.mark.parametrize("depth", [255, 256, 900, 1000, 1023])
def test_a_value_nested_deep_is_stored_only_if_the_library_parses_it(depth: int) -> None:
    """orjson parses 1,023 levels, the library about 1,000: a value between them would be stored, then fail every
    reader of the audit database (`HistoryRow.payload`)."""
    value = b'{"consent_id": "c", "x": ' + b"[" * depth + b"]" * depth + b"}"
    made = row(value)
    assert made == by_the_library(value)
    if isinstance(made, HistoryRow):
        assert made.payload["consent_id"] == "c"
    else:
        assert depth >= 1000 and made == Rejected("history", 0, 1, "record value is not JSON")


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.booleans(),
)
def test_an_events_time_gives_the_effective_time_the_librarys_formatting_gave(
    moment: datetime, zone: timezone, spec: str, zulu: bool
) -> None:
    text = moment.astimezone(zone).isoformat(timespec=spec)
    if zulu:
        text = text.replace("+00:00", "Z")
    made = row(b'{"consent_id": "c"}', text.encode())
    assert isinstance(made, HistoryRow) and made.effective_at == utc_text(parse_time(text))


FORMS = ("2026-12-04T13:00:00.123456Z", "2026-12-04T13:00:00Z")
"""The two forms of time the platform's envelopes carry (pydantic's JSON), which the replay only checks."""


def in_form(form: str, places: str) -> str:
    """`form` with `places` in the places of its digits."""
    it = iter(places)
    return "".join(mark if not mark.isdigit() else next(it) for mark in form)


PLACES = st.text(alphabet="0123456789", min_size=20) | st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=20
)
"""What stands where a form's digits go: digits (in range or not), or any ASCII."""


@settings(max_examples=500)
@given(st.sampled_from(FORMS), PLACES)
@example(FORMS[0], "20261304130000123456")  # month 13
@example(FORMS[0], "20260230130000123456")  # February 30
@example(FORMS[0], "20261204250000123456")  # 25 o'clock
@example(FORMS[0], "20261204240000000000")  # 24 o'clock: the next day's midnight from Python 3.14
@example(FORMS[0], "20261204235959999999")
@example(FORMS[0], "00010101000000000000")
@example(FORMS[0], "20261204130000+12345")
@example(FORMS[1], "20261304130000")  # month 13
@example(FORMS[1], "20261204240000")  # 24 o'clock
@example(FORMS[1], "20261204235960")  # second 60
@example(FORMS[1], "99991231235959")
@example(FORMS[1], "2026120413000+")
@example(FORMS[1], "2026120413000 ")
def test_a_time_in_an_envelopes_form_gives_what_the_librarys_formatting_gave(form: str, places: str) -> None:
    text = in_form(form, places)
    try:
        expected: str | None = utc_text(parse_time(text))
    except ValueError:
        expected = None
    made = row(b'{"consent_id": "c"}', text.encode())
    if expected is None:
        assert made == Rejected("history", 0, 1, "time is not an ISO 8601 instant with an offset")
    else:
        assert isinstance(made, HistoryRow) and made.effective_at == expected


@pytest.mark.parametrize(
    ("text", "effective"),
    [
        ("2026-12-04T13:00:00.123456Z", "2026-12-04T13:00:00.123456Z"),
        ("2026-12-04T13:00:00Z", "2026-12-04T13:00:00.000000Z"),
    ],
)
def test_a_time_in_an_envelopes_form_is_only_checked(
    text: str, effective: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not parsed and formatted again: both forms of the platform's envelopes (a whole second, as pydantic writes
    it, included) take the replay's quick way."""

    def refused(_: str) -> datetime:
        raise AssertionError("parsed and formatted again")

    monkeypatch.setattr(inbound, "parse_time", refused)
    made = row(b'{"consent_id": "c"}', text.encode())
    assert isinstance(made, HistoryRow) and made.effective_at == effective
