"""The authorisation matrix, generated from a service's policy: every role of every organisation concerned (and of
one that is not, and of the platform's own) against an operation, the answer the policy gives compared with the answer
the service gives. So a `service` principal is tried as an establishment's (scoped to it) and as the platform's."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from services.common.access import ALL_ROLES, Parties, Policy, members
from services.common.auth import PLATFORM_ORG, Principal
from services.common.telemetry import UNOBSERVED as OPERATIONAL

OUTSIDER = "org-outsider"
Probe = Callable[[str, str], bool]
"""`probe(org, role)` → whether the service granted the request (it raises on an answer that is neither)."""


def mismatches(policy: Policy, operation: str, parties: Parties, probe: Probe) -> list[str]:
    """Each (org, role) for which the service's answer differs from the policy's."""
    rule = policy.rule(operation)
    orgs = sorted(members(parties, rule.parties or tuple(parties)) | {OUTSIDER, PLATFORM_ORG})
    found = []
    for org in orgs:
        for role in sorted(ALL_ROLES):
            expected = policy.allows(operation, Principal("matrix", org, frozenset({role})), parties)
            actual = probe(org, role)
            if actual != expected:
                found.append(f"{operation} as {role} of {org}: policy {expected}, service {actual}")
    return found


def granted(response: Any, yes: set[int], no: set[int] = frozenset({403, 404})) -> bool:  # type: ignore[assignment]
    if response.status_code in yes:
        return True
    if response.status_code in no:
        return False
    raise AssertionError(f"unexpected {response.status_code}: {response.text[:300]}")


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every API route of `app` with its full path, included routers' too (FastAPI 0.165 lists an included router as
    one entry of `app.routes`, so a loop over them alone finds no API route)."""
    found = [(c.path, c.original_route) for c in iter_route_contexts(app.routes)]
    return [(path, route) for path, route in found if path is not None and isinstance(route, APIRoute)]


def role_mismatches(app: FastAPI, client: TestClient, policy: Policy, token: Callable[..., str]) -> list[str]:
    """For every route: a rule exists, and each role is admitted exactly when the rule names it (before any body,
    path or organisation is looked at)."""
    found = []
    routes = [(template, route) for template, route in api_routes(app) if template not in OPERATIONAL]
    if not routes:
        return ["no API route found: nothing would be checked"]
    for template, route in routes:
        if route.name not in policy.rules:
            found.append(f"{template}: no rule for operation {route.name}")
            continue
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
        for method in route.methods or ():
            for role in sorted(ALL_ROLES):
                headers = {"Authorization": f"Bearer {token('org-a', role)}"}
                response = client.request(method, path, headers=headers, json={})
                refused = response.status_code == 403 and "requires one of the roles" in response.text
                if refused == policy.rule(route.name).admits_role(Principal("m", "org-a", frozenset({role}))):
                    found.append(f"{method} {template} as {role}: {response.status_code}")
    return found
