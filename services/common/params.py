"""Request value types whose OpenAPI schema states exactly what validation accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?[0-9.eE+-]+\s*")


def _iso_text(value: Any) -> Any:
    """pydantic reads numbers (and numeric strings) as Unix times; the contract says ISO 8601 text."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date-time")
    return value


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: Any) -> Any:
    """pydantic reads numbers (and numeric strings) as days since 1970; the contract says ISO 8601 dates."""
    if isinstance(value, date) or (isinstance(value, str) and _DAY.fullmatch(value)):
        return value
    raise ValueError("expected an ISO 8601 date (YYYY-MM-DD)")


Day = Annotated[date, BeforeValidator(_iso_day)]
"""An ISO 8601 calendar date (`format: date`)."""

Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
"""An ISO 8601 date-time with an offset (`format: date-time`)."""

YEARS = (2, 9998)
"""The years a date or an instant may fall in where a service computes days or months around it (a day before and
after it, in any zone: the board's default window around `to=0001-01-05T00:00:00Z` was a 500; 9999-12-31 has no next
day for an end given as a date)."""

D = TypeVar("D", bound=date)


def _year(value: date, zone: tzinfo | None) -> int | None:
    """The year of a date, or of an instant as written or else in `zone` (one without an offset is already that zone's
    time); None: beyond the years a date-time can hold in `zone` (0001-01-01T00:00:00+14:00 is before year 1 there)."""
    if zone is None or not isinstance(value, datetime) or value.tzinfo is None:
        return value.year
    try:
        return value.astimezone(zone).year
    except OverflowError:
        return None


def within_years(zone: tzinfo | None = None, where: str = "") -> Callable[[D], D]:
    """The check of a date or an instant in the years `YEARS` (an instant's year as written, or in `zone` when given,
    which `where` names in the message), made before anything converts it (near year 1 or 9999 it may not be)."""
    message = f"expected a year from {YEARS[0]} to {YEARS[1]}{where}"

    def check(value: D) -> D:
        year = _year(value, zone)
        if year is None or not YEARS[0] <= year <= YEARS[1]:
            raise ValueError(message)
        return value

    return check


BoundedInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(within_years())]
"""An `Instant` in the years `YEARS`."""

LocalInstant = Annotated[datetime, BeforeValidator(_iso_text)]
"""An ISO 8601 date-time, the offset optional (the service's zone applies without one)."""
