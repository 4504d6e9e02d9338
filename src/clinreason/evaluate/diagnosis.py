"""Diagnosis metrics from labels and class probabilities (scikit-learn underneath).

Every model in a comparison is scored by the same function on the same patients, so the numbers in
metrics.json are comparable row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

NO_ANSWER = "(no answer)"  # a model that gave no usable diagnosis for a patient: counted as wrong


class ReliabilityBin(BaseModel):
    lower: float
    upper: float
    count: int
    confidence: float | None
    accuracy: float | None


class DiagnosisMetrics(BaseModel):
    n: int
    labels: list[str]
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    auroc: float | None = Field(description="Binary: of the first label; multi-class: one-vs-rest macro.")
    ece: float | None = Field(description="Expected calibration error of the top-class probability (10 bins).")
    confusion_matrix: list[list[int]] = Field(description="Rows: gold label; columns: predicted label.")
    no_answer: int = Field(default=0, description="Patients without a usable prediction (counted as wrong).")
    reliability: list[ReliabilityBin] = Field(default_factory=list)


def expected_calibration_error(
    probabilities: np.ndarray, gold: np.ndarray, bins: int = 10
) -> tuple[float, list[ReliabilityBin]]:
    """ECE with equal-width bins over the top-class confidence: sum_b |B|/n * |acc(B) - conf(B)|."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == gold).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    table: list[ReliabilityBin] = []
    for index, (lower, upper) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        inside = (
            (confidence > lower) & (confidence <= upper) if index else (confidence >= lower) & (confidence <= upper)
        )
        count = int(inside.sum())
        if count:
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            ece += count / len(confidence) * gap
            table.append(
                ReliabilityBin(
                    lower=lower,
                    upper=upper,
                    count=count,
                    confidence=float(confidence[inside].mean()),
                    accuracy=float(correct[inside].mean()),
                )
            )
        else:
            table.append(ReliabilityBin(lower=lower, upper=upper, count=0, confidence=None, accuracy=None))
    return float(ece), table


def diagnosis_metrics(
    gold: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    probabilities: np.ndarray | Sequence[Sequence[float]] | None = None,
) -> DiagnosisMetrics:
    """`probabilities[i][j]` is P(labels[j]) for patient i; without them AUROC and ECE are None.
    A prediction may be NO_ANSWER: wrong for accuracy and F1, left out of the confusion matrix."""
    labels = list(labels)
    if len(gold) != len(predicted) or not gold:
        raise ValueError(f"need as many predictions as gold labels (got {len(predicted)} and {len(gold)})")
    unknown = sorted((set(gold) | set(predicted)) - set(labels) - {NO_ANSWER})
    if unknown:
        raise ValueError(f"labels {unknown} are not in the label set {labels}")
    per_class = f1_score(gold, predicted, labels=labels, average=None, zero_division=0)
    metrics = DiagnosisMetrics(
        n=len(gold),
        labels=labels,
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        per_class_f1={label: float(value) for label, value in zip(labels, per_class, strict=True)},
        auroc=None,
        ece=None,
        confusion_matrix=confusion_matrix(gold, predicted, labels=labels).tolist(),
        no_answer=sum(p == NO_ANSWER for p in predicted),
    )
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=float)
        if probs.shape != (len(gold), len(labels)):
            raise ValueError(f"probabilities have shape {probs.shape}, expected {(len(gold), len(labels))}")
        gold_index = np.array([labels.index(g) for g in gold])
        present = set(gold_index.tolist())
        if len(present) > 1:
            if len(labels) == 2:
                metrics.auroc = float(roc_auc_score(gold_index == 0, probs[:, 0]))
            elif len(present) == len(labels):
                metrics.auroc = float(
                    roc_auc_score(gold_index, probs, multi_class="ovr", labels=list(range(len(labels))))
                )
        metrics.ece, metrics.reliability = expected_calibration_error(probs, gold_index)
    return metrics
