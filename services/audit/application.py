"""Audit: the auditors' own record (what was looked at, by whom)."""

from __future__ import annotations

from services.common.eventstore import TrackedApplication


class Audit(TrackedApplication):
    name = "audit"
