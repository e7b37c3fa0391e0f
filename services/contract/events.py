"""Integration event payloads (the `data` of CloudEvents), by type and version.

Each context declares its payload models in `<context>_events.py`; they generate `schemas/events/<type>.json`.
Changes must stay backward compatible: no removed or retyped field, no new required field (`rls schemas check`
compares the generated schemas with the committed ones). Record information never appears in a payload:
only ids, codes, statuses and times.
"""

from __future__ import annotations

from services.contract import (
    agreements_events,
    audit_events,
    consent_events,
    infosocial_events,
    referral_events,
    standards_events,
)
from services.contract.base import EventData

EVENT_TYPES: dict[str, type[EventData]] = {
    **referral_events.EVENTS,
    **agreements_events.EVENTS,
    **consent_events.EVENTS,
    **audit_events.EVENTS,
    **infosocial_events.EVENTS,
    **standards_events.EVENTS,
}
"""Every integration event type the platform publishes, with its payload model."""
