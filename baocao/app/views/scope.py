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
    """The provinces a reader may see; ``None``: every province. The national figures (the
    totals over every province) are visible to every reader: an officer of one province
    compares against them, and they hold nothing of another province alone."""

    provinces: frozenset[str] | None = None

    @classmethod
    def of_province(cls, code: str) -> Scope:
        """The scope of one province's officer."""
        return cls(frozenset({code}))

    @property
    def everything(self) -> bool:
        return self.provinces is None

    def admit(self, province: str | None) -> None:
        """Return when a read of ``province`` (``None``: national) is in scope, else raise
        :class:`OutOfScopeError` (whose text names only what was asked, never a value)."""
        if province is None or self.provinces is None or province in self.provinces:
            return
        raise OutOfScopeError(f"province {province} is outside this reader's scope")


#: The scope of the national tier (and of every reader until officers sign in).
EVERYTHING = Scope()
