"""Payloads of the audit context's integration events (`rls.audit.checkpoints.v1`).

Every service's event store seals each stored event with chained hashes (`services.common.integrity`); the process
publishing a service's outbox also publishes, periodically, the head of that chain. A store rewritten and re-sealed
after a checkpoint no longer matches it, which `rls audit verify` reports. Checkpoints carry hashes and positions
only: nothing about any person.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.contract.base import EventData


class IntegrityCheckpointV1(EventData):
    """The chain head of one service's event store at a moment."""

    application: str
    """The event-sourced application whose store this is (`referrals`, `agreements`, `consents`, ...)."""
    store_id: str
    """Random id of the store, fixed when its seal tables were created (the chain starts from it)."""
    notification_id: int = Field(ge=1)
    """Position of the last sealed event."""
    chain_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    """SHA-256 chain seal of that event (hex)."""
    sealed_events: int = Field(ge=0)
    occurred_at: datetime


EVENTS = {
    "ca.qc.rls.audit.checkpoint.v1": IntegrityCheckpointV1,
}
