"""The public contract in `schemas/`: JSON Schema of every integration event and each service's OpenAPI."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from services.common.envelope import schema_uri
from services.contract.events import EVENT_TYPES
from services.runtime.registry import SERVICES, app_builder, settings_class

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


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


def generate() -> dict[str, dict[str, Any]]:
    return {**event_schemas(), **openapi_documents()}


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
    """Stale or incompatible committed schemas (empty when `schemas/` matches the code)."""
    problems = []
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
    return []
