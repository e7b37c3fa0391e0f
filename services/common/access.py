"""Authorisation as data: each service states, per endpoint, which roles may call it and for whom.

A `Rule` names the roles admitted and the parties (the organisations a request or a resource concerns, by their
part in it: `sender`, `discloser`, `owner` …) whose members may act. Acting roles must belong to one of those
parties; `auditor` reads what concerns its own organisation; `network-auditor` reads everything, and so does a
platform service (role `service` of `PLATFORM_ORG`); the platform's administrator (`admin` of `PLATFORM_ORG`) acts
beyond one organisation where a rule says so. An establishment's `service` principal (its telephony system) and its
`admin` act for their own organisation only (`PLATFORM_ROLES`). A service's `Policy` holds one rule per operation;
routes ask it, and the authorisation matrix test is generated from it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from services.common.auth import ADMIN, NETWORK_AUDITOR, SERVICE, Principal, authenticated
from services.common.problems import FORBIDDEN, ProblemError, problem

WORKERS = frozenset({"intake", "clinician", "coordinator"})
AUDITOR = "auditor"
AUDITORS = frozenset({AUDITOR, NETWORK_AUDITOR})
READ_ONLY = AUDITORS
"""Roles that only ever read."""


Parties = Mapping[str, str | Collection[str] | None]
"""The organisations something concerns, by their part in it (one organisation or several per part)."""

NETWORK_WIDE = frozenset({NETWORK_AUDITOR, SERVICE})
"""Roles not tied to the caller's organisation when it holds them beyond it (`Principal.unscoped_roles`): network
auditors, the platform's own services. The platform's administrator is not among them: a rule names `admin` among its
`unscoped` roles where it administers for the platform (the directory, agreements), never where it would act as one
organisation's member (a disclosure register)."""


@dataclass(frozen=True)
class Rule:
    """Who may call one operation: any of `roles`, as a member of one of `parties` (none: no organisation scope);
    `unscoped` roles act whatever the parties when the caller holds them beyond its organisation (`service`, `admin`:
    only the platform's own); `network_only` roles act only so, never as a member of a party nor, in a rule without
    parties, as an establishment's (for operations on one resource: `scope`, for listings, does not read it)."""

    roles: frozenset[str]
    parties: tuple[str, ...] = ()
    summary: str = ""
    unscoped: frozenset[str] = NETWORK_WIDE
    network_only: frozenset[str] = frozenset()

    def admits_role(self, principal: Principal) -> bool:
        return bool(self.roles & principal.roles)

    def unscoped_for(self, principal: Principal) -> bool:
        """Whether `principal` acts whatever the parties: in one of the rule's `unscoped` roles that it holds beyond
        its organisation."""
        return bool(principal.unscoped_roles & self.roles & self.unscoped)

    def allows(self, principal: Principal, parties: Parties | None = None) -> bool:
        """Whether `principal` may act on something whose parties are `parties`."""
        if not self.admits_role(principal):
            return False
        if self.unscoped_for(principal):
            return True
        if not principal.roles & (self.roles - self.network_only):
            return False
        return not self.parties or parties is None or principal.org in members(parties, self.parties)

    def scope(self, principal: Principal) -> str | None:
        """The organisation whose parties' resources `principal` may read (None: all of them) — the same rule as
        `allows`, for listings filtered in a query rather than one resource at a time."""
        if not self.parties or self.unscoped_for(principal):
            return None
        return principal.org


@dataclass(frozen=True)
class Policy:
    """One service's rules, by operation name (the route function's name)."""

    service: str
    rules: Mapping[str, Rule]

    def rule(self, operation: str) -> Rule:
        return self.rules[operation]

    def caller(self, operation: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
        """A dependency admitting only the roles of the operation's rule (403 otherwise)."""
        rule = self.rule(operation)

        async def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
            if not rule.admits_role(principal):
                raise forbidden(f"requires one of the roles: {', '.join(sorted(rule.roles))}")
            return principal

        return dependency

    def allows(self, operation: str, principal: Principal, parties: Parties) -> bool:
        return self.rule(operation).allows(principal, parties)

    def scope(self, operation: str, principal: Principal) -> str | None:
        return self.rule(operation).scope(principal)

    def check(self, operation: str, principal: Principal, parties: Parties, why: str) -> None:
        """Raises 403 (`why`) unless the caller may act on something with these parties."""
        if not self.allows(operation, principal, parties):
            raise forbidden(why)


def members(parties: Parties, parts: Collection[str]) -> set[str]:
    """The organisations playing any of `parts`."""
    found: set[str] = set()
    for part in parts:
        value = parties.get(part)
        if isinstance(value, str):
            found.add(value)
        elif value:
            found |= set(value)
    return found


def forbidden(detail: str) -> ProblemError:
    return problem(FORBIDDEN, detail)


ALL_ROLES = frozenset({*WORKERS, ADMIN, *AUDITORS, SERVICE})
