"""``baocao simulate --output`` and the argument checks of both commands (no Kafka needed:
everything here fails or finishes before a broker is contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from support.cli import invoke
from support.clock import FakeTime

from baocao.core.catalogue import load_catalogue
from baocao.core.reference import load_reference
from baocao.producers import commands, runs
from baocao.producers.commands import publish, simulate
from baocao.producers.jsonl import report_line
from baocao.producers.pacing import Pacer
from baocao.producers.simulate import generate_reports


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """Only the producers' commands, so these tests do not depend on the other packages."""
    app = typer.Typer()
    app.command()(publish)
    app.command()(simulate)
    return app


def expected_lines(*, communes: int, seed: int, revisions: float) -> list[str]:
    reports = generate_reports(
        load_reference(),
        load_catalogue(),
        period="2025-08",
        seed=seed,
        communes=communes,
        revisions=revisions,
    )
    return [report_line(r) for r in reports]


def test_simulate_writes_the_seeded_reports(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "reports.jsonl"
    args = ["simulate", "--communes", "40", "--seed", "7", "--period", "2025-08"]
    result = invoke(*args, "--revisions", "0.1", "--output", str(out), app=app)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines() == expected_lines(
        communes=40, seed=7, revisions=0.1
    )
    assert "wrote 44 reports (40 communes, 4 revisions) for 2025-08 to " in result.output


def test_simulate_to_stdout_keeps_stdout_for_the_reports(app: typer.Typer) -> None:
    args = ["simulate", "--communes", "3", "--period", "2025-08", "--output", "-"]
    result = invoke(*args, "--revisions", "0", app=app)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == expected_lines(communes=3, seed=2025, revisions=0)
    assert all(json.loads(line)["period"] == "2025-08" for line in result.stdout.splitlines())
    assert "wrote 3 reports (3 communes, 0 revisions)" in result.stderr


def test_simulate_paces_at_the_rate_asked(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fake clock: the pacer the command builds sleeps the exact schedule, and the run
    timer reads the same clock, so the summary's time is the schedule's, not the machine's."""
    fake = FakeTime()
    monkeypatch.setattr(
        commands, "Pacer", lambda rate: Pacer(rate, clock=fake.clock, sleep=fake.sleep)
    )
    monkeypatch.setattr(runs, "time", fake)
    out = str(tmp_path / "paced.jsonl")
    args = ["simulate", "--communes", "11", "--revisions", "0", "--rate", "20", "--output", out]
    result = invoke(*args, app=app)
    assert result.exit_code == 0, result.output
    assert fake.sleeps == [0.05] * 10  # 11 reports at 20/s: 10 gaps of 50 ms
    assert " in 0.5s (22 reports/s)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2025-13"], "is not a month written YYYY-MM"),
        (["--period", "August"], "is not a month written YYYY-MM"),
        (["--communes", "4000"], "there are 3,321 communes, not 4,000"),
        (["--communes", "0"], "'--communes': Input should be greater than or equal to 1"),
        (["--revisions", "1.5"], "'--revisions': Input should be less than or equal to 1"),
        (["--rate", "-1"], "'--rate': Input should be greater than or equal to 0"),
    ],
)
def test_simulate_refuses_bad_options(
    app: typer.Typer, tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke("simulate", *args, "--output", str(tmp_path / "x"), app=app)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())


def test_simulate_reports_an_unwritable_output(app: typer.Typer, tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "out.jsonl"
    result = invoke("simulate", "--communes", "2", "--output", str(target), app=app)
    assert result.exit_code == 1
    assert f"cannot write {target}: No such file or directory" in result.stderr


def test_publish_reports_a_missing_file_before_contacting_kafka(
    app: typer.Typer, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.jsonl"
    result = invoke("publish", "--file", str(missing), app=app)
    assert result.exit_code == 1
    assert f"cannot read {missing}: No such file or directory" in result.stderr
