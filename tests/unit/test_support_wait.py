"""The tests' one wait loop: it returns what the check found, retries failed assertions, and
fails naming what it waited for with the last value or error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.wait import eventually, eventually_some


def test_returns_the_first_truthy_answer() -> None:
    answers = iter([0, [], "ready"])
    assert eventually(lambda: next(answers), what="readiness", interval=0) == "ready"


def test_retries_a_failing_assertion_until_it_holds() -> None:
    calls: list[int] = []

    def check() -> int:
        calls.append(1)
        assert len(calls) >= 3, f"only {len(calls)} calls"
        return len(calls)

    assert eventually(check, what="three calls", interval=0) == 3


def test_timeout_names_the_wait_and_the_last_error() -> None:
    def check() -> bool:
        raise AssertionError("states {'a': 'pending'}")

    with pytest.raises(pytest.fail.Exception) as failed:
        eventually(check, what="the states", timeout=0.05, interval=0.01, log=lambda: "LOG")
    message = str(failed.value)
    assert "timed out after 0.05s waiting for the states" in message
    assert "last error: AssertionError: states {'a': 'pending'}" in message
    assert message.endswith("\nLOG")


def test_timeout_names_the_last_value() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"last value: \[\]"):
        eventually(list, what="rows", timeout=0.02, interval=0.01)


def test_other_errors_and_a_dead_process_stop_the_wait_at_once() -> None:
    def dead() -> None:
        raise AssertionError("the worker exited")

    with pytest.raises(AssertionError, match="the worker exited"):
        eventually(lambda: False, what="x", timeout=30, alive=dead)
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        eventually(lambda: empty["missing"], what="x", timeout=30)


def test_eventually_some_accepts_a_falsy_answer_but_not_none() -> None:
    answers: Iterator[list[int] | None] = iter([None, []])
    assert eventually_some(lambda: next(answers), what="letters", interval=0) == []
