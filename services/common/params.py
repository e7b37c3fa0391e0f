"""Request value types whose OpenAPI schema states exactly what validation accepts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?[0-9.eE+-]+\s*")


def _iso_text(value: Any) -> Any:
    """pydantic reads numbers (and numeric strings) as Unix times; the contract says ISO 8601 text."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date-time")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
"""An ISO 8601 date-time with an offset (`format: date-time`)."""

LocalInstant = Annotated[datetime, BeforeValidator(_iso_text)]
"""An ISO 8601 date-time, the offset optional (the service's zone applies without one)."""
