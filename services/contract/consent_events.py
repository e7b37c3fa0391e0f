"""Payloads of the consent context's integration events."""

from __future__ import annotations

from services.contract.base import EventData

EVENTS: dict[str, type[EventData]] = {}
