"""Fixtures of the deploy/ checks: the pinned kustomize (installed by `make test`) and the overlays it builds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.runtime.settings import RuntimeSettings
from tests.deploy.validation import DEPLOY, ROOT, kustomize_build

KUSTOMIZE_VERSION = re.search(r"^KUSTOMIZE_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)  # type: ignore[union-attr]
"""Pinned once, in the Makefile that installs it."""
OVERLAYS = ("dev", "prod")


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """The kustomize binary `make test` installs (`go install`, pinned) into the cache outside git."""
    path = RuntimeSettings().cache_dir / "tools" / f"kustomize-{KUSTOMIZE_VERSION}" / "kustomize"
    if not path.exists():
        pytest.fail(f"kustomize {KUSTOMIZE_VERSION} is not at {path}: `make test` (or `make deploy-tools`) installs it")
    return path


@pytest.fixture(scope="session")
def built(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    """`kustomize build` of the base, the Kafka resources and each overlay."""
    directories = {"base": DEPLOY / "k8s" / "base", "kafka": DEPLOY / "k8s" / "kafka"}
    directories |= {name: DEPLOY / "k8s" / "overlays" / name for name in OVERLAYS}
    return {name: kustomize_build(kustomize, directory) for name, directory in directories.items()}
