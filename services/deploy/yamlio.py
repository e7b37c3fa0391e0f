"""YAML as the deploy files are written: block style, sequences indented, keys in the order given (yamllint-clean)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice is written twice: no anchors for a reader to resolve

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # `key:\n  - item`, as yamllint's indentation rule wants


def _multiline(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _multiline)


def dump(documents: Iterable[Any], header: str = "") -> str:
    """One YAML stream: `header` as comment lines, then each document after `---`."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    parts = [
        "---\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True) for doc in documents
    ]
    return "\n".join(lines) + ("\n" if lines else "") + "".join(parts)


def load_all(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
