"""The offline checks of deploy/, as functions returning what is wrong: the tests feed them the real files and
broken ones (a check that cannot fail proves nothing)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from yamllint import linter
from yamllint.config import YamlLintConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes API the manifests are checked against (kubernetes-validate's bundled schemas, strict)."""
STRIMZI_SCHEMAS = DEPLOY / "k8s" / "schemas" / "strimzi"
STRIMZI_GROUP = "kafka.strimzi.io/"


def yaml_problems(text: str, name: str = "<text>") -> list[str]:
    config = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    return [f"{name}:{p.line}:{p.column} {p.level}: {p.message}" for p in linter.run(text, config)]


@cache
def _compose_validator() -> Draft202012Validator:
    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def compose_problems(document: Any) -> list[str]:
    """The Compose file against the Compose specification's schema (the one check-jsonschema vendors)."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in _compose_validator().iter_errors(document)]


@cache
def _strimzi() -> tuple[Registry, dict[str, dict[str, Any]]]:
    resources = [Resource.from_contents(json.loads(p.read_text())) for p in sorted(STRIMZI_SCHEMAS.glob("*.json"))]
    registry: Registry = Registry().with_resources((resource.id(), resource) for resource in resources)
    kinds = [r for r in resources if "kind" in r.contents.get("properties", {})]
    by_kind = {r.contents["properties"]["kind"]["const"]: r.contents for r in kinds}
    return registry, by_kind


def manifest_problems(documents: Iterable[dict[str, Any]]) -> list[str]:
    """Every Kubernetes manifest against the pinned Kubernetes schemas (unknown fields refused), every Strimzi
    resource against our schemas of the fields we use; a kind with neither is a problem, not a warning."""
    registry, by_kind = _strimzi()
    problems: list[str] = []
    for document in documents:
        kind, name = document.get("kind"), document.get("metadata", {}).get("name")
        where = f"{kind}/{name}"
        if str(document.get("apiVersion", "")).startswith(STRIMZI_GROUP):
            schema = by_kind.get(str(kind))
            if schema is None:
                problems.append(f"{where}: no schema for this Strimzi kind")
                continue
            validator = Draft202012Validator(schema, registry=registry)
            problems += [f"{where} {list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no Kubernetes {KUBERNETES_VERSION} schema for {document.get('apiVersion')}")
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{where} {list(error.path)}: {error.message}")
    return problems


def kustomize_build(kustomize: Path, directory: Path) -> list[dict[str, Any]]:
    """`kustomize build` of a directory (raises CalledProcessError with kustomize's message when it fails)."""
    result = subprocess.run([str(kustomize), "build", str(directory)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
