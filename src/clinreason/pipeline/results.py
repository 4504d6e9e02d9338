"""What the pipeline and the ablation write as `metrics.json` / `ablation.json`, typed, with their tables.

These are the files a user compares runs by, so their shape is part of the interface: each field is
documented, and `RunMetrics.model_validate_json(path.read_text())` reads a run back.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from clinreason.evaluate.summary import ModelMetrics, RationaleMetrics, verdict
from clinreason.evaluate.tables import ResultTable, fmt
from clinreason.student.config import TrainConfig
from clinreason.teacher import RunSummary

__all__ = ["AblationSummary", "RunMetrics", "SourceScores", "TeacherCounts", "TeacherReport", "VariantScores"]


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
            ]
            for name, m in self.variants.items()
        ]
        source = self.rationales_on_test
        rows.append(
            [
                f"rationales learned from: {self.rationale_source}",
                "–",
                "–",
                "–",
                f"{fmt(source.verified_claim_rate)} ({source.claims_checked} claims)",
            ]
        )
        return ResultTable(
            title=f"Ablation on {self.cohort} ({self.patients} patients, test {self.test}), student {self.student}",
            columns=["variant", "micro-F1", "macro-F1", "subset accuracy", "verified-claim rate"],
            rows=rows,
        )
