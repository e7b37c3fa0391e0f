"""Where a document failed validation, named without what its writer wrote: a 422 problem's `field`, a dead letter's
reason.

A pydantic error's location (`loc`) is made of the document's keys. Most are names a model declares, but a mapping's
key or an unknown member is the writer's own text, and it may be personal (a name, a health insurance number): such a
segment is shown as `UNDECLARED_KEY`. The REST problems (`problems.py`) and the consumers' dead-letter reasons
(`consumer.py`, the standards board) show locations through this one module.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

UNDECLARED_KEY = "<key>"
"""What a location shows in place of a key the writer wrote and the models do not declare: a mapping's key, an
unknown or a duplicated member. Declared field names (and aliases), enum members, literals and list indexes are
shown as they are."""

_KEY_MARK = "[key]"  # pydantic's last segment when a mapping's key itself is invalid


def names_declared_by(*annotations: Any) -> frozenset[str]:
    """The names the annotations declare, at any depth: the fields (and aliases) of their models, the values of their
    enums and literals."""
    names: set[str] = set()
    seen: set[int] = set()
    for annotation in annotations:
        _names_in(annotation, names, seen)
    return frozenset(names)


def _names_in(annotation: Any, names: set[str], seen: set[int]) -> None:
    if id(annotation) in seen:  # a model that contains itself, or one read twice
        return
    seen.add(id(annotation))
    if get_origin(annotation) is Literal:
        names.update(str(value) for value in get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            aliases = (field.alias, field.validation_alias, field.serialization_alias)
            names.update([name, *(alias for alias in aliases if isinstance(alias, str))])
            _names_in(field.annotation, names, seen)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        names.update(str(member.value) for member in annotation)
    else:  # list[X], dict[K, V], X | None, Annotated[X, ...]
        for argument in get_args(annotation):
            _names_in(argument, names, seen)


def shown_key(key: str, declared: frozenset[str]) -> str:
    """A key the writer wrote, as an error may name it: itself if declared, else `UNDECLARED_KEY`."""
    return key if key in declared else UNDECLARED_KEY


def shown_location(loc: tuple[Any, ...], kind: str, declared: frozenset[str]) -> str:
    """A validation error's location (of error type `kind`), dotted: list indexes and declared names as they are, any
    other segment (a mapping's key, an unknown member) as `UNDECLARED_KEY`."""
    shown = []
    for at, part in enumerate(loc):
        if isinstance(part, int) or part == _KEY_MARK:
            shown.append(str(part))
        elif loc[at + 1 : at + 2] == (_KEY_MARK,) or (kind == "extra_forbidden" and at == len(loc) - 1):
            shown.append(UNDECLARED_KEY)  # the key was refused: whatever it is, it is not a declared name
        else:
            shown.append(shown_key(str(part), declared))
    return ".".join(shown)


def invalid_data(error: ValidationError, declared: frozenset[str]) -> str:
    """Why a record's data was refused, as a dead letter says it: each location (`shown_location`) and rule, never a
    value."""
    fields = (f"{shown_location(tuple(e['loc']), e['type'], declared)} ({e['type']})" for e in error.errors())
    return f"invalid data: {', '.join(fields)}"
