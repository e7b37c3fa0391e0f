"""The committed contract: stale schemas and breaking event changes are caught; every event has a topic."""

from __future__ import annotations

from pathlib import Path

from services.consent.rules import CURRENT
from services.contract.events import EVENT_TYPES
from services.runtime.schemas import asyncapi, breaking_changes, readme_with_blocks

OLD = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}


def test_removed_retyped_and_newly_required_fields_are_breaking() -> None:
    assert breaking_changes(OLD, OLD) == []
    assert breaking_changes(OLD, {**OLD, "properties": {**OLD["properties"], "c": {"type": "string"}}}) == []
    assert breaking_changes(OLD, {"properties": {"a": {"type": "string"}}, "required": ["a"]}) == ["b: removed"]
    retyped = {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert breaking_changes(OLD, retyped) == ["a: type changed"]
    assert breaking_changes(OLD, {**OLD, "required": ["a", "b"]}) == ["b: newly required"]


def test_every_event_type_travels_on_a_documented_topic() -> None:
    document = asyncapi()
    carried = {ref for channel in document["channels"].values() for ref in channel["messages"]}
    assert {t.replace(".", "-") for t in EVENT_TYPES} <= carried
    assert document["channels"]["rls-org-org-referrals-v1"]["parameters"]["org_id"]


def test_the_readme_law_table_is_the_rule_tables_and_a_hand_edit_is_caught() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert readme_with_blocks(readme) == readme, "run `rls schemas export`"
    for table in CURRENT.values():
        for route in table.routes:
            assert f"| {route.id} | {route.article}" in readme
            assert route.status.value in readme
    edited = readme.replace("| A-1 | LSSSS art. 19 | any ", "| A-1 | LSSSS art. 19 | institutions ")
    assert edited != readme and readme_with_blocks(edited) == readme
