"""Decision rules fitted on the validation split: how a model's class probabilities become a diagnosis.

A model can rank patients well and still answer the majority class for everyone (argmax on
probabilities that lean towards the prior). The rule is fitted once on validation probabilities and
applied unchanged to the test split, the same way for every model (students, baselines), so the
comparison stays fair; reports show the fitted rule next to plain argmax.

- two classes: a threshold on the probability of the second (positive) class, chosen to maximise
  validation macro-F1 (ties: the threshold nearest 0.5);
- more classes: class-prior correction, each class's probability divided by its mean validation
  probability (no parameter to overfit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from sklearn.metrics import f1_score

__all__ = ["DecisionRule", "apply_rule", "fit_decision_rule"]


class DecisionRule(BaseModel):
    kind: Literal["argmax", "threshold", "prior_correction"]
    labels: list[str]
    positive: str | None = Field(default=None, description="threshold: the class whose probability is compared.")
    threshold: float | None = Field(default=None, description="threshold: predict `positive` at or above it.")
    class_weights: list[float] | None = Field(default=None, description="prior_correction: per-class multipliers.")
    validation_macro_f1: float | None = Field(default=None, description="Macro-F1 of the rule on its fitting data.")
    fitted_on: int = Field(default=0, description="Validation patients it was fitted on.")

    def describe(self) -> str:
        if self.kind == "threshold":
            return f"P({self.positive}) >= {self.threshold:.3f} (fitted on {self.fitted_on} validation patients)"
        if self.kind == "prior_correction":
            return f"class-prior correction (fitted on {self.fitted_on} validation patients)"
        return "argmax"


def apply_rule(rule: DecisionRule, probabilities: np.ndarray) -> list[str]:
    """Labels for rows of `probabilities` (columns in `rule.labels` order)."""
    probabilities = np.asarray(probabilities, dtype=float)
    if rule.kind == "threshold":
        column = rule.labels.index(str(rule.positive))
        other = 1 - column
        return [
            rule.labels[column] if p >= float(rule.threshold or 0.5) else rule.labels[other]
            for p in probabilities[:, column]
        ]
    if rule.kind == "prior_correction":
        probabilities = probabilities * np.asarray(rule.class_weights)
    return [rule.labels[int(i)] for i in probabilities.argmax(axis=1)]


def fit_decision_rule(gold: Sequence[str], probabilities: np.ndarray, labels: Sequence[str]) -> DecisionRule:
    """The rule that `apply_rule` uses on the test split, fitted on validation `gold` and `probabilities`."""
    probabilities = np.asarray(probabilities, dtype=float)
    labels = list(labels)
    if len(gold) == 0 or probabilities.shape != (len(gold), len(labels)):
        raise ValueError(f"need one probability row per patient and one column per label ({len(labels)})")
    if len(labels) == 2:
        return _fit_threshold(list(gold), probabilities, labels)
    mean = probabilities.mean(axis=0)
    weights = [1.0 / m if m > 0 else 1.0 for m in mean]
    rule = DecisionRule(kind="prior_correction", labels=labels, class_weights=weights, fitted_on=len(gold))
    rule.validation_macro_f1 = _macro_f1(gold, apply_rule(rule, probabilities), labels)
    return rule


def _fit_threshold(gold: list[str], probabilities: np.ndarray, labels: list[str]) -> DecisionRule:
    positive = probabilities[:, 1]
    values = np.unique(positive)
    # every distinct cut: midpoints between neighbouring probabilities, and below the smallest one
    cuts = np.concatenate([[values[0] - 1e-9], (values[:-1] + values[1:]) / 2]) if len(values) > 1 else values
    # the confusion counts of every cut at once (sorted scores): O(n log n), not one F1 per cut
    is_positive = np.array([g == labels[1] for g in gold])
    scores_pos, scores_neg = np.sort(positive[is_positive]), np.sort(positive[~is_positive])
    tp = len(scores_pos) - np.searchsorted(scores_pos, cuts, side="left")
    fp = len(scores_neg) - np.searchsorted(scores_neg, cuts, side="left")
    fn, tn = len(scores_pos) - tp, len(scores_neg) - fp
    macro = (_f1(tp, fp, fn) + _f1(tn, fn, fp)) / 2
    # best macro-F1; among equals (to 12 digits) the cut nearest 0.5; then the lowest cut
    order = np.lexsort((cuts, np.abs(cuts - 0.5), -np.round(macro, 12)))
    best = int(order[0])
    return DecisionRule(
        kind="threshold",
        labels=labels,
        positive=labels[1],
        threshold=float(cuts[best]),
        validation_macro_f1=float(macro[best]),
        fitted_on=len(gold),
    )


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 of one class per cut; 0 where it is undefined (no such patients predicted or present)."""
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)


def _macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    return float(f1_score(gold, predicted, labels=list(labels), average="macro", zero_division=0))
