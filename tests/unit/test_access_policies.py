"""Every route of every service has a rule in its service's policy, and admits exactly the roles that rule names."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from services.common.access import Policy
from services.runtime.registry import SERVICES, app_builder, settings_class
from tests.access_matrix import role_mismatches


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_route_admits_exactly_the_roles_of_its_rule(
    service: str, service_settings: Callable[..., Any], client_for: Callable[..., Any], token: Callable[..., str]
) -> None:
    policy: Policy = importlib.import_module(f"services.{service}.access").POLICY
    app = app_builder(service)(service_settings(settings_class(service)))
    assert role_mismatches(app, client_for(app), policy, token) == []
