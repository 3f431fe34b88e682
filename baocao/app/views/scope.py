"""Whose figures a reader may see: the one place a province's isolation is decided.

Rule: a scope answers only "may this read see this province?"; it never filters rows itself
(the reads take their province from the admitted session).
"""

from __future__ import annotations

from dataclasses import dataclass

from baocao.app.views.exceptions import OutOfScopeError

__all__ = ["EVERYTHING", "Scope"]


@dataclass(frozen=True)
class Scope:
    """The provinces a reader may see; ``None``: every province and the national figures."""

    provinces: frozenset[str] | None = None

    def admit(self, province: str | None) -> None:
        """Return when a read of ``province`` (``None``: national) is in scope, else raise
        :class:`OutOfScopeError`."""
        if self.provinces is None or (province is not None and province in self.provinces):
            return
        asked = "the national figures" if province is None else f"province {province}"
        raise OutOfScopeError(f"{asked} are outside this reader's scope")


#: The scope of the national tier (and of every reader until officers sign in).
EVERYTHING = Scope()
