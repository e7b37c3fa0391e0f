"""`If-Match` (RFC 9110 section 13.1.1) as every service reads it: the ETag is the aggregate's version number."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from services.common.problems import invalid_field

IF_MATCH_PATTERN = r'^(W/)?"?[0-9]{1,18}"?$'
_VERSION = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')

IfMatch = Annotated[
    str | None,
    Header(pattern=IF_MATCH_PATTERN, description='The version (ETag) the change is based on: `3`, `"3"` or `W/"3"`'),
]
"""The `If-Match` header as every service declares it (the OpenAPI states exactly what is accepted)."""


def if_match_version(value: str | None, meaning: str) -> int | None:
    """`3`, `"3"` or `W/"3"` → 3; None when absent; anything else → a 422 naming `If-Match`, saying `meaning`."""
    if value is None:
        return None
    match = _VERSION.fullmatch(value.strip())
    if match is None:
        raise invalid_field("If-Match", meaning)
    return int(match.group(1))
