"""The whole pipeline on real patients with a tiny student; the teacher's answers are put in its cache
first (keyed exactly as the real teacher's would be), so no model is needed for the teacher."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clinreason.cli import app
from clinreason.errors import ConfigError
from clinreason.knowledge import fact_sheet
from clinreason.pipeline.config import parse_run_config
from clinreason.pipeline.run import run_pipeline
from clinreason.progress import Observer
from clinreason.records import load_cohort, make_splits
from clinreason.teacher import (
    Completion,
    Sampling,
    TeacherCache,
    build_messages,
    cache_key,
    load_exemplars,
    load_prompt,
)
from clinreason.teacher.prompts import options


def _answer(cohort: Any, record: Any, wrong: bool = False) -> str:
    """`wrong`: the rationale misstates the glucose value (a claim the checker finds wrong)."""
    letter, _, shown = next(o for o in options(cohort) if o[1] == record.labels[0])
    glucose = record.findings["glucose_2h"]
    return (
        f"1. Plasma glucose 2 hours into an oral glucose tolerance test: {glucose.value + 40 * wrong:g} mg/dL, "
        f"{glucose.status}.\nConclusion: this fits the diagnosis.\n\nFinal Diagnosis: ({letter}) {shown}"
    )


def _fill_cache(path: Path, cohort: Any, records: list[Any], wrong: frozenset[str] = frozenset()) -> None:
    sheet, shots = fact_sheet(cohort), load_exemplars(cohort)
    with TeacherCache(path) as cache:
        for name in ("kwon-rationalize", "diagnose"):
            template = load_prompt(name)
            for record in records:
                messages = build_messages(template, cohort, record, shots, sheet)
                key = cache_key("gguf", "smollm2-135m", template.id, messages, Sampling())
                cache.put(
                    key,
                    backend="gguf",
                    model="smollm2-135m",
                    prompt=template.id,
                    messages=messages,
                    sampling=Sampling(),
                    completion=Completion(text=_answer(cohort, record, record.id in wrong)),
                )


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path: Path, tiny_student_dir: Path) -> None:
    cohort = load_cohort("pima-diabetes")
    splits = make_splits(cohort, seed=0)
    chosen = (
        splits.apply(cohort, "train").records[:12]
        + splits.apply(cohort, "validation").records[:6]
        + splits.apply(cohort, "test").records[:8]
    )
    cache = tmp_path / "cache.sqlite"
    _fill_cache(cache, cohort, chosen)
    config = parse_run_config(
        {
            "name": "t",
            "out": str(tmp_path / "run"),
            "data": {"cohort": "pima-diabetes", "train_limit": 12, "validation_limit": 6, "test_limit": 8},
            "teacher": {"model": "smollm2-135m", "cache": str(cache), "use_seed": False},
            "student": {
                "model": str(tiny_student_dir),
                "train": {"max_steps": 4, "batch_size": 4, "learning_rate": 1e-3, "precision": "fp32"},
            },
            "evaluation": {"max_new_tokens": 16, "bootstrap": 50, "report_patients": 2},
        }
    )
    output = run_pipeline(config)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["models"]) == {
        "student:rationale_then_label",
        "student:label",
        "baseline:logistic_regression",
        "baseline:gradient_boosting",
        "teacher:few-shot",
    }
    assert metrics["n"] == 8 and metrics["train_patients"] == 12
    teacher = metrics["models"]["teacher:few-shot"]["diagnosis"]
    assert teacher["accuracy"] == 1.0  # the cached answers state the gold label
    assert metrics["teacher"]["runs"]["train"]["generated"] == 0  # everything came from the cache
    for name in ("student:label", "student:rationale_then_label", "baseline:logistic_regression"):
        fitted = metrics["models"][name]["fitted"]  # a decision rule fitted on the validation split
        assert fitted["rule"]["kind"] == "threshold" and fitted["rule"]["fitted_on"] == 6, name
    history = json.loads((tmp_path / "run" / "students" / "label" / "history.json").read_text())
    assert all(point["val_auroc"] is not None for point in history["state"]["history"])  # selected on AUROC
    assert history["state"]["selected_on"] == "auroc"
    assert len((tmp_path / "run" / "predictions" / "student-label-validation.jsonl").read_text().splitlines()) == 6
    chained = (tmp_path / "run" / "predictions" / "student-rationale_then_label.jsonl").read_text().splitlines()
    assert len(chained) == 8 and all('"text":' in line for line in chained)  # the student wrote something each time
    for name in (
        "config.yaml",
        "splits.json",
        "rationales/train.jsonl",
        "students/label/best/student.json",
        "predictions/student-label.jsonl",
        "report.html",
    ):
        assert (tmp_path / "run" / name).is_file(), name
    report = output.report.read_text()  # type: ignore[union-attr]
    assert "<img" in report and "Calibration" in report and "verified-claim rate" in report

    assert "Research use only" in report and "config sha256" in report and "Best macro-F1 on this split" in report

    again = run_pipeline(config)  # everything is reused
    assert again.metrics is not None and again.metrics.models.keys() == metrics["models"].keys()
    recorded = {k: v for k, v in metrics["timings_s"].items() if k != "evaluate_s"}
    assert {"teacher_s", "label_train_s", "label_predict_s", "label_predict_validation_s"} <= set(recorded)
    assert {k: again.metrics.timings_s[k] for k in recorded} == recorded  # reused stages keep their time

    # a run folder copied elsewhere continues there: nothing is trained or predicted again
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "run", moved)
    stamp = (moved / "students" / "label" / "best" / "student.json").stat().st_mtime_ns
    result = CliRunner().invoke(app, ["evaluate", str(moved)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert (moved / "students" / "label" / "best" / "student.json").stat().st_mtime_ns == stamp
    resumed = json.loads((moved / "metrics.json").read_text())
    assert {k: resumed["timings_s"][k] for k in recorded} == recorded
    for name in metrics["models"]:  # at 80 columns, every model name is printed whole
        assert any(line.strip().split(" ")[0] == name for line in result.output.splitlines()), name
    changed = config.model_copy(update={"name": "other"})
    with pytest.raises(ConfigError, match="made with a different config"):
        run_pipeline(changed)


@pytest.mark.slow
def test_a_run_of_label_students_asks_the_teacher_for_no_rationales(tmp_path: Path, tiny_student_dir: Path) -> None:
    config = parse_run_config(
        {
            "name": "labels",
            "out": str(tmp_path / "run"),
            "data": {"cohort": "pima-diabetes", "train_limit": 12, "validation_limit": 6, "test_limit": 8},
            # an empty cache and no seed: any teacher call would load and run a real model
            "teacher": {"model": "smollm2-135m", "cache": str(tmp_path / "empty.sqlite"), "use_seed": False},
            "student": {
                "model": str(tiny_student_dir),
                "objectives": ["label"],
                "train": {"max_steps": 2, "batch_size": 4, "precision": "fp32"},
            },
            "evaluation": {"teacher_accuracy": False, "teacher_references": False, "bootstrap": 20},
        }
    )
    output = run_pipeline(config)
    assert output.metrics is not None and output.metrics.train_patients == 12
    assert output.metrics.teacher.runs == {}
    assert not (tmp_path / "run" / "rationales").exists()
    assert "no teacher rationales needed" in output.report.read_text()  # type: ignore[union-attr]


class _Notes(Observer):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def phase(self, name: str, total: int | None = None) -> None:
        self.lines.append(name)

    def note(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.slow
def test_rationale_students_can_learn_from_the_verified_rationales_only(tmp_path: Path, tiny_student_dir: Path) -> None:
    cohort = load_cohort("pima-diabetes")
    splits = make_splits(cohort, seed=0)
    train, validation = splits.apply(cohort, "train").records[:12], splits.apply(cohort, "validation").records[:6]
    cache = tmp_path / "cache.sqlite"
    _fill_cache(cache, cohort, train + validation, wrong=frozenset(r.id for r in train[:4]))
    config = parse_run_config(
        {
            "name": "verified",
            "out": str(tmp_path / "run"),
            "data": {"cohort": "pima-diabetes", "train_limit": 12, "validation_limit": 6, "test_limit": 8},
            "teacher": {"model": "smollm2-135m", "cache": str(cache), "use_seed": False},
            "student": {
                "model": str(tiny_student_dir),
                "objectives": ["rationale_then_label"],
                "rationales": "verified",
                "train": {"max_steps": 1, "batch_size": 4, "precision": "fp32"},
            },
        }
    )
    notes = _Notes()
    run_pipeline(config, notes, until="train")
    assert "rationale students learn from the 8 of 12 kept training rationales whose every checked claim verifies" in (
        notes.lines
    )
    assert "student:rationale_then_label: training on 8 examples" in notes.lines  # the 4 misstated ones left out


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "expected"), [(None, "fp32"), ("auto", "auto")])
def test_rationales_are_written_in_the_evaluation_generation_precision(
    tmp_path: Path, tiny_student_dir: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: str
) -> None:
    """bf16 writing made a Pima student state another diagnosis than the one it scored for 15 of 80
    patients, so rationales are written in fp32 unless `evaluation.generation_precision` says otherwise."""
    import clinreason.pipeline.run as run_module

    cohort = load_cohort("pima-diabetes")
    splits = make_splits(cohort, seed=0)
    train, validation = splits.apply(cohort, "train").records[:8], splits.apply(cohort, "validation").records[:4]
    cache = tmp_path / "cache.sqlite"
    _fill_cache(cache, cohort, train + validation)
    seen: list[str] = []
    real = run_module.predict

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["precision"])
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "predict", spy)
    evaluation: dict[str, Any] = {
        "teacher_accuracy": False,
        "teacher_references": False,
        "bertscore": False,
        "baselines": False,
        "max_new_tokens": 16,
        "bootstrap": 0,
    }
    if setting is not None:
        evaluation["generation_precision"] = setting
    config = parse_run_config(
        {
            "name": "precision",
            "out": str(tmp_path / "run"),
            "data": {"cohort": "pima-diabetes", "train_limit": 8, "validation_limit": 4, "test_limit": 4},
            "teacher": {"model": "smollm2-135m", "cache": str(cache), "use_seed": False},
            "student": {
                "model": str(tiny_student_dir),
                "objectives": ["rationale_then_label"],
                "train": {"max_steps": 1, "batch_size": 4, "precision": "bf16", "select_on": "loss"},
            },
            "evaluation": evaluation,
        }
    )
    run_pipeline(config, _Notes())
    assert seen == [expected, expected]  # validation and test rationales; training precision is bf16


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"student.train.learning_rate: Input should be greater than 0"):
        parse_run_config({"student": {"train": {"learning_rate": 0}}})
    with pytest.raises(ConfigError, match=r"teacher.colour: Extra inputs are not permitted"):
        parse_run_config({"teacher": {"colour": "red"}})
    with pytest.raises(ConfigError, match="objectives must be a non-empty list"):
        parse_run_config({"student": {"objectives": ["label", "label"]}})


@pytest.mark.slow
def test_two_process_data_parallel_run(tmp_path: Path, tiny_student_dir: Path) -> None:
    """torchrun with 2 CPU processes (gloo): the same code trains data-parallel, as on many GPUs."""
    import subprocess
    import sys

    import yaml

    cohort = load_cohort("pima-diabetes")
    splits = make_splits(cohort, seed=0)
    chosen = (
        splits.apply(cohort, "train").records[:16]
        + splits.apply(cohort, "validation").records[:6]
        + splits.apply(cohort, "test").records[:8]
    )
    _fill_cache(tmp_path / "cache.sqlite", cohort, chosen)
    config = {
        "name": "ddp",
        "out": str(tmp_path / "run"),
        "data": {"cohort": "pima-diabetes", "train_limit": 16, "validation_limit": 6, "test_limit": 8},
        "teacher": {"model": "smollm2-135m", "cache": str(tmp_path / "cache.sqlite"), "use_seed": False},
        "student": {
            "model": str(tiny_student_dir),
            "objectives": ["label"],
            "train": {"epochs": 2, "batch_size": 2, "learning_rate": 1e-3, "precision": "fp32"},
        },
        "evaluation": {"max_new_tokens": 8, "bootstrap": 20, "report_patients": 1},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    torchrun = Path(sys.executable).parent / "torchrun"
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "clinreason", "run", str(tmp_path / "run.yaml")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((tmp_path / "run" / "students" / "label" / "history.json").read_text())
    # 16 examples, batch 2: 8 batches per epoch shared by 2 processes = 4 optimizer steps per epoch.
    assert history["state"]["global_step"] == 8
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_a_cohort_without_exemplars_gets_bootstrapped_ones_in_the_run_folder(tmp_path: Path) -> None:
    """The run's exemplar step: none bundled for the toy cohort, so the teacher writes candidates for
    training patients and the verified ones are saved in the run folder and used; zero_shot skips it."""
    from types import SimpleNamespace

    from clinreason.pipeline.run import _Context, _exemplars
    from clinreason.progress import Observer
    from doubles import ScriptedBackend, toy_cohort

    cohort = toy_cohort(6)  # glucose 100 + 20 i; even ids diabetes
    script: dict[str, list[str | Exception]] = {
        r.id: [
            f"1. The glucose of {r.findings['glucose'].value:g} mg/dL is this patient's value.\n"
            + ("Final Diagnosis: (A) Diabetes" if r.labels[0] == "diabetes" else "Final Diagnosis: (B) No diabetes")
        ]
        for r in cohort.records
    }
    config = parse_run_config({"out": str(tmp_path / "run"), "teacher": {"max_attempts": 1}})
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        session = SimpleNamespace(backend=ScriptedBackend(script), cache=cache, config=config.teacher)
        ctx = _Context(
            config=config,
            observer=Observer(),
            folder=tmp_path / "run",
            cohort=cohort,
            splits=make_splits(cohort, seed=0),
            train_records=cohort.records,
            val_records=[],
            test_records=[],
        )
        shots = _exemplars(ctx, session)  # type: ignore[arg-type]
        assert {s.label for s in shots} == {"diabetes", "no diabetes"}
        assert (tmp_path / "run" / "exemplars.yaml").is_file()
        zero = config.model_copy(update={"teacher": config.teacher.model_copy(update={"zero_shot": True})})
        ctx.config = zero
        assert _exemplars(ctx, session) == []  # type: ignore[arg-type]
