"""Import discipline, for every service: the domain imports no infrastructure (it can be tested with nothing running),
services meet only through `services/contract` (schemas) and REST, and the shared kernel knows no service."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
EVENT_SOURCED = ("referral", "agreements", "consent", "notifications", "audit")
WITH_DOMAIN = (*EVENT_SOURCED, "standards")
PROCESSES = (*WITH_DOMAIN, "console")

DOMAIN_MODULES: dict[str, tuple[str, ...]] = {
    "referral": ("domain",),
    "agreements": ("domain", "terms", "volumes"),
    "consent": ("domain", "policy", "rules", "rule_history", "engine", "explain", "law_table"),
    "notifications": ("domain", "signing"),
    "audit": ("domain",),
    "standards": ("domain", "bounds", "referrals", "calls", "hours", "state"),
}
"""Each service's domain: `domain.py` and the modules it is made of (named in the service's README)."""

INFRASTRUCTURE = ("fastapi", "starlette", "kafka", "httpx", "sqlite3", "psycopg", "pydantic_settings", "uvicorn")
ALLOWED_IN_DOMAIN = ("eventsourcing.domain", "services.contract")


def imports_of(path: Path) -> list[str]:
    """Every module `path` imports (absolute imports, at any depth: a function's own imports too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def modules_of(package: str) -> list[Path]:
    return sorted((SERVICES / package).rglob("*.py"))


@pytest.mark.parametrize("service", WITH_DOMAIN)
def test_the_domain_imports_no_infrastructure_nor_settings(service: str) -> None:
    own = tuple(f"services.{service}.{module}" for module in DOMAIN_MODULES[service])
    for module in DOMAIN_MODULES[service]:
        for name in imports_of(SERVICES / service / f"{module}.py"):
            top = name.split(".")[0]
            assert not name.startswith(INFRASTRUCTURE), f"{service}/{module}.py imports {name}"
            allowed = top in sys.stdlib_module_names or name.startswith(ALLOWED_IN_DOMAIN + own)
            assert allowed or top == "__future__", f"{service}/{module}.py imports {name}"


@pytest.mark.parametrize("service", PROCESSES)
def test_a_service_imports_no_other_service(service: str) -> None:
    """Services meet through `services/contract` and REST; the console also reads the runtime's registry (where the
    services are) and demo network (its sign-in page offers the demo's organisations)."""
    others = {f"services.{other}" for other in PROCESSES if other != service}
    allowed_platform = {"services.runtime"} if service == "console" else set()
    for path in modules_of(service):
        for name in imports_of(path):
            package = ".".join(name.split(".")[:2])
            where = path.relative_to(SERVICES)
            assert package not in others, f"{where} imports {name}"
            assert package not in {"services.runtime", "services.cli"} - allowed_platform, f"{where} imports {name}"


def test_the_shared_kernel_knows_no_service() -> None:
    for path in modules_of("common"):
        for name in imports_of(path):
            if name.startswith("services."):
                assert name.startswith("services.common."), f"{path.relative_to(SERVICES)} imports {name}"


def test_the_contract_imports_only_itself() -> None:
    for path in modules_of("contract"):
        for name in imports_of(path):
            if name.startswith("services."):
                assert name.split(".")[:2] == ["services", "contract"], f"{path.relative_to(SERVICES)} imports {name}"
