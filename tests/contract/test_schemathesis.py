"""The contract proved with a client nobody here wrote: schemathesis (pinned) against every service's OpenAPI, as
the services run under `rls run` on the real broker, with a token per role; its examples, coverage and stateful
phases, every check (the default; tests/contract/schemathesis.toml relaxes a few, each for a stated reason). Zero
server errors and zero conformance failures; the counts are printed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from services.common.auth import PLATFORM_ORG, load_dev_key, mint_dev_token
from services.runtime import demo
from services.runtime.launcher import Platform
from tests.helpers import running_platform

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 8
SEED = 20261130

ROLES: dict[str, tuple[str, ...]] = {
    "referral": ("intake", "auditor", "network-auditor", "admin"),
    "agreements": ("coordinator", "admin"),
    "consent": ("intake", "auditor", "network-auditor", "service"),
    "notifications": ("coordinator", "admin"),
    "audit": ("auditor", "network-auditor"),
    "standards": ("coordinator", "network-auditor", "service"),
}
"""Per service, a token for each kind of caller its policy serves differently (and, for the referral service, one
it refuses everywhere); each of the CSSS, but those of PLATFORM_CALLERS."""
PLATFORM_CALLERS = frozenset({("agreements", "admin")})
"""Callers tried as the platform's own (organisation PLATFORM_ORG): the directory's administrator, whom the agreements
policy serves unlike an establishment's admin (who registers no organisation and acts as its coordinators do)."""


@dataclass(frozen=True)
class Run:
    service: str
    role: str
    cases: int
    server_errors: int
    failures: int
    errors: int
    seconds: float
    phases: dict[str, str]
    detail: str


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, bytes]]:
    with running_platform(tmp_path_factory.mktemp("contract"), kafka_bootstrap) as running:
        yield running, load_dev_key(running.settings.signing_key_file)


def run_schemathesis(url: str, token: str, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--phases",
            "examples,coverage,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",  # hypothesis describes strategies with ast.parse, which CPython 3.11 does not run safely in threads
            "--request-timeout",
            "20",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=report.parent,  # its cache of failures stays out of the work tree
    )


def one_run(service: str, role: str, url: str, key: bytes, report: Path) -> Run:
    org = PLATFORM_ORG if (service, role) in PLATFORM_CALLERS else demo.CSSS
    token = mint_dev_token(key, org, [role], f"schemathesis-{role}", "rls", timedelta(hours=1))
    started = time.monotonic()
    result = run_schemathesis(url, token, report)
    seconds = time.monotonic() - started
    document = json.loads(report.read_text())
    failures = document["failures"]
    summary = "; ".join(f"{f['code']} {f['title']} ({', '.join(f['operations'])})" for f in failures)
    return Run(
        service,
        role,
        cases=document["test_cases"]["generated"],
        server_errors=sum(f["count"] for f in failures if f["code"] == "ST101"),
        failures=sum(f["count"] for f in failures),
        errors=len(document["errors"]),
        seconds=seconds,
        phases={name: phase["status"] for name, phase in document["phases"].items() if name != "fuzzing"},
        detail=summary + (result.stdout[-6000:] if failures or document["errors"] else ""),
    )


def test_every_service_conforms_to_its_openapi_for_every_role(
    platform: tuple[Platform, bytes], tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    running, key = platform
    runs = [
        one_run(service, role, running.urls[service], key, tmp_path / f"{service}-{role}.json")
        for service, roles in ROLES.items()
        for role in roles
    ]
    report_figure("schemathesis (examples, coverage, stateful; all checks):")
    for r in runs:
        report_figure(
            f"  {r.service:<13} {r.role:<15} {r.cases:>5} cases  {r.server_errors} 5xx  "
            f"{r.failures} conformance failures  {r.errors} errors  {r.seconds:5.1f} s  "
            + " ".join(f"{name} {status}" for name, status in r.phases.items())
        )
    total = sum(r.cases for r in runs)
    report_figure(
        f"  total: {total} cases, {sum(r.server_errors for r in runs)} 5xx, "
        f"{sum(r.failures for r in runs)} conformance failures, {sum(r.errors for r in runs)} errors"
    )
    for r in runs:
        if r.failures or r.errors:
            print(f"\n--- {r.service} as {r.role}: {r.detail}")
    assert [f"{r.service} as {r.role}" for r in runs if r.failures or r.errors] == []
    assert total > 0
    assert all(r.phases["coverage"] == "success" for r in runs)
    # the audit API and the standards board only read (a call report's 202 names no resource): no operation produces
    # what another takes, so there is no sequence to explore
    assert all(r.phases["stateful"] == "success" for r in runs if r.service not in ("audit", "standards"))
    assert any(r.phases["examples"] == "success" for r in runs)
