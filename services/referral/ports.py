"""What the referral application needs from outside, as ports: the other services (HTTP adapters in gateways.py)
and the vault keeping record information (vault.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Coverage:
    """The agreement in force for a referral, if any, and whether the target provides the service on the
    referring institution's behalf under it (art. 108: then its clause carries information without consent)."""

    agreement_id: str | None
    kind: str | None
    on_behalf: bool = False
    clause_categories: tuple[str, ...] | None = None
    """On the institution's behalf, the categories the clause carries; None: the agreements service did not say (one
    older than the field), so the clause is not known here."""


class Directory(Protocol):
    """The agreements service, seen by the referral service."""

    def offers(self, org_id: str, service: str) -> bool:
        """Whether the organisation offers the service; raises TargetUnknownError for an unknown organisation, and
        DependencyUnavailableError when the directory does not answer."""

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


@dataclass(frozen=True)
class Gateways:
    """The other services as one request reaches them (with the caller's token)."""

    directory: Directory
    disclosures: DisclosureGate


class InformationVault(Protocol):
    """Where record information is kept, encrypted, by referral and category; never in an event or on a topic."""

    def store(self, referral_id: str, subject_id: str, information: Mapping[str, str]) -> None:
        """Stores (or replaces, for an idempotent retry) a referral's information by category."""

    def categories(self, referral_id: str) -> list[str]:
        """The categories stored for a referral (an erased person's included: their ciphertexts stay)."""

    def readable(self, referral_id: str) -> list[str]:
        """The categories stored for a referral that can still be read (their person was not erased)."""

    def read(self, referral_id: str, categories: list[str]) -> dict[str, str]:
        """The named categories (those stored); raises SubjectErasedError after the person's erasure."""

    def erase_subject(self, subject_id: str) -> bool:
        """Makes every piece of the person's information unreadable; whether there was any."""
