"""`clinreason benchmark`: every model on the same repeated splits of several real cohorts.

One pipeline run per (seed, cohort), in its own folder under the benchmark folder, with one config
shared by all but the cohort and the split seed; seeds are the outer loop, so an interrupted benchmark
already has whole seeds to show. Each run resumes as a pipeline run does, and a finished one is read
back, so the benchmark continues where it stopped. Teacher answers are reused across seeds through
the teacher's cache (a patient's prompt does not depend on the split) and the shipped seeds.

The summary gives, per cohort and model, the mean and standard deviation over seeds, the paired
difference of each student to the best classical baseline and of each rationale student to its
label-only twin, with a 95% interval from the corrected resampled t-test (`evaluate.paired`).
"""

from __future__ import annotations

import copy
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clinreason import __version__
from clinreason.errors import ConfigError
from clinreason.evaluate.figures import pyplot
from clinreason.evaluate.paired import PairedDifference, paired_difference, spread
from clinreason.evaluate.summary import ModelMetrics
from clinreason.pipeline.config import (
    DEMO_PER_OBJECTIVE,
    GATED_LINEAR_STUDENT,
    DataSettings,
    EvaluationSettings,
    RunConfig,
    StudentSettings,
    TeacherSettings,
)
from clinreason.pipeline.results import BenchmarkRun, BenchmarkSummary, CohortSummary, ModelSummary, RunMetrics
from clinreason.pipeline.run import run_pipeline
from clinreason.progress import Observer
from clinreason.run_folder import claim_folder, config_differences, config_hash, read_folder_config

__all__ = ["BenchmarkConfig", "run_benchmark", "summarise"]

DEFAULT_COHORTS = ("pima-diabetes", "oasis-2", "apoe-alzheimer")
# Metrics compared to the best baseline: the fitted decision rule (what a deployment applies), argmax, ranking.
COMPARED = ("fitted_macro_f1", "macro_f1", "auroc")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenchmarkData(_Section):
    """The pipeline's data settings, without the cohort and the seed (the benchmark varies those)."""

    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    train_limit: int | None = Field(default=None, ge=1)
    validation_limit: int | None = Field(default=None, ge=1)
    test_limit: int | None = Field(default=None, ge=1)


def _students() -> StudentSettings:
    return StudentSettings.model_validate(
        {"per_objective": copy.deepcopy(DEMO_PER_OBJECTIVE), **copy.deepcopy(GATED_LINEAR_STUDENT)}
    )


def _evaluation() -> EvaluationSettings:
    # reference rationales only feed the text metrics, which the benchmark does not compare
    return EvaluationSettings(teacher_references=False, bertscore=False, bootstrap=200, report_patients=2)


