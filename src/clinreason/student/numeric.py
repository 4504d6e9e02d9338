"""What a numeric-aware student reads besides the text: each finding's value as a learned embedding.

A 135M language model reading "171 mg/dL" sees three or four sub-word tokens, not a magnitude, and
learns thresholds on them slowly. The numeric-aware student also gets one soft token per numeric
finding (and age): the value standardised with the training patients' mean and spread, encoded with
periodic features (sin/cos at learned frequencies, Gorishniy et al. 2022), projected into the
language model's embedding space and put where a placeholder token stands in the prompt, the way the
multimodal student injects time-series tokens. The plan (which findings, their means and spreads) is
fitted on the training patients only and saved with the checkpoint, so new patients are encoded the
same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from clinreason.records.schema import PatientRecord
from clinreason.student.data import Example

__all__ = ["NUM_TOKEN", "NumericPlan", "add_value_tokens", "fit_numeric_plan", "numeric_block", "option_token_ids"]

NUM_TOKEN = "<|num|>"
AGE = "age"
SEX = "sex"
MISSING = "missing"
YES, NO = "yes", "no"
MIN_PRESENT = 0.5  # a finding becomes a value token when at least half the training patients have it


class NumericPlan(BaseModel):
    """The value tokens of a student: one per feature, in this order."""

    features: list[str] = Field(description="Finding names (and 'age'), in token order.")
    labels: list[str] = Field(description="Their plain names, shown before each token in the prompt.")
    means: list[float]
    scales: list[float] = Field(description="Standard deviations on the training patients (1 where constant).")
    option_tokens: list[int] = Field(
        default_factory=list,
        description="The option letters' token ids where a linear path from the values adds to the logits "
        "(wide and deep); empty: no linear path.",
    )
    lm_gate: bool = Field(
        default=False,
        description="With a linear path: the language model's preference between the options enters through a "
        "learned weight starting at 0 (the student starts as the path alone), and the language model also learns "
        "the answer on its own.",
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Categorical and yes/no findings (and 'sex') the linear path reads one-hot, as logistic "
        "regression does; they get no value token.",
    )
    levels: list[list[str]] = Field(
        default_factory=list, description="Each categorical feature's levels in the training patients ('missing' too)."
    )

    def values(self, record: PatientRecord) -> tuple[list[float], list[bool]]:
        """Standardised values (0 where missing) and which are present, then the categorical indicators
        (1 for the patient's level; present)."""
        values, observed = [], []
        for feature, mean, scale in zip(self.features, self.means, self.scales, strict=True):
            raw = _value(record, feature)
            observed.append(raw is not None)
            values.append(0.0 if raw is None else max(-8.0, min(8.0, (raw - mean) / scale)))
        for feature, levels in zip(self.categorical, self.levels, strict=True):
            level = _category(record, feature)
            values += [1.0 if level == known else 0.0 for known in levels]
        observed += [True] * (len(values) - len(observed))
        return values, observed


def _value(record: PatientRecord, feature: str) -> float | None:
    if feature == AGE:
        return record.age
    finding = record.findings.get(feature)
    value = finding.value if finding is not None else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _category(record: PatientRecord, feature: str) -> str:
    if feature == SEX:
        return record.sex or MISSING
    finding = record.findings.get(feature)
    value = finding.value if finding is not None else None
    if isinstance(value, bool):  # a yes/no finding (an OMOP drug or condition record): two levels
        return YES if value else NO
    return value if isinstance(value, str) else MISSING


def fit_numeric_plan(records: Sequence[PatientRecord], *, categorical: bool = False) -> NumericPlan:
    """Numeric findings present in at least half of `records` (the training patients), and age; with
    `categorical`, also the text-valued and yes/no findings and sex with two or more levels (for the linear
    path, so that it reads what logistic regression reads)."""
    if not records:
        raise ValueError("a numeric plan needs training patients")
    names: list[str] = []
    labels: dict[str, str] = {AGE: "Age"}
    for record in records:
        for name, finding in record.findings.items():
            if name not in labels:
                names.append(name)
                labels[name] = finding.label
    candidates = ([AGE] if any(r.age is not None for r in records) else []) + names
    features, means, scales = [], [], []
    for feature in candidates:
        present = [v for r in records if (v := _value(r, feature)) is not None]
        if len(present) < MIN_PRESENT * len(records):
            continue
        mean = sum(present) / len(present)
        spread = math.sqrt(sum((v - mean) ** 2 for v in present) / len(present))
        features.append(feature)
        means.append(mean)
        scales.append(spread if spread > 0 else 1.0)
    kinds: list[str] = []
    levels: list[list[str]] = []
    if categorical:
        for feature in [SEX, *names]:
            if feature in features:
                continue
            seen = sorted({_category(r, feature) for r in records})
            if len(seen) >= 2 and seen != [MISSING]:
                kinds.append(feature)
                levels.append(seen)
    return NumericPlan(
        features=features,
        labels=[labels[f] for f in features],
        means=means,
        scales=scales,
        categorical=kinds,
        levels=levels,
    )


def option_token_ids(tokenizer: Any, letters: Sequence[str]) -> list[int]:
    """The token that tells the options apart in `Final Diagnosis: (X)`, one per letter: where the
    scoring reads the diagnosis, and so where a linear path from the values must act."""
    from clinreason.student.data import FINAL, common_length

    answers = [list(tokenizer(f"{FINAL}({letter})", add_special_tokens=False)["input_ids"]) for letter in letters]
    common = common_length(answers)
    firsts = [a[common] if len(a) > common else -1 for a in answers]
    if -1 in firsts or len(set(firsts)) != len(firsts):
        raise ValueError("a linear path from the values needs option letters that are single distinct tokens")
    return firsts


def numeric_block(plan: NumericPlan) -> str:
    """The prompt lines that hold the value tokens, one finding a line."""
    lines = "\n".join(f"{label}: {NUM_TOKEN}" for label in plan.labels)
    return f"\n\nValues (standardised):\n{lines}"


def add_value_tokens(examples: Sequence[Example], records: Sequence[PatientRecord], plan: NumericPlan) -> list[Example]:
    """The same examples with the value-token block after the prompt and the values as a one-step series."""
    by_id = {record.id: record for record in records}
    block = numeric_block(plan)
    out = []
    for example in examples:
        values, observed = plan.values(by_id[example.record_id])
        out.append(dataclasses.replace(example, prompt=example.prompt + block, series=([values], [observed])))
    return out
