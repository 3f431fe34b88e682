"""The worker's state folder is created, or refused with a clear error, before anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from baocao.streams.commands import prepare_data_dir
from baocao.streams.exceptions import WorkerStartupError


def test_a_missing_state_folder_is_created_with_its_parents(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "there" / "yet"

    assert prepare_data_dir(folder) == folder

    assert folder.is_dir()
    assert list(folder.iterdir()) == []  # the write check leaves nothing behind


def test_a_state_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    with pytest.raises(WorkerStartupError) as refused:
        prepare_data_dir(blocker / "state")

    message = str(refused.value)
    assert str(blocker / "state") in message
    assert "BAOCAO_WORKER_DATA_DIR" in message
    assert "Not a directory" in message
