"""The stores' own transcoder: the library's JSON form, written by orjson.

`StoreTranscoder` is eventsourcing's `JSONTranscoder` with a faster encoder. The registrations, the tagged form of a
registered type (`{"_type_": name, "_data_": data}`), the compact separators, UTF-8 without escapes and the decoder
are the library's. The encoder first walks the state in Python: what JSON has a type for passes as it is, a registered
type becomes its tagged form (a datetime keeps its object, which orjson formats as `isoformat` does), and orjson
writes the whole in C. The library's encoder calls back into Python for each registered value and formats each
datetime in Python: a clock's flag event took 10 µs there, 2 µs here.

What orjson would write differently (a float that is not finite or has an exponent, an integer beyond 64 bits, a
key that is not a string, a dictionary subclass, a cycle, a type registered nowhere) is left to the library's
encoder: the same bytes, or the same error, as before.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Transcoding

TRANSCODER_TOPIC = "services.common.transcoder:StoreTranscoder"
"""The eventsourcing environment's `TRANSCODER_TOPIC` of every service's store."""


_PLAIN = frozenset({str, int, bool, type(None)})
"""The types orjson writes as the library's encoder does, whatever their value (but integers beyond 64 bits, which
orjson refuses: the library's encoder then writes them)."""


class _LibraryEncodes(Exception):  # noqa: N818 -- not an error: a value the library's encoder writes
    """A value orjson would not write as the library's encoder does."""


class StoreTranscoder(JSONTranscoder):
    """The library's JSON transcoder, encoding through orjson (see the module)."""

    def __init__(self) -> None:
        super().__init__()
        self._datetimes_iso = False
        """Datetimes are registered as the library's ISO transcoding: orjson formats them, in the tag."""

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._datetimes_iso = type(self.types.get(datetime)) is DatetimeAsISO

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._tagged(obj))
        except (_LibraryEncodes, orjson.JSONEncodeError, RecursionError):
            return super().encode(obj)

    def _tagged(self, o: Any) -> Any:
        """`o` with each registered value in its tagged form, as the library's encoder would see it through its
        `default` hook; only JSON's own types remain (and datetimes, inside their tags)."""
        kind = type(o)
        if kind in _PLAIN:
            return o
        if kind is dict:
            tagged = {}
            for key, value in o.items():  # JSON's own values are taken as they are, without a call each
                if type(key) is not str:
                    raise _LibraryEncodes
                tagged[key] = value if type(value) in _PLAIN else self._tagged(value)
            return tagged
        if kind is list or kind is tuple:
            return [value if type(value) in _PLAIN else self._tagged(value) for value in o]
        if kind is float:
            if not math.isfinite(o) or "e" in repr(o):  # orjson spells exponents otherwise (1e-05: 0.00001)
                raise _LibraryEncodes
            return o
        if kind is datetime and self._datetimes_iso and (o.tzinfo is None or o.tzinfo is UTC):
            return {"_type_": DatetimeAsISO.name, "_data_": o}
        return self._other(o)

    def _other(self, o: Any) -> Any:
        """A subclass of JSON's types, which the library's encoder writes as its base type (a `StrEnum` as its
        string: no registration applies), or a registered type."""
        if isinstance(o, str):
            return str.__str__(o)
        if isinstance(o, int):
            return int.__int__(o)
        if isinstance(o, float):
            return self._tagged(float.__float__(o))
        if isinstance(o, list | tuple):
            return [self._tagged(value) for value in o]
        transcoding = None if isinstance(o, dict) else self.types.get(type(o))
        if transcoding is None:
            raise _LibraryEncodes
        return {"_type_": transcoding.name, "_data_": self._tagged(transcoding.encode(o))}
