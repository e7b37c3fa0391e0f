"""The public contract in `schemas/`: JSON Schema of every integration event, AsyncAPI of the topics, OpenAPIs."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.common.envelope import schema_uri
from services.consent.law_table import markdown as law_table
from services.consent.rules import CURRENT, CURRENT_VERSION
from services.contract import topics
from services.contract.events import EVENT_TYPES
from services.runtime.registry import SERVICES, app_builder, settings_class

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

README_BLOCKS: dict[str, Callable[[], str]] = {
    "law-table": lambda: law_table(CURRENT.values(), {r.value: v for r, v in CURRENT_VERSION.items()}),
}
"""Parts of README.md written from the code, between `<!-- name:begin -->` and `<!-- name:end -->`."""


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)", re.S)


def readme_with_blocks(text: str) -> str:
    """README.md with every generated block as the code writes it today."""
    for name, render in README_BLOCKS.items():
        block = render()
        text = _block(name).sub(lambda m: m.group(1) + block + m.group(3), text)  # noqa: B023 -- used at once
    return text


def event_schemas() -> dict[str, dict[str, Any]]:
    documents = {}
    for type_, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema()
        documents[f"events/{type_}.json"] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_uri(type_),
            **schema,
        }
    return documents


def openapi_documents() -> dict[str, dict[str, Any]]:
    documents = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in SERVICES:
            settings = settings_class(name)(
                event_store="memory://",
                relay_enabled=False,
                consumers_enabled=False,
                dev_key_file=Path(scratch) / "key",
                var_dir=Path(scratch),
            )
            documents[f"openapi/{name}.json"] = app_builder(name)(settings).openapi()
    return documents


CHANNELS: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    (
        topics.REFERRAL,
        "Every referral event (ids, codes, statuses, times; never record information).",
        lambda t: t.startswith("ca.qc.rls.referral."),
    ),
    (
        topics.ORG_NAMESPACE + topics.ORG_REFERRALS,
        "The referral events concerning one subscribing organisation, readable only by it.",
        lambda t: t.startswith("ca.qc.rls.referral."),
    ),
    (
        topics.AGREEMENTS,
        "Directory and agreement changes, each with the agreement's whole state.",
        lambda t: t.startswith("ca.qc.rls.agreements."),
    ),
    (
        topics.CONSENT_DECISIONS,
        "Every consent decision with the input and facts needed to re-evaluate it.",
        lambda t: t == "ca.qc.rls.consent.decided.v1",
    ),
    (
        topics.CONSENT,
        "Consents, restrictions and disclosures (internal to the consent service and audit).",
        lambda t: t.startswith("ca.qc.rls.consent.") and t != "ca.qc.rls.consent.decided.v1",
    ),
    (
        topics.INFOSOCIAL_CALLS,
        "Info-Social 8-1-1 calls reported by telephony systems (ids and times only), keyed by region.",
        lambda t: t.startswith("ca.qc.rls.infosocial."),
    ),
    (
        topics.STANDARDS_BOARD,
        "The standards board, one record per row keyed by the row (compacted; no value: the row is gone).",
        lambda t: t.startswith("ca.qc.rls.standards."),
    ),
    (
        topics.AUDIT_CHECKPOINTS,
        "Chain heads of every event store (tamper evidence).",
        lambda t: t.startswith("ca.qc.rls.audit."),
    ),
)
"""Which event types travel on which topic (each topic also has a `<topic>.dlq` twin for poison records)."""

BINARY_MODE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 binary content mode: attributes as ce_* headers, the payload as the value",
    "required": ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time"],
    "properties": {
        **{
            name: {"type": "string"}
            for name in (
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_specversion",
                "ce_time",
                "ce_subject",
                "ce_dataschema",
                "ce_correlationid",
                "ce_causationid",
                "content-type",
            )
        },
        "ce_traceparent": {
            "type": "string",
            "description": "Optional (CloudEvents distributed-tracing extension): the W3C trace context of the request "
            "that recorded the event; absent when it was not traced",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        },
    },
}


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3.0 description of the topics, the messages on each, and their payload schemas."""
    messages = {
        type_: {
            "name": type_,
            "contentType": "application/json",
            "headers": BINARY_MODE_HEADERS,
            "payload": {"$ref": f"events/{type_}.json"},
            "summary": (model.__doc__ or "").strip().split("\n")[0],
        }
        for type_, model in sorted(EVENT_TYPES.items())
    }
    channels = {}
    for address, description, carries in CHANNELS:
        key = address.replace(".", "-").replace("{org_id}", "org")
        channel: dict[str, Any] = {
            "address": address,
            "description": description,
            "messages": {t.replace(".", "-"): {"$ref": f"#/components/messages/{t}"} for t in messages if carries(t)},
        }
        if "{org_id}" in address:
            channel["parameters"] = {"org_id": {"description": "Organisation id (topic-safe)"}}
        channels[key] = channel
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "RLS Referrals events", "version": "1.0.0"},
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages},
    }


def generate() -> dict[str, dict[str, Any]]:
    return {**event_schemas(), **openapi_documents(), "asyncapi.json": asyncapi()}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """Backward-incompatible differences of an event schema: removed or retyped fields, new required fields."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"{where}{name}: removed")
        elif _type_of(spec) != _type_of(new_props[name]):
            problems.append(f"{where}{name}: type changed")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{where}{name}: newly required")
    return problems


def _type_of(spec: dict[str, Any]) -> Any:
    return spec.get("type") or spec.get("$ref") or [_type_of(s) for s in spec.get("anyOf", [])]


def check(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Stale or incompatible committed schemas (empty when `schemas/` matches the code), stale README blocks."""
    readme = directory.parent / "README.md"
    text = readme.read_text()
    problems = [f"README.md: no {name} block" for name in README_BLOCKS if not _block(name).search(text)]
    if readme_with_blocks(text) != text:
        problems.append("README.md: generated blocks stale (run `rls schemas export`)")
    for relative, document in generate().items():
        path = directory / relative
        if not path.exists():
            problems.append(f"{relative}: missing (run `rls schemas export`)")
            continue
        committed = json.loads(path.read_text())
        if relative.startswith("events/"):
            problems += breaking_changes(committed, document, where=f"{relative}: ")
        if render(committed) != render(document):
            problems.append(f"{relative}: stale (run `rls schemas export`)")
    return problems


def export(directory: Path = SCHEMAS_DIR, allow_breaking: bool = False) -> list[str]:
    """Writes every schema; refuses event schema changes that would break consumers."""
    documents = generate()
    if not allow_breaking:
        breaking = []
        for relative, document in documents.items():
            path = directory / relative
            if relative.startswith("events/") and path.exists():
                breaking += breaking_changes(json.loads(path.read_text()), document, where=f"{relative}: ")
        if breaking:
            return breaking
    for relative, document in documents.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(document))
    readme = directory.parent / "README.md"
    readme.write_text(readme_with_blocks(readme.read_text()))
    return []
