"""`If-Match` (RFC 9110 section 13.1.1) as every service reads it: the ETag is the aggregate's version number."""

from __future__ import annotations

import re

from services.common.problems import invalid_field

_VERSION = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def if_match_version(value: str | None, meaning: str) -> int | None:
    """`3`, `"3"` or `W/"3"` → 3; None when absent; anything else → a 422 naming `If-Match`, saying `meaning`."""
    if value is None:
        return None
    match = _VERSION.fullmatch(value.strip())
    if match is None:
        raise invalid_field("If-Match", meaning)
    return int(match.group(1))
