"""The worker's own state on /healthz, and the watchdog that ends a stuck shutdown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from baocao.streams.liveness import EXIT_FATAL, WorkerState


def test_a_fatal_error_fails_the_running_check_with_its_reason() -> None:
    state = WorkerState()
    assert state.check_running() == "running"

    state.set_fatal("50 events in a row failed")
    state.set_fatal("a later error does not replace the first")

    with pytest.raises(RuntimeError, match="the worker is stopping: 50 events in a row failed"):
        state.check_running()


def test_waiting_for_the_registry_fails_its_check_until_it_answers() -> None:
    state = WorkerState()
    state.set_registry_waiting("connection refused")
    with pytest.raises(RuntimeError, match="connection refused"):
        state.check_registry()

    state.set_registry_waiting(None)

    assert state.check_registry() == "ok"


def test_the_watchdog_ends_a_process_that_does_not_exit_by_itself() -> None:
    script = textwrap.dedent(
        """
        import time
        from baocao.streams.liveness import arm_exit_watchdog
        arm_exit_watchdog(0.5)
        time.sleep(60)  # a shutdown that hangs
        """
    )
    started = time.monotonic()

    done = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)

    assert done.returncode == EXIT_FATAL
    assert time.monotonic() - started < 20
