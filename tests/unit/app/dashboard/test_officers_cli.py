"""``baocao officers``: add, list, reset, disable and unlock, on a database of the test's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from baocao.app.cli import app
from baocao.app.dashboard.officers import OfficerDatabase
from baocao.core.logins import LoginStore, PasswordHasher


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BAOCAO_DASHBOARD_DB_PATH", str(tmp_path / "officers.db"))
    return CliRunner()


def secret(output: str) -> tuple[str, str]:
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return fields["login"], fields["password"]


def test_officers_are_added_listed_reset_disabled_and_unlocked(
    runner: CliRunner, tmp_path: Path
) -> None:
    added = runner.invoke(app, ["officers", "add", "--province", "1", "--name", "Trần Văn Hùng"])
    assert added.exit_code == 0, added.output
    login, password = secret(added.output)
    assert login == "o01-1" and len(password) == 14
    national = runner.invoke(app, ["officers", "add", "--national", "--name", "Lê Thị Mai"])
    assert secret(national.output)[0] == "national-1"
    listed = json.loads(runner.invoke(app, ["officers", "list", "--json"]).output)
    assert [(x["login"], x["province"]) for x in listed] == [("o01-1", "01"), ("national-1", None)]
    assert password not in json.dumps(listed)

    store = LoginStore(OfficerDatabase(tmp_path / "officers.db").open())
    reset = runner.invoke(app, ["officers", "reset", "--login", login])
    held = store.password_hash(login)
    assert held is not None and PasswordHasher().verify(held[1], secret(reset.output)[1])
    assert runner.invoke(app, ["officers", "disable", "--login", login]).exit_code == 0
    assert store.password_hash(login) is None
    unlocked = runner.invoke(app, ["officers", "unlock", "--login", login])
    assert unlocked.exit_code == 0
    assert OfficerDatabase(tmp_path / "officers.db").open().last_unlock(login) is not None


@pytest.mark.parametrize(
    "args",
    [
        ["add", "--name", "x"],
        ["add", "--national", "--province", "01", "--name", "x"],
        ["add", "--province", "99", "--name", "x"],
        ["reset", "--login", "nobody-1"],
    ],
)
def test_bad_input_is_a_clear_error(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, ["officers", *args])
    assert result.exit_code == 1
