"""The person's pseudonymous id (`subject_id`), as every request takes it: one definition for every service.

Events and topics carry no directly identifying information, and `subject_id` goes unchanged into events, onto each
establishment's topic and into webhooks. So a value shaped like a Québec health insurance number (NAM: 3 letters of
the last name, 1 of the first, the birth date as YYMMDD with 50 added to the month for women, 2 digits) is refused
wherever a subject id comes in. Events already stored keep what they hold: only input is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

SUBJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
"""What a pseudonymous id is made of (it goes into URLs, query strings and keys: no spaces, no slashes)."""

_SEP = "[-._:]*"  # separators a NAM may be written with (TREJ-5512-3112, trej.551231.12) are ignored


def _digits(first: str, second: str) -> str:
    return f"{first}{_SEP}{second}{_SEP}"


NAM_PATTERN = (
    f"^(?:[A-Za-z]{_SEP}){{4}}"  # 3 letters of the last name, 1 of the first
    f"(?:[0-9]{_SEP}){{2}}"  # YY
    f"(?:{_digits('0', '[1-9]')}|{_digits('1', '[0-2]')}|{_digits('5', '[1-9]')}|{_digits('6', '[0-2]')})"  # MM, +50
    f"(?:{_digits('0', '[1-9]')}|{_digits('[12]', '[0-9]')}|{_digits('3', '[01]')})"  # DD
    f"(?:[0-9]{_SEP}){{2}}$"
)
"""A value shaped like a NAM once its separators are left out, in any case: 4 letters, then YYMMDD with a plausible
month (01–12, or 51–62) and day (01–31), then 2 digits. `subj00001234` (month 00) is not. The same text is the
OpenAPI schema's `not: {pattern}` (an ECMA-262 regular expression as much as a Python one)."""

_NAM = re.compile(NAM_PATTERN)

NAM_ERROR_TYPE = "subject_id_nam"
"""The validation error's type (`errors[].type` of the 422 problem): clients and the console key their message on it."""
NAM_ERROR_MESSAGE = "must be a pseudonymous id, not a health insurance number (NAM)"


def is_nam_shaped(value: str) -> bool:
    """Whether `value` is shaped like a health insurance number (NAM), separators `-._:` left out, in any case."""
    return _NAM.match(value) is not None


def _pseudonymous(value: str) -> str:
    if is_nam_shaped(value):
        # the message names the rule, never the value: the error is rendered into responses and may reach logs
        raise PydanticCustomError(NAM_ERROR_TYPE, NAM_ERROR_MESSAGE)
    return value


@dataclass(frozen=True)
class _NotNamSchema:
    """States the refusal in the JSON Schema (`not: {pattern}`): the OpenAPI says exactly what validation accepts."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["not"] = {"pattern": NAM_PATTERN}
        schema.setdefault("description", "Pseudonymous id of the person (never a health insurance number, NAM)")
        return schema


SubjectId = Annotated[
    str, StringConstraints(pattern=SUBJECT_ID_PATTERN), AfterValidator(_pseudonymous), _NotNamSchema()
]
"""A person's pseudonymous id: the pattern above, and never shaped like a NAM (a 422 naming `subject_id`, type
`subject_id_nam`, without the value). For request bodies and query parameters alike: `Annotated[SubjectId, Query()]`."""
