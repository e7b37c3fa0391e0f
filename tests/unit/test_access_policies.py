"""Every route of every service has a rule in its service's policy, and admits exactly the roles that rule names; roles
`service` and `admin` act beyond their organisation only as the platform's own."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from services.common.access import Policy, Rule
from services.common.auth import ADMIN, PLATFORM_ORG, PLATFORM_ROLES, SERVICE, Principal
from services.runtime.registry import SERVICES, app_builder, settings_class
from tests.access_matrix import role_mismatches


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_route_admits_exactly_the_roles_of_its_rule(
    service: str, service_settings: Callable[..., Any], client_for: Callable[..., Any], token: Callable[..., str]
) -> None:
    policy: Policy = importlib.import_module(f"services.{service}.access").POLICY
    app = app_builder(service)(service_settings(settings_class(service)))
    assert role_mismatches(app, client_for(app), policy, token) == []


@pytest.mark.parametrize("role", sorted(PLATFORM_ROLES))
@pytest.mark.parametrize("service", list(SERVICES))
def test_an_establishments_service_or_admin_principal_acts_for_no_other_organisation(service: str, role: str) -> None:
    """Roles `service` and `admin` are an establishment's too (its telephony system reports Info-Social calls, its
    administrator asks for its own Kafka credentials): wherever a rule scopes by parties, they act for their own
    organisation only, like a worker."""
    policy: Policy = importlib.import_module(f"services.{service}.access").POLICY
    establishment = Principal("someone", "org-a", frozenset({role}))
    for operation, rule in policy.rules.items():
        others = {part: "org-b" for part in rule.parties}
        assert not (rule.parties and policy.allows(operation, establishment, others)), operation


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_platforms_own_service_principal_acts_for_any_organisation(service: str) -> None:
    """The platform's own services (organisation `PLATFORM_ORG`) act for any organisation wherever a rule admits
    them."""
    policy: Policy = importlib.import_module(f"services.{service}.access").POLICY
    platform = Principal("system", PLATFORM_ORG, frozenset({SERVICE}))
    for operation, rule in policy.rules.items():
        others = {part: "org-b" for part in rule.parties}
        assert policy.allows(operation, platform, others) == rule.admits_role(platform), operation


def test_a_role_a_rule_keeps_to_the_platform_acts_only_as_the_platforms_in_a_rule_without_parties() -> None:
    """Directory registration names no organisation whose members may act: an establishment's admin registers
    nothing, not even itself (the kind it would give decides its consent routes)."""
    rule = Rule(frozenset({ADMIN, "coordinator"}), (), unscoped=frozenset({ADMIN}), network_only=frozenset({ADMIN}))
    admins = [Principal("someone", org, frozenset({ADMIN})) for org in ("org-a", PLATFORM_ORG)]
    assert [rule.allows(admin, {}) for admin in admins] == [False, True]
    assert rule.allows(Principal("someone", "org-a", frozenset({"coordinator"})), {})
