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
