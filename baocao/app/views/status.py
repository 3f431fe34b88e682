"""A commune's status in a period, as the dashboard and the export both name it.

Rule: the one word for a commune is decided here only; its callers pass what the views say.
"""

from __future__ import annotations

__all__ = ["commune_status"]


def commune_status(*, reported: bool, on_time: int | None, rejected: bool) -> str:
    """One word for a commune in a period: an accepted report is ``on_time`` or ``late``
    (``reported`` when stored before deadlines existed); without one it is ``rejected`` if
    its submissions were refused, else ``missing``."""
    if reported:
        if on_time is None:
            return "reported"
        return "on_time" if on_time else "late"
    return "rejected" if rejected else "missing"
