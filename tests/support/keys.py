"""A check that finds message and state keys written by hand in Python source: a ``|``
joining formatted values, a ``key=`` literal or ``.encode()``, an ``OutputRecord`` built with
a key of its own, a ``*_key`` function that does not return ``key_of``, ``key_bytes_of`` or
``state_key``. Ids that merely look like keys (a dict's ``*_id``, a ``uuid5`` name) pass."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["hand_made_keys", "python_files"]


def _is_key_separator(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and "|" in node.value


def _joins_values(node: ast.JoinedStr) -> bool:
    """``f"{a}|{b}"``, ``f"{a}|monthly|{b}"``: a ``|`` right next to a formatted value (a
    ``|`` inside other text, as in a regular expression, is no key)."""
    parts = node.values
    for index, part in enumerate(parts):
        if not _is_key_separator(part):
            continue
        text = part.value  # type: ignore[attr-defined]
        after_value = index > 0 and isinstance(parts[index - 1], ast.FormattedValue)
        before_value = index + 1 < len(parts) and isinstance(parts[index + 1], ast.FormattedValue)
        if (after_value and text.startswith("|")) or (before_value and text.endswith("|")):
            return True
    return False


def _names_a_key(name: str) -> bool:
    return name == "key" or name.endswith("_key")


def _from_the_contract(value: ast.expr | None) -> bool:
    """``spec.key_of(...)``, ``spec.key_bytes_of(...)`` or ``state_key(...)``."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in ("key_of", "key_bytes_of", "state_key")


def _allowed_ids(tree: ast.AST) -> set[int]:
    """f-strings that are ids, not keys: a dict's ``*_id`` value, a ``uuid5`` name."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and str(key.value).endswith("_id"):
                    allowed.add(id(value))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "uuid5":
            allowed.update(id(arg) for arg in node.args)
    return allowed


def hand_made_keys(source: str, *, may_join: bool = False, may_build: bool = False) -> list[str]:
    """What in ``source`` makes a message or state key by hand, as ``line: why``."""
    tree = ast.parse(source)
    ids = _allowed_ids(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.FunctionDef) and _names_a_key(node.name) and not may_join:
            for returned in ast.walk(node):
                if isinstance(returned, ast.Return) and not _from_the_contract(returned.value):
                    found.append(f"{returned.lineno}: {node.name}() makes its own key")
        if isinstance(node, ast.JoinedStr) and id(node) not in ids and not may_join:
            if _joins_values(node):
                found.append(f"{line}: an f-string joins fields with '|'")
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "join"
                and _is_key_separator(func.value)
                and not may_join
            ):
                found.append(f"{line}: '|'.join(...)")
            if isinstance(func, ast.Name) and func.id == "OutputRecord" and not may_build:
                found.append(f"{line}: OutputRecord(...) with a key of its own")
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg != "key":
                    continue
                encoded = (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Attribute)
                    and value.func.attr == "encode"
                )
                literal = isinstance(value, ast.Constant | ast.JoinedStr | ast.BinOp)
                if encoded or literal:
                    found.append(f"{line}: key= {ast.unparse(value)}")
    return found


def python_files(root: Path) -> Iterator[Path]:
    """Every Python file below ``root``, through symlinked folders (the pipeline packages)."""
    for folder, _, files in sorted(os.walk(root, followlinks=True)):
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder) / name