class BenchmarkConfig(_Section):
    name: str = "benchmark"
    out: Path | None = Field(default=None, description="Benchmark folder (default: runs/<name>).")
    cohorts: list[str] = Field(default_factory=lambda: list(DEFAULT_COHORTS), min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    data: BenchmarkData = Field(default_factory=BenchmarkData)
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    student: StudentSettings = Field(
        default_factory=_students,
        description="Default: the demo's rationale student, the text label student, and the demo's numeric-aware "
        "label student (linear path from the logistic regression, gated language model).",
    )
    evaluation: EvaluationSettings = Field(default_factory=_evaluation)

    @field_validator("cohorts", "seeds")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError(f"must not repeat, got {value}")
        return value

    @property
    def folder(self) -> Path:
        return self.out or Path("runs") / self.name

    def run_config(self, cohort: str, seed: int) -> RunConfig:
        """The pipeline config of one (cohort, seed) run, in its folder under the benchmark's."""
        return RunConfig(
            name=f"{self.name}-{_stem(cohort)}-seed{seed}",
            out=self.folder / _stem(cohort) / f"seed-{seed}",
            data=DataSettings(cohort=cohort, seed=seed, **self.data.model_dump()),
            teacher=self.teacher,
            student=self.student,
            evaluation=self.evaluation,
        )


def _stem(cohort: str) -> str:
    path = Path(cohort)
    return path.stem if path.suffix.lower() in {".yaml", ".yml", ".csv"} else cohort


def _finished(config: RunConfig) -> RunMetrics | None:
    path = config.folder / "metrics.json"
    if not path.is_file():
        return None
    try:
        metrics = RunMetrics.model_validate_json(path.read_text())
    except ValueError:
        return None  # a damaged metrics file: evaluate again (the finished steps are reused)
    try:  # a field added later with its default is not a difference (as for the run folder itself)
        same = not config_differences(read_folder_config(config.folder, RunConfig), config)
    except ConfigError:
        return None
    return metrics if same else None


def run_benchmark(config: BenchmarkConfig, observer: Observer | None = None) -> BenchmarkSummary:
    """Run (or continue) every (seed, cohort) pipeline run; writes benchmark.json, .md and .png after each."""
    observer = observer or Observer()
    folder = claim_folder(config.folder, config)
    results: dict[tuple[str, int], RunMetrics] = {}
    runs: list[BenchmarkRun] = []
    total = len(config.seeds) * len(config.cohorts)
    for seed in config.seeds:
        for cohort in config.cohorts:
            run_config = config.run_config(cohort, seed)
            metrics = _finished(run_config)
            started = time.perf_counter()
            if metrics is None:
                observer.note(f"benchmark run {len(runs) + 1} of {total}: {cohort}, seed {seed}")
                output = run_pipeline(run_config, observer.prefixed(f"{_stem(cohort)} seed {seed}: "))
                metrics = output.metrics
                reused = False
            else:
                reused = True
            assert metrics is not None  # an evaluating pipeline run always returns its metrics
            results[(cohort, seed)] = metrics
            runs.append(_run_entry(cohort, seed, run_config.folder, metrics, reused, time.perf_counter() - started))
            write_outputs(folder, summarise(config, results, runs))
    summary = summarise(config, results, runs)
    write_outputs(folder, summary)
    return summary


def _run_entry(cohort: str, seed: int, folder: Path, metrics: RunMetrics, reused: bool, seconds: float) -> BenchmarkRun:
    rationalized = [run for run in metrics.teacher.runs.values() if run.task == "rationalize"]
    return BenchmarkRun(
        cohort=cohort,
        seed=seed,
        folder=str(folder),
        n_test=metrics.n,
        train_patients=metrics.train_patients,
        pipeline_minutes=sum(metrics.timings_s.values()) / 60,
        read_back=reused,
        teacher_generated=sum(run.generated for run in metrics.teacher.runs.values()),
        teacher_cached=sum(run.cached for run in metrics.teacher.runs.values()),
        rationales=sum(run.total for run in rationalized),
        rationales_kept=sum(run.kept for run in rationalized),
        rationales_retried=sum(run.retried for run in rationalized),
        rationales_rejected=sum(run.rejected for run in rationalized),
        seconds=seconds,
    )


def _values(model: ModelMetrics | None) -> dict[str, float | None]:
    if model is None:
        return {}
    d, fitted, r = model.diagnosis, model.fitted, model.rationale
    return {
        "accuracy": d.accuracy,
        "macro_f1": d.macro_f1,
        "auroc": d.auroc,
        "fitted_accuracy": fitted.diagnosis.accuracy if fitted else None,
        "fitted_macro_f1": fitted.diagnosis.macro_f1 if fitted else None,
        "verified_claim_rate": r.verified_claim_rate if r else None,
        "wrong_claims_per_rationale": r.hallucinations_per_rationale if r else None,
        "label_consistency": r.label_consistency if r else None,
    }


def _one_class(model: ModelMetrics, fitted: bool) -> bool:
    """All patients got the same answer although the split holds several gold labels."""
    if fitted and model.fitted is None:
        return False
    diagnosis = model.fitted.diagnosis if fitted and model.fitted else model.diagnosis
    matrix = diagnosis.confusion_matrix
    gold = sum(1 for row in matrix if sum(row) > 0)
    answered = sum(1 for column in zip(*matrix, strict=True) if sum(column) > 0) if matrix else 0
    return gold > 1 and answered <= 1


def summarise(
    config: BenchmarkConfig, results: dict[tuple[str, int], RunMetrics], runs: list[BenchmarkRun]
) -> BenchmarkSummary:
    """Mean, spread and paired differences of the finished runs (seeds not yet run count as missing)."""
    cohorts: list[CohortSummary] = []
    for cohort in config.cohorts:
        done = [(seed, results[(cohort, seed)]) for seed in config.seeds if (cohort, seed) in results]
        if not done:
            continue
        names = list(dict.fromkeys(name for _, m in done for name in m.models))
        per_model: dict[str, dict[str, list[float | None]]] = {}
        models: dict[str, ModelSummary] = {}
        for name in names:
            rows = [_values(m.models.get(name)) for _, m in done]
            keys = list(dict.fromkeys(k for row in rows for k in row))
            per_model[name] = {k: [row.get(k) for row in rows] for k in keys}
            present = [(seed, m.models[name]) for seed, m in done if name in m.models]
            models[name] = ModelSummary(
                kind=present[0][1].kind,
                seeds=[seed for seed, _ in present],
                metrics={k: spread(v) for k, v in per_model[name].items()},
                one_class_seeds=[seed for seed, m in present if _one_class(m, fitted=False)],
                one_class_fitted_seeds=[seed for seed, m in present if _one_class(m, fitted=True)],
            )
        n_test = sum(m.n for _, m in done) / len(done)
        n_train = sum(m.train_patients for _, m in done) / len(done)
        ratio = n_test / n_train if n_train else 0.0
        baselines = [n for n in names if models[n].kind == "baseline"]
        students = [n for n in names if models[n].kind == "student"]
        best: dict[str, str] = {}
        versus: list[PairedDifference] = []
        for metric in COMPARED:
            scored = [
                (models[b].metrics[metric].mean, b) for b in baselines if models[b].metrics[metric].mean is not None
            ]
            if not scored:
                continue
            best[metric] = max(scored)[1]
            for student in students:
                diff = paired_difference(
                    student, best[metric], metric, per_model[student][metric], per_model[best[metric]][metric], ratio
                )
                if diff is not None:
                    versus.append(diff)
        twins: list[PairedDifference] = []
        for student in students:
            objective = student.removeprefix("student:")
            base, plus, kind = objective.partition("+")
            label_twin = "student:label" + plus + kind  # text, +values or +values+linear alike
            if base == "label" or label_twin not in per_model:
                continue
            for metric in COMPARED:
                diff = paired_difference(
                    student, label_twin, metric, per_model[student][metric], per_model[label_twin][metric], ratio
                )
                if diff is not None:
                    twins.append(diff)
        cohorts.append(
            CohortSummary(
                cohort=done[0][1].cohort,
                labels=done[0][1].labels,
                seeds=[seed for seed, _ in done],
                n_test=n_test,
                n_train=n_train,
                models=models,
                best_baseline=best,
                versus_best_baseline=versus,
                rationale_vs_label=twins,
            )
        )
    return BenchmarkSummary(
        name=config.name,
        cohorts=config.cohorts,
        seeds=config.seeds,
        student=config.student.model,
        teacher=f"{config.teacher.backend}:{config.teacher.model}",
        results=cohorts,
        runs=runs,
        complete=len(results) == len(config.cohorts) * len(config.seeds),
        machine=machine(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        clinreason_version=__version__,
        config_sha256=config_hash(config),
    )


def machine() -> str:
    """What the numbers were measured on, for the record."""
    import torch

    text = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def write_outputs(folder: Path, summary: BenchmarkSummary) -> None:
    (folder / "benchmark.json").write_text(summary.model_dump_json(indent=2) + "\n")
    (folder / "benchmark.md").write_text(summary.markdown())
    if summary.results:
        plot(summary, folder / "benchmark.png")


def plot(summary: BenchmarkSummary, path: Path) -> None:
    """Per cohort, each model's fitted-rule macro-F1 and AUROC: mean over seeds, bars one sd."""
    plt = pyplot()
    panels = summary.results
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False, sharey=True)
    for axis, cohort in zip(axes[0], panels, strict=True):
        names = list(cohort.models)
        for offset, (metric, marker, label) in enumerate(
            (("fitted_macro_f1", "o", "macro-F1 (fitted rule)"), ("auroc", "s", "AUROC"))
        ):
            xs, means, sds = [], [], []
            for index, name in enumerate(names):
                value = cohort.models[name].metrics.get(metric)
                if value is None or value.mean is None:
                    continue
                xs.append(index + (offset - 0.5) * 0.25)
                means.append(value.mean)
                sds.append(value.sd or 0.0)
            axis.errorbar(xs, means, yerr=sds, fmt=marker, capsize=3, label=label)
        axis.set_xticks(range(len(names)), [n.split(":", 1)[-1] for n in names], rotation=45, ha="right", fontsize=8)
        axis.set_title(f"{cohort.cohort} ({len(cohort.seeds)} seed(s))", fontsize=10)
        axis.set_ylim(0.0, 1.0)
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("mean over seeds (bars: 1 sd)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
