"""CloudEvents 1.0 envelope: the one shape every integration event takes on Kafka and on webhooks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.declared import names_declared_by, shown_key, shown_location

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
EVENT_ID_NAMESPACE = uuid.UUID("6d2c8a4e-5f0b-4f43-9d1e-0c7d1f3a9b21")
HEADER_PREFIX = "ce_"
_EXTENSIONS = ("correlationid", "causationid", "traceparent")
MAX_DEPTH = 64
"""Nesting a record value may have (the contracts' payloads have a few levels): deeper is refused before any code
that recurses over it (validation, serialisation) can run out of stack."""


class EnvelopeError(ValueError):
    """A Kafka record or a JSON document is not a valid CloudEvent."""


def event_id(originator_id: uuid.UUID | str, originator_version: int) -> str:
    """Deterministic event id: the same stored event always gets the same id, so consumers deduplicate."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{originator_id}:{originator_version}"))


def derived_id(*parts: str) -> str:
    """Deterministic id for something caused by other things (an upstream event id and a target, say)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "|".join(parts)))


def event_type(context: str, name: str, major: int = 1) -> str:
    """`ca.qc.rls.<context>.<event>.v<n>`, the versioned type of an integration event."""
    return f"ca.qc.rls.{context}.{name}.v{major}"


def schema_uri(type_: str) -> str:
    """The `dataschema` of an event type: the JSON Schema committed under `schemas/events/`."""
    return f"urn:ca.qc.rls:schema:{type_}"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event with the platform's extension attributes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    specversion: str = SPEC_VERSION
    time: datetime
    subject: str | None = None
    dataschema: str | None = None
    datacontenttype: str = CONTENT_TYPE
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def to_kafka(self) -> tuple[list[tuple[str, bytes]], bytes]:
        """Binary content mode: attributes as `ce_*` headers, data as the record value."""
        attributes = self.model_dump(mode="json", exclude={"data", "datacontenttype"}, exclude_none=True)
        headers = [(HEADER_PREFIX + name, str(value).encode()) for name, value in attributes.items()]
        headers.append(("content-type", self.datacontenttype.encode()))
        return headers, json.dumps(self.data, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_kafka(cls, headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None) -> CloudEvent:
        """Parses a binary-mode record; raises EnvelopeError naming what is wrong (and nothing else, whatever the
        record holds: a consumer dead-letters it rather than crash on it). The message quotes no header value and
        no header name but the envelope's own: a consumer logs it and puts it on the dead letter."""
        attributes: dict[str, Any] = {}
        for name, raw in headers or []:
            if not isinstance(name, str):
                raise EnvelopeError("a header name is not text")
            if name.startswith(HEADER_PREFIX):
                attributes[name[len(HEADER_PREFIX) :]] = _header_text(name, raw)
            elif name == "content-type":
                attributes["datacontenttype"] = _header_text(name, raw)
        try:
            data = json.loads(value or b"null")
        except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, too many digits, nesting
            raise EnvelopeError(f"record value is not JSON ({type(error).__name__})") from None
        if not isinstance(data, dict):
            raise EnvelopeError("record value must be a JSON object")
        if _depth(data) > MAX_DEPTH:
            raise EnvelopeError(f"record value nested deeper than {MAX_DEPTH} levels")
        return cls._validated({**attributes, "data": data})

    def to_structured(self) -> bytes:
        """Structured content mode (webhooks): the whole event as one JSON document."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def _validated(cls, document: dict[str, Any]) -> CloudEvent:
        try:
            event = cls.model_validate(document)
        except ValidationError as error:
            fields = ", ".join(
                shown_location(tuple(e["loc"]), e["type"], _ATTRIBUTES) or "event" for e in error.errors()
            )
            raise EnvelopeError(f"invalid CloudEvent attributes: {fields}") from None
        if event.specversion != SPEC_VERSION:
            raise EnvelopeError(f"unsupported specversion (not {SPEC_VERSION})")
        return event


_ATTRIBUTES = names_declared_by(CloudEvent)
"""The attributes a CloudEvent declares: the only header names (after `ce_`) an envelope error quotes."""


def _header_text(name: str, raw: object) -> str:
    """A CloudEvents header's value as text (Kafka allows a header without value, and any bytes)."""
    if raw is None:
        raise EnvelopeError(f"header {_shown(name)} has no value")
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EnvelopeError(f"header {_shown(name)} is not bytes")
    try:
        return bytes(raw).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise EnvelopeError(f"header {_shown(name)} is not UTF-8") from None


def _shown(name: str) -> str:
    """A header's name as an error quotes it: `content-type` and the envelope's attributes as they are, another
    `ce_` header as `ce_<key>` (its name is the producer's text, maybe personal)."""
    return name if name == "content-type" else HEADER_PREFIX + shown_key(name[len(HEADER_PREFIX) :], _ATTRIBUTES)


def _depth(document: object) -> int:
    """How deep a parsed JSON document nests (iteratively: the check must not recurse itself)."""
    deepest, pending = 0, [(document, 1)] if isinstance(document, dict | list) else []
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
