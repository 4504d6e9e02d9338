"""The decision rule fitted on validation probabilities, on examples small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from clinreason.evaluate.decision import apply_rule, fit_decision_rule

LABELS = ["healthy", "sick"]


def _binary(positive: list[float]) -> np.ndarray:
    p = np.array(positive)
    return np.stack([1 - p, p], axis=1)


def test_threshold_by_hand() -> None:
    """P(sick) = .10 .20 .30 .40 .60 for healthy x3, sick x2 (.30 and .40 are the sick ones).

    The cut between .20 and .30 (0.25) calls .30 .40 .60 sick: healthy F1 = 2*2/(2+3) = 0.8, sick F1 =
    2*2/(3+2) = 0.8, macro 0.8. The other cuts: 0.15 gives 0.5 / 0.667 (0.583), 0.35 gives 0.667 / 0.5
    (0.583), 0.5 (argmax) gives 0.571 / 0 (0.286), below all gives 0 / 0.571 (0.286): 0.25 wins alone."""
    gold = ["healthy", "healthy", "sick", "sick", "healthy"]
    rule = fit_decision_rule(gold, _binary([0.1, 0.2, 0.3, 0.4, 0.6]), LABELS)
    assert rule.kind == "threshold" and rule.positive == "sick"
    assert rule.threshold == pytest.approx(0.25)
    assert rule.validation_macro_f1 == pytest.approx(0.8)
    assert apply_rule(rule, _binary([0.24, 0.26, 0.9])) == ["healthy", "sick", "sick"]


def test_ties_keep_the_threshold_nearest_one_half() -> None:
    """Perfectly separable: every cut between .2 and .8 gives macro-F1 1; the one nearest 0.5 wins."""
    rule = fit_decision_rule(["healthy", "sick"], _binary([0.2, 0.8]), LABELS)
    assert rule.threshold == pytest.approx(0.5) and rule.validation_macro_f1 == pytest.approx(1.0)


def test_a_collapsed_model_gets_its_minority_back() -> None:
    """All probabilities below 0.5 (argmax: everyone healthy) but ranked right: the rule finds the sick."""
    gold = ["healthy"] * 6 + ["sick"] * 3
    probabilities = _binary([0.05, 0.1, 0.12, 0.15, 0.2, 0.22, 0.3, 0.35, 0.4])
    rule = fit_decision_rule(gold, probabilities, LABELS)
    assert apply_rule(rule, probabilities) == gold
    assert set(apply_rule(rule.model_copy(update={"kind": "argmax"}), probabilities)) == {"healthy"}


def test_prior_correction_for_three_classes_by_hand() -> None:
    """Mean validation probabilities (.6, .3, .1) give weights (1/.6, 1/.3, 1/.1): a row (.5, .3, .2) becomes
    (.83, 1.0, 2.0), so the rare third class wins where argmax said the first."""
    labels = ["a", "b", "c"]
    probabilities = np.array([[0.7, 0.25, 0.05], [0.6, 0.35, 0.05], [0.5, 0.3, 0.2]])
    rule = fit_decision_rule(["a", "b", "c"], probabilities, labels)
    assert rule.kind == "prior_correction"
    assert rule.class_weights == pytest.approx([1 / 0.6, 1 / 0.3, 1 / 0.1])
    assert apply_rule(rule, np.array([[0.5, 0.3, 0.2]])) == ["c"]


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one probability row per patient"):
        fit_decision_rule(["healthy"], _binary([0.1, 0.2]), LABELS)


@pytest.mark.parametrize("seed", range(6))
def test_the_threshold_is_the_best_cut_found_by_trying_every_one(seed: int) -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    scores = np.round(rng.random(n), 1 if seed % 2 else 3)  # coarse scores: many ties
    gold = [LABELS[int(rng.random() < s)] for s in scores]
    rule = fit_decision_rule(gold, _binary(list(scores)), LABELS)
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1e-9], (values[:-1] + values[1:]) / 2]) if len(values) > 1 else values
    tried = [
        (f1_score(gold, [LABELS[int(s >= c)] for s in scores], labels=LABELS, average="macro", zero_division=0), c)
        for c in cuts
    ]
    best = max(round(f, 12) for f, _ in tried)
    nearest = min((abs(c - 0.5), c) for f, c in tried if round(f, 12) == best)[1]
    assert rule.threshold == pytest.approx(nearest)
    assert rule.validation_macro_f1 == pytest.approx(best)
