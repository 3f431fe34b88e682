"""Docker's .dockerignore rule, for checking what a build context sends without a Docker
engine.

Rule: match as Docker does, not as git does. Patterns are anchored at the context's root
(``secret`` is not ``baocao/secret``), a pattern that matches a parent directory excludes
what is below it, and the last pattern that applies wins (``!`` re-includes). ``pathspec``
follows gitignore (unanchored names), and the Docker SDK's matcher needs a directory walk to
exclude below a matched directory, so neither fits a check of path strings.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["dockerignore_excludes", "dockerignore_patterns"]


def dockerignore_patterns(path: Path) -> list[str]:
    """The patterns of a .dockerignore file, without blank lines and comments."""
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore glob as a regex: ``*`` and ``?`` stop at ``/``, ``**`` does not,
    ``[...]`` is a character class."""
    parts = re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", pattern.strip("/"))
    wildcards = {"**": ".*", "**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile(
        "".join(
            wildcards.get(part, part if part.startswith("[") else re.escape(part)) for part in parts
        )
    )


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule for ``path``: a pattern matching the path or one of its parents applies,
    the last one that applies wins, and ``!`` re-includes."""
    segments = path.split("/")
    prefixes = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    excluded = False
    for pattern in patterns:
        regex = _glob_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not pattern.startswith("!")
    return excluded
