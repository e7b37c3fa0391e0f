"""One check of the years a date or an instant may fall in (`services.common.params.within_years`): the standards
board's instants as written, the consent service's in Québec time."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.common.params import YEARS, within_years

QUEBEC = ZoneInfo("America/Toronto")
AS_WRITTEN, IN_QUEBEC = within_years(), within_years(QUEBEC, " (in Québec time)")


@pytest.mark.parametrize(
    ("value", "as_written", "in_quebec"),
    [
        (date(YEARS[0], 1, 1), True, True),
        (date(YEARS[1], 12, 31), True, True),
        (date(YEARS[1] + 1, 1, 1), False, False),
        (datetime.fromisoformat("9998-12-31T23:00:00-12:00"), True, False),  # 9999-01-01 in Québec
        (datetime.fromisoformat("0002-01-01T00:00:00+14:00"), True, False),  # 0001-12-31 in Québec
        (datetime.fromisoformat("0001-01-01T00:00:00+14:00"), False, False),  # before year 1 in Québec: no year
        (datetime.fromisoformat("9999-12-31T23:00:00"), False, False),  # no offset: already Québec time
        (datetime.fromisoformat("9998-12-31T23:00:00"), True, True),
    ],
)
def test_a_year_is_read_as_written_or_in_the_zone_given(value: date, as_written: bool, in_quebec: bool) -> None:
    for check, within in ((AS_WRITTEN, as_written), (IN_QUEBEC, in_quebec)):
        if within:
            assert check(value) == value
        else:
            with pytest.raises(ValueError, match=r"^expected a year from 2 to 9998"):
                check(value)


def test_the_message_names_the_zone_it_reads_years_in() -> None:
    with pytest.raises(ValueError, match=r"^expected a year from 2 to 9998$"):
        AS_WRITTEN(date(1, 6, 1))
    with pytest.raises(ValueError, match=r"^expected a year from 2 to 9998 \(in Québec time\)$"):
        IN_QUEBEC(date(1, 6, 1))
