"""Which validation patients the training-time validator scores."""

from __future__ import annotations

from clinreason.student.validation import selection_records
from doubles import toy_cohort


def test_label_students_score_every_validation_patient() -> None:
    records = toy_cohort(20).records
    assert selection_records(records, "label", 4) == records


def test_rationale_students_score_a_seeded_stratified_subset() -> None:
    records = toy_cohort(20).records
    chosen = selection_records(records, "rationale_then_label", 6, seed=1)
    assert len(chosen) == 6 and len({r.id for r in chosen}) == 6
    assert {r.labels[0] for r in chosen} == {r.labels[0] for r in records}  # every class is scored
    assert chosen == selection_records(records, "rationale_then_label", 6, seed=1)
    assert selection_records(records, "rationale_then_label", None) == records
