"""The shared `SubjectId`: a pseudonymous id, never shaped like a health insurance number (NAM), whatever its case
and separators; the near misses synthetic ids are made of stay accepted."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.contract.subject import NAM_ERROR_TYPE, NAM_PATTERN, SUBJECT_ID_PATTERN, SubjectId, is_nam_shaped

SUBJECT_ID: TypeAdapter[str] = TypeAdapter(SubjectId)

NAM_SHAPED = [
    "TREJ55123112",  # a man born 1955-12-31
    "TREJ55623112",  # a woman born the same day (62: December + 50)
    "trej55123112",  # lowercase
    "TrEj55123112",
    "TREJ-5512-3112",  # as printed on the card
    "trej.5512.3112",
    "TREJ_55_12_31_12",
    "T:R:E:J:5:5:1:2:3:1:1:2",
    "TREJ55123112-",
    "BOUM85010101",  # January 1st
    "BOUM85510101",  # January 1st, a woman (51)
    "ABCD00123199",  # day 31
    "ABCD00511099",  # day 10
    "ABCD99092099",  # day 20
]

NEAR_MISSES = [
    "subj00001234",  # month 00
    "ABCD00130101",  # month 13
    "ABCD00500101",  # month 50
    "ABCD00630101",  # month 63
    "ABCD00010001",  # day 00
    "ABCD00013201",  # day 32
    "ABC000010101",  # 3 letters
    "ABCDE0010101",  # 5 letters, 7 digits
    "XTREJ55123112",  # 5 letters
    "TREJ5512311",  # 7 digits
    "TREJ551231123",  # 9 digits
    "TREJ55123112X",  # a letter after
    "1REJ55123112",  # a digit among the letters
    "S-0001",
    "S-00012345",
    "usager-0001",
    "BENCH-000123",
    "S-E2E-0001",
]


@pytest.mark.parametrize("value", NAM_SHAPED)
def test_a_value_shaped_like_a_nam_is_refused_without_being_echoed(value: str) -> None:
    assert is_nam_shaped(value)
    with pytest.raises(ValidationError) as refused:
        SUBJECT_ID.validate_python(value)
    [error] = refused.value.errors(include_input=False)
    assert error["type"] == NAM_ERROR_TYPE
    assert error["msg"] == "must be a pseudonymous id, not a health insurance number (NAM)"
    assert value not in str(refused.value.errors(include_input=False, include_url=False))


@pytest.mark.parametrize("value", NEAR_MISSES)
def test_a_near_miss_is_accepted(value: str) -> None:
    assert not is_nam_shaped(value)
    assert SUBJECT_ID.validate_python(value) == value


def test_the_pattern_still_applies_first() -> None:
    for value in ("", "-S-1", "S 1", "S/1", "x" * 129, "TREJ 5512 3112"):
        with pytest.raises(ValidationError) as refused:
            SUBJECT_ID.validate_python(value)
        assert refused.value.errors()[0]["type"] == "string_pattern_mismatch"


def _reference(value: str) -> bool:
    """The rule as written: separators left out, 4 letters, YYMMDD with a plausible month and day, 2 digits."""
    match = re.fullmatch(r"([A-Za-z]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})", re.sub(r"[-._:]", "", value))
    if match is None:
        return False
    month, day = int(match[3]), int(match[4])
    return (1 <= month <= 12 or 51 <= month <= 62) and 1 <= day <= 31


_SEPARATORS = st.text(alphabet="-._:", max_size=2)


@st.composite
def _written(draw: st.DrawFn) -> str:
    """4 letters and 8 digits (any month, any day), separators anywhere, sometimes a character more or less."""
    letters = draw(st.text(alphabet="ABCXYZtrej", min_size=3, max_size=5))
    digits = draw(st.text(alphabet="0123456789", min_size=7, max_size=9))
    return "".join(c + draw(_SEPARATORS) for c in letters + digits)


@given(_written())
def test_the_pattern_is_the_rule_as_written(value: str) -> None:
    assert is_nam_shaped(value) == _reference(value)


@given(
    st.from_regex(r"[A-Za-z]{4}", fullmatch=True),
    st.integers(0, 99),
    st.sampled_from([*range(1, 13), *range(51, 63)]),
    st.integers(1, 31),
    st.integers(0, 99),
)
def test_every_plausible_nam_is_refused(letters: str, year: int, month: int, day: int, tail: int) -> None:
    assert is_nam_shaped(f"{letters}{year:02d}{month:02d}{day:02d}{tail:02d}")


def test_the_json_schema_states_the_refusal() -> None:
    schema = SUBJECT_ID.json_schema()
    assert schema["pattern"] == SUBJECT_ID_PATTERN
    assert schema["not"] == {"pattern": NAM_PATTERN}
