"""`rls serve --workers`: refused, saying why, when the workers could not share the store or the process runs one at a
time."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import cli


def test_workers_on_a_store_in_memory_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_EVENT_STORE", "memory://")
    result = CliRunner().invoke(cli, ["serve", "consent", "--workers", "2"])
    assert result.exit_code == 2
    assert "CONSENT_EVENT_STORE=memory://" in result.output
    assert "each of the 2 workers would keep its own store" in result.output


def test_at_least_one_worker() -> None:
    result = CliRunner().invoke(cli, ["serve", "consent", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output


@pytest.mark.parametrize("service", ["audit", "standards"])
def test_a_process_that_runs_one_at_a_time_has_no_workers(service: str) -> None:
    result = CliRunner().invoke(cli, ["serve", service, "--workers", "2"])
    assert result.exit_code == 2
    assert f"{service} runs in one process at a time" in result.output
