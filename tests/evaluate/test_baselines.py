from __future__ import annotations

import pytest

from clinreason.evaluate.baselines import feature_frame, fit_predict_baseline
from clinreason.records import load_cohort, make_splits


def test_feature_frame_types() -> None:
    cohort = load_cohort("heart-disease")
    frame = feature_frame(cohort.records[:50])
    assert frame["cholesterol"].dtype.kind == "f" and frame["high_fasting_glucose"].dtype.kind == "f"
    assert frame["chest_pain"].dtype == object and "missing" not in set(frame["sex"])


@pytest.mark.parametrize("name", ["logistic_regression", "gradient_boosting"])
def test_baselines_learn_breast_cytology(name: str) -> None:
    cohort = load_cohort("breast-cytology")
    splits = make_splits(cohort, seed=0)
    train, test = splits.apply(cohort, "train").records, splits.apply(cohort, "test").records
    predicted, probabilities = fit_predict_baseline(name, train, test, cohort.labels)
    accuracy = sum(p == r.label for p, r in zip(predicted, test, strict=True)) / len(test)
    assert accuracy > 0.9  # a well-known, nearly separable data set
    assert probabilities.shape == (len(test), 2)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-9
