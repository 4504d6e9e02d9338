from __future__ import annotations

import pytest

from clinreason.evaluate.diagnosis import diagnosis_metrics, expected_calibration_error

LABELS = ["a", "b", "c"]


def test_hand_computed_multiclass_metrics() -> None:
    m = diagnosis_metrics(["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"], LABELS)
    assert m.accuracy == pytest.approx(0.6)
    assert m.per_class_f1 == pytest.approx({"a": 0.5, "b": 0.8, "c": 0.0})
    assert m.macro_f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m.confusion_matrix == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m.auroc is None and m.ece is None


def test_binary_auroc_is_for_the_first_label() -> None:
    gold = ["a", "a", "b", "b"]
    probs = [[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]]
    m = diagnosis_metrics(gold, ["a", "b", "a", "b"], ["a", "b"], probs)
    # positives (a) score 0.9 and 0.4, negatives 0.6 and 0.2: 3 of 4 pairs ordered correctly
    assert m.auroc == pytest.approx(0.75)


def test_ece_hand_computed() -> None:
    import numpy as np

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.45, 0.55]])
    gold = np.array([0, 1, 0, 1])  # correct, wrong, correct, correct
    ece, bins = expected_calibration_error(probs, gold)
    # bins (0.8,0.9]: conf .9 acc 1; (0.7,0.8]: conf .8 acc 0; (0.5,0.6]: conf .575 acc 1
    assert ece == pytest.approx(0.25 * 0.1 + 0.25 * 0.8 + 0.5 * 0.425)
    assert sum(b.count for b in bins) == 4 and len(bins) == 10


def test_perfect_calibration_has_zero_ece() -> None:
    import numpy as np

    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probs, np.array([0, 1]))[0] == pytest.approx(0.0)


def test_multiclass_auroc_and_errors() -> None:
    probs = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]
    m = diagnosis_metrics(["a", "b", "c"], ["a", "b", "c"], LABELS, probs)
    assert m.auroc == pytest.approx(1.0) and m.accuracy == 1.0 and m.ece == pytest.approx(0.2)
    with pytest.raises(ValueError, match="not in the label set"):
        diagnosis_metrics(["a"], ["z"], LABELS)
    with pytest.raises(ValueError, match="shape"):
        diagnosis_metrics(["a"], ["a"], LABELS, [[1.0, 0.0]])


def test_no_answer_counts_as_wrong() -> None:
    from clinreason.evaluate.diagnosis import NO_ANSWER

    m = diagnosis_metrics(["a", "b", "b", "a"], ["a", NO_ANSWER, "b", "b"], ["a", "b"])
    assert m.accuracy == 0.5 and m.no_answer == 1
    assert m.confusion_matrix == [[1, 1], [0, 1]]
    # a: TP 1, FN 1, FP 0 -> F1 2/3; b: TP 1, FP 1, FN 1 -> F1 1/2
    assert m.per_class_f1 == pytest.approx({"a": 2 / 3, "b": 0.5})
