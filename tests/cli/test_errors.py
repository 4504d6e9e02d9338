"""Every everyday mistake through the real command: one line on stderr, no traceback, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinreason.cli import app


def run(*args: str, columns: int = 80) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    return result.exit_code, result.output


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output and lines[0].startswith("error: "), output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["describe", "pima-diabetes", "--id", "te-999"], "no patient 'te-999' in cohort pima-diabetes"),
        (
            ["predict", "--checkpoint", "CKPT", "--cohort", "pima-diabetes", "--id", "te-999"],
            "no patient 'te-999' in cohort pima-diabetes",
        ),
        (
            ["predict", "--checkpoint", "CKPT", "--cohort", "pima-diabetes", "--split", "tset"],
            "Invalid value for '--split'",
        ),
        (
            ["predict", "--checkpoint", "MISSING", "--cohort", "pima-diabetes", "--id", "tr-006"],
            "no such checkpoint folder",
        ),
        (["datasets", "split", "pima-diabetes", "--test", "0.9", "--validation", "0.5"], "leave -0.40 of the patients"),
        (["evaluate", "MISSING"], "no such run folder"),
        (["evaluate", "MISSING", "--show"], "no such run folder"),
        (["evaluate", "CKPT", "--show", "true"], "unexpected extra argument(s) (true)"),
        (["segment", "evaluate", "MISSING"], "no such run folder"),
        (["datasets", "list", "--colour"], "No such option: --colour"),
        (["run", "MISSING"], "run config not found"),
    ],
)
def test_an_everyday_mistake_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.replace("CKPT", str(tmp_path)).replace("MISSING", str(tmp_path / "nowhere")) for a in args]
    code, output = run(*args)
    assert code == 2
    assert message in one_line(output)


def test_a_yaml_error_is_shown_as_written_not_as_markup(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("data: [oops\n")
    code, output = run("run", str(config), columns=300)
    assert code == 2
    assert output.startswith("error: ") and "Traceback" not in output
    assert "[oops" in output and "expected ',' or ']'" in output and "^" in output


def test_flags_show_no_value_type_in_help() -> None:
    code, output = run("evaluate", "--help", columns=120)
    assert code == 0
    show = next(line for line in output.splitlines() if "--show" in line)
    assert "<bool>" not in show and "<bool>" not in output
