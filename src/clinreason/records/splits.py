"""Seeded, stratified train/validation/test splits that are saved once and reloaded identically.

Results are comparable only when every model sees the same patients in the same split, so a split is
a file, not a seed you hope reproduces: it stores the ids and a fingerprint of the cohort it came from,
and loading it against a different cohort is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator
from sklearn.model_selection import train_test_split

from clinreason.errors import DataError
from clinreason.records.schema import Cohort, PatientRecord

log = logging.getLogger(__name__)

SplitName = Literal["train", "validation", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "validation", "test")


def cohort_fingerprint(cohort: Cohort) -> str:
    """A hash of the patient ids and their labels: changes when the cohort a split refers to changes."""
    digest = hashlib.sha256()
    for record in sorted(cohort.records, key=lambda r: r.id):
        digest.update(record.id.encode())
        digest.update(b"\x1f" + "|".join(record.labels).encode() + b"\x1e")
    return digest.hexdigest()[:16]


class Splits(BaseModel):
    cohort: str
    seed: int
    fractions: tuple[float, float, float] = Field(description="train, validation, test")
    stratified: bool = True
    fingerprint: str
    train: list[str]
    validation: list[str]
    test: list[str]

    @model_validator(mode="after")
    def _disjoint(self) -> Splits:
        seen: set[str] = set()
        for name in SPLIT_NAMES:
            ids = getattr(self, name)
            overlap = seen.intersection(ids)
            if overlap or len(set(ids)) != len(ids):
                raise ValueError(f"split '{name}' repeats or shares ids, e.g. {sorted(overlap)[:3]}")
            seen.update(ids)
        return self

    def ids(self, name: SplitName) -> list[str]:
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split '{name}'; expected one of {SPLIT_NAMES}")
        return list(getattr(self, name))

    def apply(self, cohort: Cohort, name: SplitName) -> Cohort:
        """The records of split `name`, after checking that the split belongs to `cohort`."""
        self.check(cohort)
        return cohort.subset(self.ids(name))

    def check(self, cohort: Cohort) -> None:
        fingerprint = cohort_fingerprint(cohort)
        if fingerprint != self.fingerprint:
            raise DataError(
                f"these splits were made for cohort '{self.cohort}' with fingerprint {self.fingerprint}, "
                f"but cohort '{cohort.name}' has fingerprint {fingerprint}: its patients or labels changed. "
                "Make new splits (clinreason datasets split) instead of reusing these."
            )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # several processes may save at once
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Splits:
        path = Path(path)
        if not path.is_file():
            raise DataError("splits file not found", file=path)
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DataError(f"not a valid splits file: {exc}", file=path) from exc


def _strata(keys: list[str], min_count: int = 2) -> list[str] | None:
    """Stratum per item, with strata too small to split merged; None when stratifying is impossible."""
    counts = Counter(keys)
    merged = [key if counts[key] >= min_count else "__rare__" for key in keys]
    counts = Counter(merged)
    if 0 < counts.get("__rare__", 0) < min_count:
        largest = max((k for k in counts if k != "__rare__"), key=lambda k: (counts[k], k), default=None)
        if largest is None:
            return None
        merged = [largest if key == "__rare__" else key for key in merged]
    return merged if len(set(merged)) > 1 else None


def _split_two(ids: list[str], keys: list[str], second_fraction: float, seed: int) -> tuple[list[str], list[str], bool]:
    if second_fraction <= 0:
        return ids, [], True
    if second_fraction >= 1:
        return [], ids, True
    strata = _strata(keys)
    try:
        first, second = train_test_split(ids, test_size=second_fraction, random_state=seed, stratify=strata)
        return list(first), list(second), strata is not None
    except ValueError as exc:  # too few patients per class for the requested sizes
        log.warning("stratified split impossible (%s); splitting without stratification", exc)
        first, second = train_test_split(ids, test_size=second_fraction, random_state=seed)
        return list(first), list(second), False


def make_splits(cohort: Cohort, seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> Splits:
    """Stratified by label (by label combination for multi-label cohorts); ids keep cohort order."""
    train_f, val_f, test_f = fractions
    if min(fractions) < 0 or train_f <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be non-negative, train > 0, and sum to 1; got {fractions}")
    if len(cohort) < 3:
        raise DataError(f"cohort {cohort.name} has {len(cohort)} patients; at least 3 are needed to split")
    ids = [record.id for record in cohort.records]
    key_of = {record.id: "|".join(sorted(record.labels)) for record in cohort.records}
    rest_f = val_f + test_f
    train, rest, strat_a = _split_two(ids, [key_of[i] for i in ids], rest_f, seed)
    validation, test, strat_b = (
        _split_two(rest, [key_of[i] for i in rest], test_f / rest_f, seed) if rest else ([], [], True)
    )
    order = {record_id: index for index, record_id in enumerate(ids)}
    return Splits(
        cohort=cohort.name,
        seed=seed,
        fractions=fractions,
        stratified=strat_a and strat_b,
        fingerprint=cohort_fingerprint(cohort),
        train=sorted(train, key=order.__getitem__),
        validation=sorted(validation, key=order.__getitem__),
        test=sorted(test, key=order.__getitem__),
    )


def select_records(
    cohort: Cohort,
    split: SplitName | Literal["all"],
    splits_file: str | Path | None = None,
    seed: int = 0,
) -> list[PatientRecord]:
    """The patients of one split: from a saved splits file, else from splits made with `seed`
    (the same ones `datasets split --seed` saves); "all" is the whole cohort in its order."""
    if split == "all":
        return list(cohort.records)
    splits = Splits.load(splits_file) if splits_file else make_splits(cohort, seed=seed)
    return splits.apply(cohort, split).records
