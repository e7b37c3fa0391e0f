"""Forms: what the user typed (kept when a form comes back), and the API's problem document shown field by field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from services.console.catalogue import TEXTS
from services.console.gateway import ApiProblemError
from services.console.i18n import Translator


def field_name(api_field: str) -> str:
    """`categories.0` → `categories`: list positions name the list's field in the form."""
    return ".".join(part for part in api_field.split(".") if not part.isdigit())


def message(t: Translator, error: dict[str, Any]) -> str:
    key = f"invalid.{error.get('type')}"
    if key in TEXTS:
        return t.t(key)
    return t.t("invalid.default", message=str(error.get("message", ""))[:200])


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
            fields.setdefault(field_name(api_field), message(t, error))
        return cls(fields, None if fields else problem.detail or problem.title)


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
