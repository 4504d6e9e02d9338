"""All metrics of one model on one split, in the shape metrics.json stores them.

Diagnosis metrics for every model; for models that write rationales also the text metrics against
the teacher's rationales, label consistency (the rationale's stated diagnosis equals the predicted
one) and the verified-claim rate. 95% confidence intervals come from a seeded percentile bootstrap
over patients, because test splits of a few dozen patients give wide intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field
from sklearn.metrics import accuracy_score, f1_score

from clinreason.evaluate.claims import CHECKER_VERSION, check_claims, concluded_label, conclusion_conflict
from clinreason.evaluate.decision import DecisionRule, apply_rule
from clinreason.evaluate.diagnosis import DiagnosisMetrics, diagnosis_metrics
from clinreason.evaluate.text import TextMetrics, text_metrics
from clinreason.records.schema import PatientRecord


class Interval(BaseModel):
    low: float
    high: float


class RationaleMetrics(BaseModel):
    n: int = Field(description="Patients with a rationale.")
    label_consistency: float | None = Field(description="Stated diagnosis equals the predicted one.")
    claims_checked: int
    claims_supported: int
    claims_wrong: int
    claims_unsupported: int
    verified_claim_rate: float | None = Field(description="supported / checked, over all rationales.")
    hallucinations_per_rationale: float | None
    mean_words: float | None
    text: TextMetrics | None = Field(default=None, description="Against the teacher's rationales.")
    conclusion_conflicts: int | None = Field(
        default=None,
        description="Rationales whose concluding sentence argues against their stated label "
        "(evaluate.claims.conclusion_conflict); None when no stated labels were given.",
    )
    conclusion_agreement: float | None = Field(
        default=None,
        description="Of the rationales whose concluding sentence names exactly one class "
        "(evaluate.claims.concluded_label), the share naming the predicted one; None without classes or "
        "predictions, or when no conclusion names a class. Label consistency reads the Final Diagnosis line.",
    )
    conclusions_named: int | None = Field(
        default=None, description="Rationales whose concluding sentence names exactly one class."
    )
    checker_version: int | None = Field(
        default=None,
        description="evaluate.claims.CHECKER_VERSION of the checker that counted the claims (None: before "
        "version 2, which added grading words, ages and grades before a finding's name).",
    )


class FittedRuleMetrics(BaseModel):
    """The same model's diagnosis under the decision rule fitted on the validation split."""

    rule: DecisionRule
    diagnosis: DiagnosisMetrics
    accuracy_ci: Interval | None = None
    macro_f1_ci: Interval | None = None


class ModelMetrics(BaseModel):
    kind: str = Field(description="student, baseline or teacher.")
    diagnosis: DiagnosisMetrics = Field(description="Plain argmax of the model's probabilities (or its answer).")
    accuracy_ci: Interval | None = None
    macro_f1_ci: Interval | None = None
    fitted: FittedRuleMetrics | None = Field(default=None, description="Under the validation-fitted rule.")
    rationale: RationaleMetrics | None = None
    notes: list[str] = Field(default_factory=list)


def bootstrap_intervals(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str], resamples: int, seed: int = 0
) -> tuple[Interval, Interval] | None:
    if resamples <= 0 or len(gold) < 2:
        return None
    rng = np.random.default_rng(seed)
    gold_a, pred_a = np.asarray(gold), np.asarray(predicted)
    accuracy, macro = [], []
    for _ in range(resamples):
        idx = rng.integers(0, len(gold_a), len(gold_a))
        accuracy.append(accuracy_score(gold_a[idx], pred_a[idx]))
        macro.append(f1_score(gold_a[idx], pred_a[idx], labels=list(labels), average="macro", zero_division=0))

    def interval(values: list[float]) -> Interval:
        return Interval(low=float(np.percentile(values, 2.5)), high=float(np.percentile(values, 97.5)))

    return interval(accuracy), interval(macro)


