"""Every route of every service has a rule in its service's policy, and admits exactly the roles that rule names; role
`service` acts beyond its organisation only as the platform's own."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from services.common.access import Policy
from services.common.auth import PLATFORM_ORG, SERVICE, Principal
from services.runtime.registry import SERVICES, app_builder, settings_class
from tests.access_matrix import role_mismatches


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_route_admits_exactly_the_roles_of_its_rule(
    service: str, service_settings: Callable[..., Any], client_for: Callable[..., Any], token: Callable[..., str]
) -> None:
    policy: Policy = importlib.import_module(f"services.{service}.access").POLICY
    app = app_builder(service)(service_settings(settings_class(service)))
    assert role_mismatches(app, client_for(app), policy, token) == []


@pytest.mark.parametrize("service", list(SERVICES))
def test_only_the_platforms_own_service_principal_acts_for_other_organisations(service: str) -> None:
    """Role `service` is an establishment's too (its telephony system reports Info-Social calls): wherever a rule
    scopes by parties, it acts for its own organisation only, like a worker. The platform's own services (organisation
    `PLATFORM_ORG`) act for any organisation wherever a rule admits them."""
    policy: Policy = importlib.import_module(f"services.{service}.access").POLICY
    establishment, platform = (Principal("system", org, frozenset({SERVICE})) for org in ("org-a", PLATFORM_ORG))
    for operation, rule in policy.rules.items():
        others = {part: "org-b" for part in rule.parties}
        assert not (rule.parties and policy.allows(operation, establishment, others)), operation
        assert policy.allows(operation, platform, others) == rule.admits_role(platform), operation
