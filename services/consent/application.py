"""Consents: the only write path of the consent service."""

from __future__ import annotations

from services.common.eventstore import TrackedApplication


class Consents(TrackedApplication):
    name = "consents"
