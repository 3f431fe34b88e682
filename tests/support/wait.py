"""The one wait-until loop of the tests: poll a check until it holds, or fail saying why.

Tests of real servers wait for things that happen later (a record lands, a server answers, a
file is reloaded). Rule: they wait here, not in loops of their own, so every failure says what
it waited for, how long, and the last value or error the check gave.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

__all__ = ["eventually", "eventually_some"]

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    *,
    what: str,
    timeout: float = 60.0,
    interval: float = 0.2,
    ignoring: tuple[type[BaseException], ...] = (),
    alive: Callable[[], object] | None = None,
    log: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns a truthy value (returned) or stops raising.

    An ``AssertionError`` (and any exception in ``ignoring``, e.g. ``httpx.HTTPError`` while a
    server starts) counts as "not yet". ``alive`` runs before every attempt and should raise
    when waiting is pointless (the process under test exited): it is not retried. After
    ``timeout`` seconds the test fails with ``what``, the last value or error, and ``log()``
    (e.g. the tail of the log of the process under test).
    """
    retried: tuple[type[BaseException], ...] = (AssertionError, *ignoring)
    deadline = time.monotonic() + timeout
    last_value: object = None
    last_error: BaseException | None = None
    while True:
        if alive is not None:
            alive()
        try:
            value = check()
        except retried as exc:
            last_error = exc
        else:
            if value:
                return value
            last_value, last_error = value, None
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = (
        f"last error: {type(last_error).__name__}: {last_error}"
        if last_error is not None
        else f"last value: {last_value!r}"
    )
    tail = f"\n{log()}" if log is not None else ""
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}; {detail}{tail}")


def eventually_some(check: Callable[[], T | None], *, what: str, **options: Any) -> T:
    """:func:`eventually` for checks that answer ``None`` for "not yet" and may find a falsy
    value (an empty list is an answer here)."""

    def boxed() -> list[T]:
        found = check()
        return [] if found is None else [found]

    return eventually(boxed, what=what, **options)[0]
