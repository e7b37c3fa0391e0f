"""What the referral service needs from the other services, as ports (HTTP adapters in adapters.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class DependencyUnavailableError(Exception):
    """Another service (agreements, consent) did not answer; the request can be retried."""


class TargetUnknownError(Exception):
    """The directory does not know the target organisation."""


@dataclass(frozen=True)
class Coverage:
    """The agreement in force for a referral, if any, and whether the target provides the service on the
    referring institution's behalf under it (art. 108: then its clause carries information without consent)."""

    agreement_id: str | None
    kind: str | None
    on_behalf: bool = False


class Directory(Protocol):
    """The agreements service, seen by the referral service."""

    def offers(self, org_id: str, service: str) -> bool:
        """Whether the organisation offers the service; raises TargetUnknownError for an unknown organisation."""

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage: ...


@dataclass(frozen=True)
class DisclosureRequest:
    subject_id: str
    discloser_org_id: str
    recipient_org_id: str
    purpose: str
    categories: list[str]
    at: datetime
    lang: str | None = None
    recipient_service: str | None = None


@dataclass(frozen=True)
class DisclosureDecision:
    """The consent service's answer (a register entry exists when anything was permitted)."""

    decision_id: str
    outcome: str
    permitted_categories: list[str]
    denied_categories: list[str]
    basis: list[dict[str, Any]] = field(default_factory=list)
    obligations: list[str] = field(default_factory=list)
    explanation: str = ""
    register_entry_id: str | None = None


class DisclosureGate(Protocol):
    """The consent service: decides, and registers what it permits."""

    def disclose(self, request: DisclosureRequest) -> DisclosureDecision: ...
