"""Forms: what the user typed (kept when a form comes back), and the API's problem document shown field by field."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from services.console.catalogue import TEXTS
from services.console.gateway import ApiProblemError
from services.console.i18n import Translator

VERSION = re.compile(r"[0-9]{1,18}")
"""A referral's version as its page renders it (sent on as `If-Match`)."""
FORM_KEY = re.compile(r"[0-9a-f-]{36}")
"""The key a form is rendered with, a UUID (sent on as `Idempotency-Key`)."""


class FormValueError(Exception):
    """A posted value the console cannot send on (not a date, or not the version or key its page rendered): a 422
    page naming the field, never the value (it may be anything the user typed)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"invalid form field {field}")
        self.field = field


def field_name(api_field: str) -> str:
    """`categories.0` → `categories`: list positions name the list's field in the form."""
    return ".".join(part for part in api_field.split(".") if not part.isdigit())


def message(t: Translator, error: dict[str, Any], field: str = "") -> str:
    """The error in the user's language: the field's own message for its type (`invalid.<field>.<type>`: a service's
    own check, say), else the type's, else a general one (in English only, with the service's message quoted: a French
    user never reads a service's English text)."""
    for key in (f"invalid.{field}.{error.get('type')}", f"invalid.{error.get('type')}"):
        if key in TEXTS:
            return t.t(key)
    return t.t("invalid.default", message=str(error.get("message", ""))[:200])


def problem_message(t: Translator, problem: ApiProblemError) -> str:
    """A service's refusal in the user's language: the catalogue's text for its type (`problem.<slug>`), else for its
    HTTP status; the service's own words (`detail`, else `title`) only in the English texts that quote them."""
    status = "5xx" if problem.status >= 500 else str(problem.status)
    key = next(
        (k for k in (f"problem.{problem.slug}", f"problem.status.{status}") if k in TEXTS),
        "problem.default",
    )
    return t.t(key, detail=str(problem.detail or problem.title)[:200])


@dataclass
class FormErrors:
    """Messages per form field (form fields are named like the API's fields), or one for the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    general: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    @classmethod
    def of(cls, problem: ApiProblemError, t: Translator) -> FormErrors:
        fields: dict[str, str] = {}
        for api_field, error in problem.field_errors().items():
            name = field_name(api_field)
            fields.setdefault(name, message(t, error, name))
        return cls(fields, None if fields else problem_message(t, problem))


def form_values(form: FormData, multi: Iterable[str] = ()) -> dict[str, Any]:
    """The submitted values (stripped), lists for the fields that are lists; the CSRF token left out."""
    lists = set(multi)
    values: dict[str, Any] = {}
    for key in form:
        if key == "csrf":
            continue
        if key in lists:
            values[key] = [str(v) for v in form.getlist(key)]
        else:
            values[key] = str(form.get(key, "")).strip()
    return values


def rendered_value(form: FormData, name: str, pattern: re.Pattern[str]) -> str:
    """A value the console put in the form itself, as it rendered it (headers carry it: ASCII only)."""
    value = str(form.get(name, ""))
    if pattern.fullmatch(value) is None:
        raise FormValueError(name)
    return value


def idempotency(form: FormData) -> dict[str, str]:
    """The key the form was rendered with: a double click records one referral or consent, not two."""
    return {"Idempotency-Key": rendered_value(form, "form_key", FORM_KEY)}
