"""Diagnosis metrics on the validation split during training, for model selection and early stopping.

The validation loss averages over every answer token, most of them formatting that is learnt in the
first steps, so it hardly moves with the one token that decides the diagnosis. A validator scores the
validation patients the way `predict` scores test patients (for rationale objectives, after a
generated rationale) and returns AUROC and macro-F1, which is what a clinic judges.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from clinreason.records.schema import Cohort, PatientRecord
from clinreason.student.config import Precision
from clinreason.student.data import Objective
from clinreason.student.model import Student

__all__ = ["ValidationScore", "Validator", "diagnosis_validator", "selection_records"]


class ValidationScore(BaseModel):
    patients: int
    auroc: float | None
    macro_f1: float | None
    accuracy: float | None


Validator = Callable[[Student], ValidationScore]


def selection_records(
    records: Sequence[PatientRecord], objective: Objective, limit: int | None, seed: int = 0
) -> list[PatientRecord]:
    """The validation patients a validator scores: all for `label`; for objectives that generate a
    rationale first, a seeded subset of `limit` that keeps every class (each class's patients in a
    seeded order, taken in turn)."""
    if objective == "label" or limit is None or limit >= len(records):
        return list(records)
    by_class: dict[str, list[PatientRecord]] = {}
    for record in records:
        by_class.setdefault(record.labels[0], []).append(record)
    rng = random.Random(seed)
    for members in by_class.values():
        rng.shuffle(members)
    share = {label: len(members) / len(records) for label, members in by_class.items()}
    chosen: list[PatientRecord] = []
    for label, members in sorted(by_class.items()):
        chosen += members[: max(1, round(share[label] * limit))]
    return chosen[:limit] if len(chosen) > limit else chosen


def diagnosis_validator(
    cohort: Cohort,
    records: Sequence[PatientRecord],
    objective: Objective,
    *,
    limit: int | None = 24,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    precision: Precision = "auto",
    seed: int = 0,
) -> Validator:
    """A function that scores `records` (see `selection_records`) with the model being trained."""
    from clinreason.evaluate.diagnosis import diagnosis_metrics
    from clinreason.student.predict import predict

    chosen = selection_records(records, objective, limit, seed)
    labels = list(cohort.labels)

    def validate(student: Student) -> ValidationScore:
        predictions = predict(
            student,
            cohort,
            chosen,
            objective,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            precision=precision,
        )
        gold = [p.gold[0] for p in predictions]
        metrics = diagnosis_metrics(
            gold,
            [p.predicted for p in predictions],
            labels,
            [[p.probabilities[label] for label in labels] for p in predictions],
        )
        return ValidationScore(
            patients=len(predictions), auroc=metrics.auroc, macro_f1=metrics.macro_f1, accuracy=metrics.accuracy
        )

    return validate
