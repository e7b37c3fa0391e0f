"""`python -m services.deploy.healthcheck`: the image's health check.

It asks `/readyz` of the service that the container's main process serves (`rls serve <service>`, on its
`<SERVICE>_PORT`); a container running something else (`rls relay`, a one-shot job) has no endpoint, and is healthy
while it runs.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.registry import PROCESSES


class ListenSettings(BaseSettings):
    """Only where the service listens (the health check reads nothing else, and no secret)."""

    model_config = SettingsConfigDict(extra="ignore")

    port: int | None = None


def served_service(arguments: Sequence[str]) -> str | None:
    """The service in `... serve <service>`, if the command is one."""
    for index, argument in enumerate(arguments[:-1]):
        if argument == "serve" and arguments[index + 1] in PROCESSES:
            return arguments[index + 1]
    return None


def main_process_arguments(cmdline: Path = Path("/proc/1/cmdline")) -> list[str]:
    return [part.decode() for part in cmdline.read_bytes().split(b"\0") if part]


def readiness_url(service: str) -> str:
    port = ListenSettings(_env_prefix=f"{service.upper()}_").port or PROCESSES[service]
    return f"http://127.0.0.1:{port}/readyz"


def check(arguments: Sequence[str], timeout_s: float = 3.0) -> int:
    """0 when healthy, 1 when not (what a container health check expects)."""
    service = served_service(arguments)
    if service is None:
        return 0
    try:
        with urllib.request.urlopen(readiness_url(service), timeout=timeout_s) as response:  # noqa: S310 -- loopback
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(check(main_process_arguments()))
