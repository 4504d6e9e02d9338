"""`clinreason benchmark` small: two cohorts, two seeds, a tiny student and a teacher answered from its
cache; the summary, the files, the resume and the refusal of a folder made with another config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clinreason.errors import ConfigError
from clinreason.evaluate.diagnosis import DiagnosisMetrics
from clinreason.evaluate.summary import ModelMetrics
from clinreason.pipeline import benchmark as benchmark_module
from clinreason.pipeline.benchmark import BenchmarkConfig, run_benchmark
from clinreason.pipeline.config import StudentSettings
from clinreason.pipeline.results import BenchmarkSummary
from doubles import fill_teacher_cache


def _config(tmp_path: Path, student: Path, cache: Path, **changes: Any) -> BenchmarkConfig:
    raw: dict[str, Any] = {
        "name": "b",
        "out": str(tmp_path / "bench"),
        "cohorts": ["pima-diabetes", "oasis-2"],
        "seeds": [0, 1],
        "data": {"train_limit": 10, "validation_limit": 6, "test_limit": 8},
        "teacher": {"model": "smollm2-135m", "cache": str(cache), "use_seed": False},
        "student": {
            "model": str(student),
            "value_tokens": ["label"],
            "train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "precision": "fp32"},
        },
        "evaluation": {"max_new_tokens": 12, "bootstrap": 0, "report_patients": 0, "teacher_references": False},
    }
    raw.update(changes)
    return BenchmarkConfig.model_validate(raw)


@pytest.mark.slow
def test_benchmark_runs_resumes_and_summarises(
    tmp_path: Path, tiny_student_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache.sqlite"
    fill_teacher_cache(cache, ["pima-diabetes", "oasis-2"])
    config = _config(tmp_path, tiny_student_dir, cache)
    summary = run_benchmark(config)

    assert summary.complete and [r.seed for r in summary.runs] == [0, 0, 1, 1]  # seeds are the outer loop
    assert all(r.teacher_generated == 0 and r.teacher_cached > 0 for r in summary.runs)  # all from the cache
    assert all(r.rationales == r.rationales_kept == 10 + 6 for r in summary.runs)  # train and validation
    assert [c.cohort for c in summary.results] == ["pima-diabetes", "oasis-2"]
    pima = summary.results[0]
    assert set(pima.models) == {
        "student:rationale_then_label",
        "student:label",
        "student:label+values",
        "baseline:logistic_regression",
        "baseline:gradient_boosting",
        "teacher:few-shot",
    }
    assert pima.seeds == [0, 1] and pima.n_test == 8
    teacher = pima.models["teacher:few-shot"].metrics["accuracy"]
    assert teacher.values == [1.0, 1.0] and teacher.sd == 0.0  # the cached answers state the gold label
    assert set(pima.best_baseline) == {"fitted_macro_f1", "macro_f1", "auroc"}
    students = {d.model for d in pima.versus_best_baseline}
    assert students == {"student:rationale_then_label", "student:label", "student:label+values"}
    for diff in pima.versus_best_baseline:
        reference = pima.models[diff.reference].metrics[diff.metric].values
        values = pima.models[diff.model].metrics[diff.metric].values
        expected = [v - r for v, r in zip(values, reference, strict=True) if v is not None and r is not None]
        assert diff.differences == pytest.approx(expected)
    assert {(d.model, d.reference) for d in pima.rationale_vs_label} == {
        ("student:rationale_then_label", "student:label")
    }
    # the two seeds are different splits of the same cohort
    first, second = (
        json.loads((tmp_path / "bench" / "pima-diabetes" / f"seed-{s}" / "splits.json").read_text()) for s in (0, 1)
    )
    assert first != second

    folder = tmp_path / "bench"
    for name in ("benchmark.json", "benchmark.md", "benchmark.png", "config.yaml"):
        assert (folder / name).is_file(), name
    assert BenchmarkSummary.model_validate_json((folder / "benchmark.json").read_text()) == summary
    markdown = (folder / "benchmark.md").read_text()
    assert "## oasis-2" in markdown and "Students minus the best baseline" in markdown and "4 of 4 runs" in markdown

    def fail(*_: Any, **__: Any) -> None:
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(benchmark_module, "run_pipeline", fail)
    again = run_benchmark(config)  # every run is read back
    assert all(r.read_back for r in again.runs)
    assert again.results == summary.results

    with pytest.raises(ConfigError, match="different config"):
        run_benchmark(_config(tmp_path, tiny_student_dir, cache, seeds=[0, 1, 2]))


def _model(confusion: list[list[int]], kind: str = "student") -> ModelMetrics:
    n = sum(map(sum, confusion))
    diagnosis = DiagnosisMetrics(
        n=n,
        labels=["a", "b"],
        accuracy=0.5,
        macro_f1=0.4,
        per_class_f1={},
        auroc=None,
        ece=None,
        confusion_matrix=confusion,
    )
    return ModelMetrics(kind=kind, diagnosis=diagnosis)


def test_one_class_answers_are_found() -> None:
    assert benchmark_module._one_class(_model([[5, 0], [3, 0]]), fitted=False)  # everyone answered "a"
    assert not benchmark_module._one_class(_model([[4, 1], [3, 0]]), fitted=False)
    assert not benchmark_module._one_class(_model([[5, 0], [0, 0]]), fitted=False)  # one gold class only
    assert not benchmark_module._one_class(_model([[5, 0], [3, 0]]), fitted=True)  # no fitted rule


def test_config_rejects_repeated_cohorts_and_gives_each_run_its_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not repeat"):
        BenchmarkConfig(cohorts=["pima-diabetes", "pima-diabetes"])
    config = BenchmarkConfig(out=tmp_path / "b", cohorts=["pima-diabetes", str(tmp_path / "mine.yaml")])
    run = config.run_config(str(tmp_path / "mine.yaml"), 2)
    assert run.folder == tmp_path / "b" / "mine" / "seed-2" and run.data.seed == 2
    assert config.run_config("pima-diabetes", 0).student == config.student
    # the default trains the demo's rationale student, the text label student and the gated numeric one
    assert [v for v in config.student.variants()] == [
        ("rationale_then_label", False),
        ("label", False),
        ("label", True),
    ]
    assert config.student.variant_names() == ["rationale_then_label", "label", "label+values+linear-lr-gated"]
    plain = config.student.model_copy(update={"value_linear": False, "value_linear_gate": False})
    assert plain.variant_names() == ["rationale_then_label", "label", "label+values"]
    linear = plain.model_copy(update={"value_linear": True, "value_linear_init": "zero"})
    assert linear.variant_names() == ["rationale_then_label", "label", "label+values+linear"]
    warm = linear.model_copy(update={"value_linear_init": "logistic"})
    assert warm.variant_names() == ["rationale_then_label", "label", "label+values+linear-lr"]
    numeric_only = config.student.model_copy(update={"text_twins": False})
    assert numeric_only.variant_names() == ["rationale_then_label", "label+values+linear-lr-gated"]
    with pytest.raises(ValueError, match="set value_linear: true"):
        StudentSettings(value_tokens="on", value_linear_gate=True)
    with pytest.raises(ValueError, match="text_twins: false applies to value_tokens given as a list"):
        StudentSettings(value_tokens="on", text_twins=False)
    lora = {"r": 4, "alpha": 8}
    with pytest.raises(ValueError, match="lora is set for the label student, which has value tokens"):
        StudentSettings(objectives=["label"], value_tokens="on", train={"lora": lora})
    # LoRA for the text rationale student beside a numeric label student is fine
    StudentSettings(value_tokens=["label"], text_twins=False, per_objective={"rationale_then_label": {"lora": lora}})
