"""ManagedProcess with harmless programs (sleep, sh): start, find again, stop, never a stranger."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from support.stack import alive
from support.wait import eventually

from baocao.app.stack.exceptions import ProcessStartError
from baocao.app.stack.process import ManagedProcess, ProcessState, run_dir


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


@pytest.fixture
def sleeper(tmp_path: Path):
    process = ManagedProcess("sleeper", ["sleep", "300"], home=tmp_path)
    yield process
    process.stop(timeout=2)


def test_start_writes_pid_file_and_record_and_runs_detached(
    sleeper: ManagedProcess, tmp_path: Path
) -> None:
    status = sleeper.start()

    assert status.state is ProcessState.RUNNING
    assert status.pid is not None and alive(status.pid)
    assert (tmp_path / "run" / "sleeper.pid").read_text() == f"{status.pid}\n"
    record = json.loads((tmp_path / "run" / "sleeper.json").read_text())
    assert record["pid"] == status.pid
    assert record["argv"][0].endswith("/sleep") and record["argv"][1:] == ["300"]
    # Its own session: a hang-up of our terminal does not reach it.
    assert os.getsid(status.pid) == status.pid
    assert status.log_file == tmp_path / "logs" / "sleeper.log"
    assert "starting sleeper" in status.log_file.read_text()


def test_start_twice_keeps_the_first_process(sleeper: ManagedProcess) -> None:
    first = sleeper.start()
    second = sleeper.start()
    assert second.pid == first.pid


def test_a_second_object_finds_the_process_through_its_files(
    sleeper: ManagedProcess, tmp_path: Path
) -> None:
    pid = sleeper.start().pid
    again = ManagedProcess("sleeper", ["sleep", "300"], home=tmp_path)
    assert again.status().pid == pid
    assert [process.name for process in ManagedProcess.registered(tmp_path)] == ["sleeper"]


def test_stop_ends_the_process_and_removes_its_files(
    sleeper: ManagedProcess, tmp_path: Path
) -> None:
    pid = sleeper.start().pid
    assert pid is not None

    assert sleeper.stop() is True

    assert not alive(pid)
    assert sleeper.status().state is ProcessState.STOPPED
    assert sleeper.status().pid is None
    assert not (tmp_path / "run" / "sleeper.pid").exists()
    assert not (tmp_path / "run" / "sleeper.json").exists()
    assert sleeper.stop() is False  # stopping a stopped process is a no-op


def test_stop_kills_a_process_that_ignores_sigterm_and_its_children(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stubborn = ManagedProcess(
        "stubborn", ["sh", "-c", "trap '' TERM; sleep 300 & wait"], home=tmp_path
    )
    pid = stubborn.start().pid
    assert pid is not None
    try:
        eventually(
            lambda: len(_group_members(pid)) == 2,  # the shell and its sleep
            what="the shell to start its sleep",
            timeout=5,
            interval=0.05,
        )

        with caplog.at_level("WARNING", logger="baocao.app.stack.process"):
            assert stubborn.stop(timeout=0.5) is True

        # Gone although it ignores SIGTERM and its sleep had 300 s to go: SIGKILL after the
        # grace, said in the log (no wall-clock assertion needed).
        assert _group_members(pid) == []
        assert "did not stop within 0s of SIGTERM; sending SIGKILL" in caplog.text
    finally:
        if _group_members(pid):
            os.killpg(pid, signal.SIGKILL)


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    """A record whose pid now belongs to another process (here: the test itself) must not
    make stop() signal that process."""
    run_dir(tmp_path).mkdir(parents=True)
    record = {
        "name": "ghost",
        "pid": os.getpid(),
        "start_ticks": 1,  # not our start time
        "argv": ["/usr/bin/sleep", "300"],
        "cwd": str(tmp_path),
        "log_file": str(tmp_path / "logs" / "ghost.log"),
        "started_at": "2025-01-01T00:00:00+00:00",
    }
    (run_dir(tmp_path) / "ghost.json").write_text(json.dumps(record))
    (run_dir(tmp_path) / "ghost.pid").write_text(f"{os.getpid()}\n")
    ghost = ManagedProcess("ghost", ["sleep", "300"], home=tmp_path)

    assert ghost.status().state is ProcessState.STOPPED
    previous = signal.signal(signal.SIGTERM, lambda *_: pytest.fail("signalled a stranger"))
    try:
        assert ghost.stop(timeout=0.5) is False
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not (run_dir(tmp_path) / "ghost.json").exists()  # the stale record is cleaned up


def test_env_is_added_to_the_inherited_environment(tmp_path: Path) -> None:
    process = ManagedProcess(
        "printer",
        ["sh", "-c", 'echo "value=$BAOCAO_TEST_VALUE home=$HOME"'],
        home=tmp_path,
        env={"BAOCAO_TEST_VALUE": "42"},
    )
    process.start()
    eventually(lambda: not process.is_running(), what="printer to end", timeout=5, interval=0.05)

    assert process.status().state is ProcessState.STOPPED  # it ended by itself
    assert f"value=42 home={os.environ['HOME']}" in process.log_tail()


def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    process = ManagedProcess("nothing", ["baocao-no-such-program"], home=tmp_path)
    with pytest.raises(ProcessStartError, match="baocao-no-such-program is not on PATH"):
        process.start()
    assert ManagedProcess.registered(tmp_path) == []


@pytest.mark.parametrize("name", ["", "../evil", "a b", "-x"])
def test_names_that_are_not_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="process name"):
        ManagedProcess(name, ["sleep", "1"], home=tmp_path)


def test_an_unreadable_record_counts_as_stopped(tmp_path: Path) -> None:
    run_dir(tmp_path).mkdir(parents=True)
    (run_dir(tmp_path) / "broken.json").write_text("{not json")
    assert ManagedProcess("broken", ["sleep", "1"], home=tmp_path).status().pid is None
    assert ManagedProcess.registered(tmp_path) == []
