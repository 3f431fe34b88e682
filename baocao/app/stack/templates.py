"""The configuration files the stack writes, rendered from templates shipped in this package.

Templates use ``string.Template`` placeholders (``${name}``); rendering fails on a missing
value instead of leaving a placeholder in a server's configuration. Values are escaped for
the file's format, so a stack home with ``&`` or a backslash in its path still works.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

__all__ = ["render", "write_if_changed"]


def render(template: str, **values: object) -> str:
    """Render the packaged template ``template`` (a file name in ``baocao/app/stack``)."""
    text = resources.files("baocao.app.stack").joinpath(template).read_text(encoding="utf-8")
    if template.endswith(".xml"):
        quoted = {key: escape(str(value)) for key, value in values.items()}
    elif template.endswith(".properties"):
        quoted = {key: str(value).replace("\\", "\\\\") for key, value in values.items()}
    else:
        quoted = {key: str(value) for key, value in values.items()}
    return Template(text).substitute(quoted)


def write_if_changed(path: Path, text: str, *, mode: int | None = None) -> bool:
    """Write ``text`` to ``path`` (atomically) unless it already holds it; return if written.

    With ``mode`` the file is created with those permissions from its first byte (a file with
    secrets is never readable by others, not even for a moment) and an existing one gets them.
    """
    try:
        if path.read_text(encoding="utf-8") == text:
            if mode is not None:
                path.chmod(mode)
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if mode is None:
        partial.write_text(text, encoding="utf-8")
    else:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        partial.chmod(mode)
    os.replace(partial, path)
    return True
