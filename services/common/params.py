"""Request value types whose OpenAPI schema states exactly what validation accepts."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

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
"""The years an instant may fall in where a service computes days or months around it (a day before and after it,
in any zone: the board's default window around `to=0001-01-05T00:00:00Z` was a 500)."""


def _ordinary_year(value: datetime) -> datetime:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"expected a year from {YEARS[0]} to {YEARS[1]}")
    return value


BoundedInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_ordinary_year)]
"""An `Instant` in the years `YEARS`."""

LocalInstant = Annotated[datetime, BeforeValidator(_iso_text)]
"""An ISO 8601 date-time, the offset optional (the service's zone applies without one)."""
