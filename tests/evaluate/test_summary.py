from __future__ import annotations

import pytest

from clinreason.evaluate.summary import bootstrap_intervals, model_metrics, rationale_metrics
from clinreason.records import Finding, PatientRecord, ReferenceRange


def _record(record_id: str, glucose: float) -> PatientRecord:
    finding = Finding(name="glucose", label="glucose", value=glucose, unit="mg/dL", normal=ReferenceRange(high=139))
    return PatientRecord(id=record_id, labels=["x"], findings={"glucose": finding})


def test_rationale_metrics_hand_computed() -> None:
    records = {"a": _record("a", 180), "b": _record("b", 90), "c": _record("c", 100)}
    rationales = {
        "a": "Glucose: 180 mg/dL, high.",  # 2 supported claims (value, status)
        "b": "Glucose: 95 mg/dL, normal.",  # value wrong, status supported
        "c": "",  # no rationale: left out
    }
    m = rationale_metrics(
        rationales,
        records,
        predicted={"a": "x", "b": "y", "c": "x"},
        stated={"a": "x", "b": "x", "c": None},
        bertscore=False,
    )
    assert m is not None and m.n == 2
    assert (m.claims_checked, m.claims_supported, m.claims_wrong, m.claims_unsupported) == (4, 3, 1, 0)
    assert m.verified_claim_rate == pytest.approx(0.75)
    assert m.hallucinations_per_rationale == pytest.approx(0.5)
    assert m.label_consistency == pytest.approx(0.5)  # a agrees, b states x but predicted y
    assert m.mean_words == pytest.approx(4.0)
    assert m.text is None


def test_bootstrap_interval_contains_the_estimate() -> None:
    gold = ["a"] * 30 + ["b"] * 30
    predicted = ["a"] * 24 + ["b"] * 6 + ["b"] * 24 + ["a"] * 6
    metrics = model_metrics("baseline", gold, predicted, ["a", "b"], bootstrap=300)
    assert metrics.diagnosis.accuracy == pytest.approx(0.8)
    assert metrics.accuracy_ci is not None and metrics.accuracy_ci.low < 0.8 < metrics.accuracy_ci.high
    assert bootstrap_intervals(gold, predicted, ["a", "b"], 0) is None
    again = model_metrics("baseline", gold, predicted, ["a", "b"], bootstrap=300)
    assert again.accuracy_ci == metrics.accuracy_ci  # seeded


def test_the_fitted_rule_is_applied_to_the_test_probabilities_beside_argmax() -> None:
    """Argmax calls everyone "a"; the validation-fitted threshold 0.25 on P(b) recovers the two b's."""
    import numpy as np

    from clinreason.evaluate.decision import DecisionRule
    from clinreason.evaluate.report import diagnosis_table

    gold = ["a", "a", "b", "b"]
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    rule = DecisionRule(kind="threshold", labels=["a", "b"], positive="b", threshold=0.25, fitted_on=10)
    metrics = model_metrics("student", gold, ["a"] * 4, ["a", "b"], probabilities, bootstrap=20, rule=rule)
    assert metrics.diagnosis.accuracy == 0.5 and metrics.fitted is not None
    assert metrics.fitted.diagnosis.accuracy == 1.0 and metrics.fitted.diagnosis.macro_f1 == 1.0
    assert metrics.fitted.macro_f1_ci is not None
    table = diagnosis_table({"student:label": metrics})
    assert "P(b) &gt;= 0.250 (fitted on 10 validation patients)" in table
