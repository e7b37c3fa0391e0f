"""Every environment variable a service reads, straight from its settings class (nothing listed by hand)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from services.common.settings import StoreLocation
from services.runtime.registry import AUDIT, SERVICES, settings_class


@dataclass(frozen=True)
class Setting:
    """One variable a service reads: its name, the field behind it, its default and whether it holds a secret."""

    env: str
    field: str
    default: Any
    secret: bool

    @property
    def has_default(self) -> bool:
        return self.default is not None


def _env_name(prefix: str, name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return f"{prefix}{name}".upper()


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in getattr(field.annotation, "__args__", ()) or field.annotation is SecretStr


def _default(field: FieldInfo) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]  # settings factories take no argument
    return None


def _declared(service: str) -> tuple[Setting, ...]:
    cls = settings_class(service)
    prefix = str(cls.model_config.get("env_prefix", ""))
    return tuple(
        Setting(_env_name(prefix, name, field), name, _default(field), _is_secret(field))
        for name, field in cls.model_fields.items()
    )


def _store_settings(service: str) -> tuple[Setting, ...]:
    """The variables another process reads to find `service`'s event store (`StoreLocation.of`)."""
    return tuple(s for s in _declared(service) if s.field in StoreLocation.VARIABLES)


def service_settings(service: str) -> tuple[Setting, ...]:
    """The variables `service` reads, in the order its settings class declares them; the audit service also reads
    every other service's store variables, under that service's names (the registry's store sources)."""
    others = [_store_settings(name) for name in SERVICES if service == AUDIT and name != AUDIT]
    return _declared(service) + tuple(s for group in others for s in group)


def env_text(value: Any) -> str:
    """A value as the settings classes parse it back from the environment (JSON for collections)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date | Path | int | float | str):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, frozenset | set):
        return ",".join(sorted(str(item) for item in value))  # comma-separated lists (NoDecode fields)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, separators=(",", ":"))
    raise TypeError(f"no environment form for {type(value).__name__}")
