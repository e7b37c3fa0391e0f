"""The stores' transcoder: the library's JSON, byte for byte, written by orjson; what orjson would write otherwise is
left to the library's encoder."""

from __future__ import annotations

import enum
import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from services.common.transcoder import StoreTranscoder
from services.referral.domain import Referral
from services.referral.main import build_application
from services.referral.settings import ReferralSettings


class Colour(enum.StrEnum):
    RED = "red"


class Rank(enum.IntEnum):
    FIRST = 1


Pair = namedtuple("Pair", "left right")


class Point:
    def __init__(self, x: int, when: datetime) -> None:
        self.x, self.when = x, when

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.when) == (other.x, other.when)

    __hash__ = None  # type: ignore[assignment]


class PointAsDict(Transcoding):
    """A registered type whose data holds another registered type (the library encodes it again)."""

    type = Point
    name = "point"

    def encode(self, obj: Point) -> dict[str, Any]:
        return {"x": obj.x, "when": obj.when}

    def decode(self, data: dict[str, Any]) -> Point:
        return Point(data["x"], data["when"])


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), PointAsDict()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, OURS = registered(JSONTranscoder()), registered(StoreTranscoder())

datetimes = st.datetimes(
    min_value=datetime(1, 1, 1),
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5)), ZoneInfo("America/Montreal")]),
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text()
    | datetimes
    | st.uuids()
    | st.decimals(allow_nan=False)
    | st.builds(Point, st.integers(), datetimes)
)
states = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(states)
def test_it_writes_the_librarys_bytes(state: Any) -> None:
    encoded = OURS.encode(state)
    assert encoded == LIBRARY.encode(state)
    assert OURS.decode(encoded) == LIBRARY.decode(encoded)


@given(st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e-05, 2.5e-07, 1e16, -0.0, 0.1, 123.456]))
def test_floats_are_the_librarys_bytes(number: float) -> None:
    # orjson spells an exponent otherwise (1e-05 as 0.00001): those go to the library's encoder
    assert OURS.encode({"f": number}) == LIBRARY.encode({"f": number})


@pytest.mark.parametrize(
    "state",
    [
        {"f": float("nan")},
        {"f": float("-inf")},
        {"n": 2**70},
        {1: "a key that is no string"},
        {"colour": Colour.RED, "rank": Rank.FIRST},
        {"pair": Pair(1, datetime(2026, 12, 3, tzinfo=UTC))},
        {"subclass": type("Items", (dict,), {})(a=1)},
        {"text": '\u2028\x1f\n"\\é'},
    ],
    ids=["nan", "infinity", "big-int", "int-key", "enums", "namedtuple", "dict-subclass", "escapes"],
)
def test_what_orjson_would_write_otherwise_is_the_librarys(state: dict[Any, Any]) -> None:
    assert OURS.encode(state) == LIBRARY.encode(state)


def test_a_type_registered_nowhere_fails_as_in_the_library() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OURS.encode({"x": object()})


def test_a_cycle_fails_as_in_the_library() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        LIBRARY.encode(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        OURS.encode(cycle)


def test_datetimes_registered_otherwise_use_that_registration() -> None:
    class DatetimeAsEpoch(Transcoding):
        type = datetime
        name = "datetime_epoch"

        def encode(self, obj: datetime) -> float:
            return obj.timestamp()

        def decode(self, data: float) -> datetime:
            return datetime.fromtimestamp(data, UTC)

    ours = StoreTranscoder()
    ours.register(DatetimeAsEpoch())
    at = datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    assert ours.encode({"at": at}) == b'{"at":{"_type_":"datetime_epoch","_data_":1796275800.0}}'
    assert ours.decode(ours.encode({"at": at})) == {"at": at}


def test_the_services_stores_encode_with_it(tmp_path: Path) -> None:
    settings = ReferralSettings(var_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'referral.db'}")
    flag = {
        "standard": "CRISIS_IMMEDIATE",
        "kind": "at_risk",
        "started_at": datetime(2026, 12, 3, 5, tzinfo=UTC),
        "due_at": datetime(2026, 12, 3, 6, tzinfo=UTC),
        "at": datetime(2026, 12, 3, 5, 45, tzinfo=UTC),
        "bound_s": 3600,
        "responsible_org": "org-001",
        "service": "CRISIS_24_7",
    }
    [event] = Referral.delay_flags(uuid.uuid4(), 3, [flag], Referral.DelayFlagged.create_timestamp())
    with build_application(settings) as app:
        assert isinstance(app.mapper.transcoder, StoreTranscoder)
        assert app.mapper.to_domain_event(app.mapper.to_stored_event(event)) == event