def rationale_metrics(
    rationales: Mapping[str, str],
    records: Mapping[str, PatientRecord],
    *,
    predicted: Mapping[str, str] | None = None,
    stated: Mapping[str, str | None] | None = None,
    references: Mapping[str, str] | None = None,
    categories: dict[str, set[str]] | None = None,
    reference_text: str = "",
    bertscore: bool = True,
    classes: Mapping[str, str] | None = None,
) -> RationaleMetrics | None:
    """`classes` (label -> description, `Cohort.label_descriptions`) turns on `conclusion_agreement`."""
    ids = [i for i, text in rationales.items() if text and text.strip()]
    if not ids:
        return None
    supported = wrong = unsupported = 0
    for record_id in ids:
        report = check_claims(
            rationales[record_id], records[record_id], categories=categories, reference_text=reference_text
        )
        supported += report.count("supported")
        wrong += report.count("wrong")
        unsupported += report.count("unsupported")
    checked = supported + wrong + unsupported
    agreement = named = None
    if classes and predicted is not None:
        concluded = {i: c for i in ids if (c := concluded_label(rationales[i], classes)) is not None}
        named = len(concluded)
        agreement = sum(c == predicted.get(i) for i, c in concluded.items()) / named if named else None
    consistency = None
    if predicted is not None and stated is not None:
        consistency = sum(stated.get(i) == predicted.get(i) for i in ids) / len(ids)
    text = None
    if references:
        paired = [i for i in ids if references.get(i)]
        if paired:
            text = text_metrics([rationales[i] for i in paired], [references[i] for i in paired], bertscore=bertscore)
    return RationaleMetrics(
        n=len(ids),
        label_consistency=consistency,
        claims_checked=checked,
        claims_supported=supported,
        claims_wrong=wrong,
        claims_unsupported=unsupported,
        verified_claim_rate=supported / checked if checked else None,
        hallucinations_per_rationale=(wrong + unsupported) / len(ids),
        mean_words=float(np.mean([len(rationales[i].split()) for i in ids])),
        text=text,
        checker_version=CHECKER_VERSION,
        conclusion_agreement=agreement,
        conclusions_named=named,
        conclusion_conflicts=None
        if stated is None
        else sum(bool(conclusion_conflict(rationales[i], stated.get(i))) for i in ids),
    )


def model_metrics(
    kind: str,
    gold: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    probabilities: np.ndarray | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    rationale: RationaleMetrics | None = None,
    notes: Sequence[str] = (),
    rule: DecisionRule | None = None,
) -> ModelMetrics:
    """`rule` (fitted on validation probabilities) is applied to `probabilities` for the `fitted` metrics."""
    metrics = ModelMetrics(
        kind=kind,
        diagnosis=diagnosis_metrics(gold, predicted, labels, probabilities),
        rationale=rationale,
        notes=list(notes),
    )
    intervals = bootstrap_intervals(gold, predicted, labels, bootstrap, seed)
    if intervals is not None:
        metrics.accuracy_ci, metrics.macro_f1_ci = intervals
    if rule is not None and probabilities is not None:
        ruled = apply_rule(rule, probabilities)
        metrics.fitted = FittedRuleMetrics(rule=rule, diagnosis=diagnosis_metrics(gold, ruled, labels, probabilities))
        intervals = bootstrap_intervals(gold, ruled, labels, bootstrap, seed)
        if intervals is not None:
            metrics.fitted.accuracy_ci, metrics.fitted.macro_f1_ci = intervals
    return metrics


def verdict(models: Mapping[str, ModelMetrics]) -> list[str]:
    """Which model does best, in plain sentences, and whether the best student is above or below the best
    baseline by more than their 95% intervals allow (macro-F1: the headline metric when classes are
    imbalanced, where accuracy rewards always answering the majority class)."""
    if not models:
        return []
    by_f1 = max(models.items(), key=lambda item: item[1].diagnosis.macro_f1)
    lines = [f"Best macro-F1 on this split: {by_f1[0]} ({by_f1[1].diagnosis.macro_f1:.3f})."]
    scored = [(name, m.diagnosis.auroc) for name, m in models.items() if m.diagnosis.auroc is not None]
    if scored:
        name, auroc = max(scored, key=lambda item: item[1] or 0.0)
        lines.append(f"Best AUROC: {name} ({auroc:.3f}).")
    students = [(n, m) for n, m in models.items() if m.kind == "student"]
    baselines = [(n, m) for n, m in models.items() if m.kind == "baseline"]
    if students and baselines:
        (s_name, s), (b_name, b) = (
            max(group, key=lambda item: item[1].diagnosis.macro_f1) for group in (students, baselines)
        )
        gap = s.diagnosis.macro_f1 - b.diagnosis.macro_f1
        side = "above" if gap > 0 else "below"
        sentence = (
            f"The best student ({s_name}, macro-F1 {s.diagnosis.macro_f1:.3f}) is {abs(gap):.3f} {side} the best "
            f"baseline ({b_name}, {b.diagnosis.macro_f1:.3f})"
        )
        if s.macro_f1_ci is not None and b.macro_f1_ci is not None:
            overlap = s.macro_f1_ci.low <= b.macro_f1_ci.high and b.macro_f1_ci.low <= s.macro_f1_ci.high
            sentence += (
                "; their 95% intervals overlap, so this split does not show a difference"
                if overlap
                else "; their 95% intervals do not overlap"
            )
        lines.append(sentence + ".")
    fitted = [(n, m.fitted) for n, m in models.items() if m.fitted is not None]
    if fitted:
        name, best = max(fitted, key=lambda item: item[1].diagnosis.macro_f1)
        lines.append(
            f"With each model's decision rule fitted on the validation split, the best macro-F1 is {name}'s "
            f"({best.diagnosis.macro_f1:.3f}, accuracy {best.diagnosis.accuracy:.3f})."
        )
    return lines
