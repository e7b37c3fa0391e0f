"""The committed contract: stale schemas and breaking event changes are caught; every event has a topic."""

from __future__ import annotations

from services.contract.events import EVENT_TYPES
from services.runtime.schemas import asyncapi, breaking_changes

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
