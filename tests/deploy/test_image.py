"""The image's entry point turns Compose secrets into variables (and prints none), and its health check asks the
served service's /readyz."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.deploy import healthcheck
from services.runtime.registry import PROCESSES
from tests.deploy.validation import DEPLOY
from tests.helpers import free_port

ENTRYPOINT = DEPLOY / "image" / "entrypoint.sh"


def test_the_entry_point_exports_secret_files_named_like_variables(tmp_path: Path) -> None:
    secrets, bin_dir = tmp_path / "secrets", tmp_path / "bin"
    secrets.mkdir()
    bin_dir.mkdir()
    (secrets / "REFERRAL_CIPHER_KEY").write_text("key-value\n")
    (secrets / "KAFKA_SASL_PASSWORD").write_text("s3cret")
    (secrets / "ca.crt").write_text("-----BEGIN CERTIFICATE-----")
    (secrets / "lower_NAME").write_text("ignored")
    fake_rls = bin_dir / "rls"  # stands in for the real command: prints what it received
    fake_rls.write_text('#!/bin/sh\necho "args=$*"\nenv | grep -E "^(REFERRAL|KAFKA|ca|lower)" | sort\n')
    fake_rls.chmod(0o755)
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "serve", "referral"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RLS_SECRETS_DIR": str(secrets)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "args=serve referral",
        "KAFKA_SASL_PASSWORD=s3cret",
        "REFERRAL_CIPHER_KEY=key-value",
    ]
    assert result.stderr == ""


def test_the_entry_point_runs_without_a_secrets_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "--version"],
        env={"PATH": "/usr/bin:/bin", "RLS_SECRETS_DIR": str(tmp_path / "absent")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "rls" in result.stderr  # `exec rls`: not on this PATH, but reached


@pytest.mark.parametrize(
    ("arguments", "service"),
    [
        (["/opt/venv/bin/python", "/opt/venv/bin/rls", "serve", "consent"], "consent"),
        (["rls", "relay", "referral"], None),
        (["rls", "deploy", "kafka-setup", "--brokers=1"], None),
    ],
)
def test_the_health_check_knows_which_service_the_container_serves(arguments: list[str], service: str | None) -> None:
    assert healthcheck.served_service(arguments) == service


class _Readiness(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readiness_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Readiness]]:
    port = free_port()
    monkeypatch.setenv("CONSENT_PORT", str(port))
    handler = type("Handler", (_Readiness,), {"status": 200})
    server = http.server.HTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


def test_the_health_check_asks_readyz_on_the_services_port(readiness_server: type[_Readiness]) -> None:
    serving = ["rls", "serve", "consent"]
    assert healthcheck.check(serving) == 0
    readiness_server.status = 503
    assert healthcheck.check(serving) == 1
    assert healthcheck.check(["rls", "relay", "referral"]) == 0


def test_the_health_check_fails_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_PORT", str(free_port()))
    assert healthcheck.check(["rls", "serve", "consent"], timeout_s=1) == 1


def test_the_image_exposes_the_port_of_every_process() -> None:
    exposed = next(
        line for line in (DEPLOY / "image" / "Dockerfile").read_text().splitlines() if line.startswith("EXPOSE")
    )
    assert sorted(int(port) for port in exposed.split()[1:]) == sorted(PROCESSES.values())
