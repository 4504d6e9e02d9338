"""`clinreason benchmark`'s options and config handling (the runner itself: tests/pipeline/test_benchmark.py)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from clinreason.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_the_default_and_quick_configs() -> None:
    code, out = run("benchmark", "--show-config")
    config = yaml.safe_load(out)
    assert code == 0 and config["cohorts"] == ["pima-diabetes", "oasis-2", "apoe-alzheimer"]
    assert config["seeds"] == [0, 1, 2] and config["student"]["value_tokens"] == ["label"]
    assert config["student"]["value_linear_gate"] and config["student"]["train"]["eval_on_start"]
    assert config["student"]["per_objective"]["rationale_then_label"]["epochs"] == 1  # the demo's students
    code, out = run("benchmark", "--quick", "--show-config")
    quick = yaml.safe_load(out)
    assert code == 0 and quick["name"] == "benchmark-quick" and quick["seeds"] == [0, 1]
    assert quick["cohorts"] == ["pima-diabetes", "oasis-2"] and quick["data"]["train_limit"] == 24
    assert quick["student"]["per_objective"]["rationale_then_label"]["max_steps"] == 6


def test_options_override_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"name": "mine", "cohorts": ["breast-cytology"], "evaluation": {"bootstrap": 10}}))
    code, out = run("benchmark", str(path), "--cohort", "heart-disease", "--seeds", "5", "--out", "x", "--show-config")
    config = yaml.safe_load(out)
    assert code == 0 and config["cohorts"] == ["heart-disease"] and config["seeds"] == [0, 1, 2, 3, 4]
    assert config["out"] == "x" and config["name"] == "mine" and config["evaluation"]["bootstrap"] == 10


def test_a_bad_config_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("seeds: [0, 0]\n")
    code, out = run("benchmark", str(path))
    assert code == 2 and "seeds" in out and "must not repeat" in out
