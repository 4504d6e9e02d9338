"""What the pipeline and the ablation write as `metrics.json` / `ablation.json`, typed, with their tables.

These are the files a user compares runs by, so their shape is part of the interface: each field is
documented, and `RunMetrics.model_validate_json(path.read_text())` reads a run back.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from clinreason.evaluate.paired import PairedDifference, Spread, describe_difference, format_spread
from clinreason.evaluate.summary import ModelMetrics, RationaleMetrics, verdict
from clinreason.evaluate.tables import ResultTable, fmt
from clinreason.student.config import TrainConfig
from clinreason.teacher import RunSummary

__all__ = [
    "AblationSeeds",
    "AblationSummary",
    "BenchmarkRun",
    "BenchmarkSummary",
    "CohortSummary",
    "ModelSummary",
    "RunMetrics",
    "SourceScores",
    "TeacherCounts",
    "TeacherReport",
    "TeacherRow",
    "VariantScores",
]


class TeacherReport(BaseModel):
    backend: str
    model: str
    runs: dict[str, RunSummary] = Field(
        description="Per job (train, validation, test, diagnose): the teacher's counts."
    )
    reference_rationales: RationaleMetrics | None = Field(
        default=None, description="The teacher's rationales of the evaluation patients, written knowing the label."
    )


class RunMetrics(BaseModel):
    """`metrics.json` of a pipeline run."""

    cohort: str
    split: str = Field(description="The evaluation split.")
    n: int = Field(description="Patients evaluated.")
    labels: list[str]
    train_patients: int = Field(description="Training patients with a kept teacher rationale.")
    teacher: TeacherReport
    models: dict[str, ModelMetrics] = Field(description="student:<objective>, baseline:<name>, teacher:few-shot.")
    timings_s: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    clinreason_version: str | None = None
    created: str | None = Field(default=None, description="When these metrics were computed (UTC, ISO 8601).")
    config_sha256: str | None = Field(default=None, description="Of the run config without `out`.")

    def table(self) -> ResultTable:
        rows = []
        for name, m in self.models.items():
            d, r, ci = m.diagnosis, m.rationale, m.accuracy_ci
            rows.append(
                [
                    name,
                    fmt(d.accuracy),
                    f"{ci.low:.2f}-{ci.high:.2f}" if ci else "–",
                    fmt(d.macro_f1),
                    fmt(d.auroc),
                    fmt(d.ece),
                    fmt(m.fitted.diagnosis.accuracy if m.fitted else None),
                    fmt(m.fitted.diagnosis.macro_f1 if m.fitted else None),
                    fmt(r.verified_claim_rate if r else None),
                    fmt(r.label_consistency if r else None),
                ]
            )
        return ResultTable(
            title=f"{self.cohort}, {self.split} split (n = {self.n})",
            columns=[
                "model",
                "accuracy",
                "95% CI",
                "macro-F1",
                "AUROC",
                "ECE",
                "accuracy (fitted rule)",
                "macro-F1 (fitted rule)",
                "claims verified",
                "label consistent",
            ],
            rows=rows,
            notes=verdict(self.models),
        )


class VariantScores(BaseModel):
    micro_f1: float
    macro_f1: float
    micro_precision: float
    micro_recall: float
    subset_accuracy: float
    verified_claim_rate: float | None = Field(description="Supported / checked claims of the variant's rationales.")
    claims_checked: int
    wrong_claims_per_rationale: float | None = Field(
        default=None, description="Wrong or unsupported claims per test stay."
    )
    invented_counts: int | None = Field(
        default=None,
        description="Counts of abnormal readings ('higher than normal 7 times') that are not the stay's own, over "
        "all test stays (None: scored before this was measured).",
    )
    per_label_f1: dict[str, float]


class TeacherCounts(BaseModel):
    total: int
    kept: int
    rejected: int
    failed: int
    generated: int
    cached: int


class SourceScores(BaseModel):
    """The rationales the students learned from (rules or teacher), scored on the test stays."""

    stays: int
    verified_claim_rate: float | None
    claims_checked: int
    teacher_run: TeacherCounts | None = None


# The per-variant scores of an ablation that its tables show and its seeds summarise, and their columns.
ABLATION_METRICS = (
    "micro_f1",
    "macro_f1",
    "subset_accuracy",
    "verified_claim_rate",
    "wrong_claims_per_rationale",
    "invented_counts",
)
ABLATION_COLUMNS = [
    "variant",
    "micro-F1",
    "macro-F1",
    "subset accuracy",
    "verified-claim rate",
    "wrong claims / rationale",
    "invented counts",
]


class TeacherRow(BaseModel):
    """The LLM teacher whose rationales the 'full (LLM rationales)' row learned from (`teacher_row`)."""

    source: str = Field(description="'teacher <backend:model> (<prompt>)'.")
    teacher_run: TeacherCounts | None = Field(default=None, description="The teacher on the training stays.")
    left_out_without_rationale: int = Field(description="Training and validation stays it kept no rationale for.")
    rationales_on_test: SourceScores


class AblationSummary(BaseModel):
    """`ablation.json` of a ClinRaGen ablation."""

    cohort: str
    patients: int
    test_cohort: str | None = None
    train_stays: int
    validation_stays: int
    test: int = Field(description="Test stays.")
    seed: int
    student: str
    train: TrainConfig
    rationale_source: str = Field(description="'rules (reference_rationales)' or 'teacher <backend:model> (<prompt>)'.")
    teacher_run: TeacherCounts | None = Field(default=None, description="The teacher on the training stays.")
    left_out_without_rationale: int
    rationales_on_test: SourceScores
    teacher_row: TeacherRow | None = None
    variants: dict[str, VariantScores]
    seconds: float

    def table(self) -> ResultTable:
        rows = [
            [
                name,
                fmt(m.micro_f1),
                fmt(m.macro_f1),
                fmt(m.subset_accuracy),
                f"{fmt(m.verified_claim_rate)} ({m.claims_checked} claims)",
                fmt(m.wrong_claims_per_rationale, 2),
                "–" if m.invented_counts is None else str(m.invented_counts),
            ]
            for name, m in self.variants.items()
        ]
        sources = [(f"rationales learned from: {self.rationale_source}", self.rationales_on_test)]
        if self.teacher_row is not None:
            row = self.teacher_row
            sources.append((f"rationales the LLM row learned from: {row.source}", row.rationales_on_test))
        for label, source in sources:
            claims = f"{fmt(source.verified_claim_rate)} ({source.claims_checked} claims)"
            rows.append([label, "–", "–", "–", claims, "–", "–"])
        return ResultTable(
            title=f"Ablation on {self.cohort} ({self.patients} patients, test {self.test}), student {self.student}",
            columns=ABLATION_COLUMNS,
            rows=rows,
        )


class BenchmarkRun(BaseModel):
    """One (cohort, seed) pipeline run of a benchmark."""

    cohort: str
    seed: int
    folder: str
    n_test: int
    train_patients: int
    pipeline_minutes: float = Field(description="The run's recorded stage times, summed.")
    read_back: bool = Field(description="Finished earlier and read back from its folder.")
    teacher_generated: int = Field(description="New teacher generations in this run.")
    teacher_cached: int = Field(description="Teacher answers taken from the cache (earlier seeds, shipped seeds).")
    rationales: int = Field(default=0, description="Patients the teacher rationalized (train, validation, test).")
    rationales_kept: int = 0
    rationales_retried: int = Field(default=0, description="Patients that needed more than one attempt.")
    rationales_rejected: int = 0
    seconds: float = Field(description="Wall time in this benchmark call.")


class ModelSummary(BaseModel):
    kind: str = Field(description="student, baseline or teacher.")
    seeds: list[int] = Field(description="Seeds this model has results for.")
    metrics: dict[str, Spread] = Field(
        description="accuracy, macro_f1, auroc (argmax), fitted_accuracy, fitted_macro_f1 (validation-fitted "
        "rule), verified_claim_rate, wrong_claims_per_rationale, label_consistency."
    )
    one_class_seeds: list[int] = Field(description="Seeds where the argmax answer was one class for every patient.")
    one_class_fitted_seeds: list[int] = Field(description="The same under the fitted rule.")


class CohortSummary(BaseModel):
    cohort: str
    labels: list[str]
    seeds: list[int] = Field(description="Seeds with a finished run.")
    n_test: float = Field(description="Test patients per run (mean over seeds).")
    n_train: float = Field(description="Training patients per run (mean over seeds).")
    models: dict[str, ModelSummary]
    best_baseline: dict[str, str] = Field(description="Per compared metric, the baseline with the best mean.")
    versus_best_baseline: list[PairedDifference] = Field(description="Each student minus the best baseline.")
    rationale_vs_label: list[PairedDifference] = Field(
        description="Each rationale student minus the label student of the same kind (text or +values)."
    )


_METRIC_NAMES = {
    "fitted_macro_f1": "macro-F1 (fitted rule)",
    "macro_f1": "macro-F1 (argmax)",
    "auroc": "AUROC",
}


def _difference_rows(differences: list[PairedDifference]) -> list[list[str]]:
    return [
        [
            d.model,
            _METRIC_NAMES.get(d.metric, d.metric),
            d.reference,
            f"{d.mean:+.3f}",
            f"[{d.low:+.3f}, {d.high:+.3f}]" if d.low is not None and d.high is not None else "–",
            ", ".join(f"{x:+.3f}" for x in d.differences),
        ]
        for d in differences
    ]


class BenchmarkSummary(BaseModel):
    """`benchmark.json` of `clinreason benchmark`."""

    name: str
    cohorts: list[str]
    seeds: list[int]
    student: str
    teacher: str
    results: list[CohortSummary] = Field(description="Cohorts with at least one finished run.")
    runs: list[BenchmarkRun]
    complete: bool = Field(description="Every (cohort, seed) run finished.")
    machine: str
    created: str
    clinreason_version: str
    config_sha256: str

    def targets(self, cohort: CohortSummary, tolerance: float = 0.02) -> list[str]:
        """Issue 13's targets in plain sentences: the best student against the best baseline."""
        lines = []
        for metric in ("fitted_macro_f1", "auroc"):
            students = [
                (s.metrics[metric].mean, name)
                for name, s in cohort.models.items()
                if s.kind == "student" and metric in s.metrics and s.metrics[metric].mean is not None
            ]
            reference = cohort.best_baseline.get(metric)
            if not students or reference is None:
                continue
            value, name = max(students)
            base = cohort.models[reference].metrics[metric].mean or 0.0
            gap = (value or 0.0) - base
            verdict = (
                "above it" if gap > 0 else ("within 0.02 of it" if gap >= -tolerance else f"short of it by {-gap:.3f}")
            )
            lines.append(
                f"Best student on {_METRIC_NAMES[metric]}: {name} {value:.3f} vs {reference} {base:.3f} "
                f"(mean over {len(cohort.seeds)} seed(s)): {verdict}."
            )
        collapsed = [
            name
            for name, s in cohort.models.items()
            if s.kind == "student" and s.one_class_seeds and name.startswith("student:label")
        ]
        baselines_collapse = any(s.one_class_seeds for s in cohort.models.values() if s.kind == "baseline")
        if collapsed:
            lines.append(
                f"One class for every patient by argmax: {', '.join(collapsed)}"
                + (" (a baseline did too)." if baselines_collapse else " (no baseline did).")
            )
        return lines

    def markdown(self) -> str:
        done = len(self.runs)
        total = len(self.cohorts) * len(self.seeds)
        lines = [
            f"# Benchmark '{self.name}'",
            "",
            f"Student {self.student}; teacher {self.teacher}; seeds {', '.join(map(str, self.seeds))}; "
            f"{done} of {total} runs finished{'' if self.complete else ' (incomplete: run the command again)'}.",
            f"Machine: {self.machine}; computed {self.created}; clinreason {self.clinreason_version}; "
            f"config sha256 {self.config_sha256[:12]}.",
            "",
            "Cells: mean ± sd over seeds. 'Fitted rule': the decision rule fitted on each run's validation split. "
            "Paired differences: per seed on the same split; 95% interval from the corrected resampled t-test "
            "(Nadeau and Bengio 2003).",
            "",
        ]
        for cohort in self.results:
            table = ResultTable(
                title=f"## {cohort.cohort} (seeds {', '.join(map(str, cohort.seeds))}; about "
                f"{cohort.n_test:.0f} test and {cohort.n_train:.0f} training patients a run)",
                columns=[
                    "model",
                    "seeds",
                    "accuracy",
                    "macro-F1",
                    "AUROC",
                    "accuracy (fitted rule)",
                    "macro-F1 (fitted rule)",
                    "claims verified",
                    "wrong claims / rationale",
                    "label consistent",
                    "one class (argmax / fitted)",
                ],
                rows=[
                    [
                        name,
                        str(len(s.seeds)),
                        *(
                            format_spread(s.metrics.get(k))
                            for k in (
                                "accuracy",
                                "macro_f1",
                                "auroc",
                                "fitted_accuracy",
                                "fitted_macro_f1",
                                "verified_claim_rate",
                                "wrong_claims_per_rationale",
                                "label_consistency",
                            )
                        ),
                        f"{len(s.one_class_seeds)} / {len(s.one_class_fitted_seeds)}",
                    ]
                    for name, s in cohort.models.items()
                ],
                notes=self.targets(cohort),
            )
            lines.append(table.markdown())
            columns = ["model", "metric", "minus", "difference", "95% interval", "per seed"]
            if cohort.versus_best_baseline:
                lines.append(
                    ResultTable(
                        title="Students minus the best baseline",
                        columns=columns,
                        rows=_difference_rows(cohort.versus_best_baseline),
                    ).markdown()
                )
            if cohort.rationale_vs_label:
                lines.append(
                    ResultTable(
                        title="Rationale students minus label-only students",
                        columns=columns,
                        rows=_difference_rows(cohort.rationale_vs_label),
                    ).markdown()
                )
        lines.append(
            ResultTable(
                title="## Runs",
                columns=[
                    "cohort",
                    "seed",
                    "test",
                    "train",
                    "pipeline minutes",
                    "teacher new / cached",
                    "rationales kept / retried / rejected",
                    "folder",
                ],
                rows=[
                    [
                        r.cohort,
                        str(r.seed),
                        str(r.n_test),
                        str(r.train_patients),
                        f"{r.pipeline_minutes:.1f}",
                        f"{r.teacher_generated} / {r.teacher_cached}",
                        f"{r.rationales_kept} / {r.rationales_retried} / {r.rationales_rejected} of {r.rationales}"
                        if r.rationales
                        else "–",
                        r.folder,
                    ]
                    for r in self.runs
                ],
            ).markdown()
        )
        return "\n".join(lines)


class AblationSeeds(BaseModel):
    """`ablation-seeds.json`: the ablation over several seeds (a split of the same cohort each)."""

    seeds: list[int]
    folders: list[str]
    variants: dict[str, dict[str, Spread]] = Field(
        description="Per variant: micro_f1, macro_f1, subset_accuracy, verified_claim_rate, "
        "wrong_claims_per_rationale, invented_counts over the seeds."
    )
    differences: list[PairedDifference] = Field(
        description="Full minus joint without knowledge attention, and each faithfulness row and the LLM "
        "rationales row minus full."
    )
    seconds: float

    def table(self) -> ResultTable:
        rows = [[name, *(format_spread(scores[m]) for m in ABLATION_METRICS)] for name, scores in self.variants.items()]
        notes = [describe_difference(d) for d in self.differences]
        return ResultTable(
            title=f"Ablation over seeds {', '.join(map(str, self.seeds))} (mean ± sd)",
            columns=ABLATION_COLUMNS,
            rows=rows,
            notes=notes,
        )
