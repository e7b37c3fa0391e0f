"""Base of every integration event payload."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EventData(BaseModel):
    """Payloads refuse unknown fields: what partners receive is exactly what the schema says."""

    model_config = ConfigDict(extra="forbid", frozen=True)
