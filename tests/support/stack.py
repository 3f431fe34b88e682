"""Reading what the local stack leaves on disk: a rendered .properties file, a live pid.

Rule: read as the servers and the kernel do, never with the stack's own code (a test of
:mod:`baocao.app.stack` must not check it against itself).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["alive", "read_properties"]


def read_properties(path: Path) -> dict[str, str]:
    """A Java .properties file's ``key=value`` lines (comments and other lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {
        key: value
        for key, value in (pair for pair in pairs if len(pair) == 2)
        if not key.startswith("#")
    }


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"
